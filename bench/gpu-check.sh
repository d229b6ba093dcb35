#!/usr/bin/env bash
# The GPU checks of the training engine, as one script for a borrowed GPU machine (see ../shared/gpu):
# webgpu ms/step beside PyTorch CUDA in the same run, webgpu vs cpu accuracy of `fedistill train` (and the
# mlp with 8 steps per run, the cnn for one epoch), an
# onnxruntime profile of the webgpu steps, then ms/step without validation and with NCHW layout, and
# last webgpu/cpu parity of every layer, loss and optimizer (bench/device-coverage.ts).
# At most 10 minutes (the timeouts add up to 560 s, plus unpacking .gpu); about 2 on an H200 (2026-11-27).
# Here: bash bench/gpu-prepare.sh (builds .gpu/, 47 MiB); there (device run, carry [".gpu"]): bash bench/gpu-check.sh
set -u
if [ "${1:-}" != "--inner" ]; then exec bash .gpu/run.sh bash "$0" --inner; fi
OUT=${OUT:-/tmp/gpu-out}; mkdir -p "$OUT"
EPOCHS=${EPOCHS:-3}
nvidia-smi -L > "$OUT/gpu.txt" 2>&1
[ -f dist/package.json ] || cp package.json dist/package.json  # older builds read the version from there
# Most important first: a run cut short still returns what it wrote under $OUT.
# 1. The bars: webgpu ms/step (provider defaults; median of 3 timed fit pairs) beside PyTorch CUDA, and webgpu vs cpu accuracy.
timeout 160 node dist/bench/train.js --gpu-set --device webgpu --steps 30 > "$OUT/webgpu.json" 2> "$OUT/webgpu.err"
timeout 40 python3 bench/torch_reference.py --steps 30 > "$OUT/torch.json" 2> "$OUT/torch.err"
timeout 40 node dist/cli/main.js train --dataset mnist --model mlp --epochs "$EPOCHS" --device webgpu --schedule cosine --seed 1 --json > "$OUT/train-webgpu.json" 2> "$OUT/train-webgpu.err"
timeout 40 node dist/cli/main.js train --dataset mnist --model mlp --epochs "$EPOCHS" --device cpu --schedule cosine --seed 1 --json > "$OUT/train-cpu.json" 2> "$OUT/train-cpu.err"
# The same run with 8 steps per session.run (unrolled), and the cnn for one epoch on the GPU.
timeout 40 node dist/cli/main.js train --dataset mnist --model mlp --epochs "$EPOCHS" --device webgpu --steps-per-run 8 --schedule cosine --seed 1 --json > "$OUT/train-webgpu-k8.json" 2> "$OUT/train-webgpu-k8.err"
timeout 45 node dist/cli/main.js train --dataset mnist --model cnn --epochs 1 --device webgpu --seed 1 --json > "$OUT/train-cnn-webgpu.json" 2> "$OUT/train-cnn-webgpu.err"
# 2. What limits a step: onnxruntime's profiler, GPU time per op type beside each run's wall time.
timeout 50 node dist/bench/train.js --gpu-set --device webgpu --profile --steps 20 > "$OUT/webgpu-profile.json" 2> "$OUT/webgpu-profile.err"
# The bars in one table (bench/gpu-summary.ts; it can be rerun here on the returned files).
node dist/bench/gpu-summary.js "$OUT" > "$OUT/summary.txt" 2>&1
# 3. WebGPU provider options, one process each (the WebGPU context is configured by a process's first session; one fit pair each).
FEDISTILL_WEBGPU_OPTIONS=validationMode=disabled timeout 55 node dist/bench/train.js --gpu-set --device webgpu --steps 30 --repeats 1 > "$OUT/webgpu-novalidation.json" 2> "$OUT/webgpu-novalidation.err"
FEDISTILL_WEBGPU_OPTIONS=validationMode=disabled,preferredLayout=NCHW timeout 45 node dist/bench/train.js --gpu-set --device webgpu --steps 30 --repeats 1 > "$OUT/webgpu-novalidation-nchw.json" 2> "$OUT/webgpu-novalidation-nchw.err"
# 4. Parity on this GPU, not only on SwiftShader: each coverage case on webgpu (one process each, profiled
#    for CPU fallbacks) against the CPU, within the bars of webgpu-coverage.test.ts. Its own --timeout
#    stops runs still going in time to print the comparison; then the table again, with its section.
timeout 45 node dist/bench/device-coverage.js --timeout 38 > "$OUT/device-coverage.json" 2> "$OUT/device-coverage.err"
node dist/bench/gpu-summary.js "$OUT" > "$OUT/summary.txt" 2>&1
cat "$OUT/summary.txt"
# The device tool returns only a few files: everything else travels as one archive.
tar czf "$OUT/gpu-check.tar.gz" -C "$OUT" --exclude=summary.txt --exclude=gpu-check.tar.gz . 2>/dev/null
for f in "$OUT"/*.json; do echo "== $f"; tail -c 1200 "$f"; echo; done
for f in "$OUT"/*.err; do echo "== $f"; tail -n 4 "$f" | cut -c1-300; done
