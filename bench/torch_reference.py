# PyTorch CUDA reference for the GPU bench: ms/step of the same training steps (SGD with momentum,
# cross-entropy) as bench/train.ts --gpu-set: a 784-1024-10 MLP at batch 512 and 8192, and the cnn at 512.
# Usage (on a GPU machine): python3 bench/torch_reference.py [--steps 30]  -> one JSON line
import json, sys, time
import torch
import torch.nn as nn

steps = int(sys.argv[sys.argv.index('--steps') + 1]) if '--steps' in sys.argv else 30
dev = torch.device('cuda')

def mlp1024():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 10))

def cnn():
    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(64 * 5 * 5, 128), nn.ReLU(), nn.Linear(128, 10))

def bench(make, batch):
    torch.manual_seed(1)
    model = make().to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    x = torch.rand(batch, 1, 28, 28, device=dev)
    y = torch.randint(0, 10, (batch,), device=dev)
    loss_fn = nn.CrossEntropyLoss()
    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()
    for _ in range(5):
        step()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    return {'ms_per_step': (time.perf_counter() - t0) * 1000 / steps}

print(json.dumps({'framework': 'pytorch', 'version': torch.__version__, 'device': torch.cuda.get_device_name(0), 'steps': steps,
                  'mlp1024_b512': bench(mlp1024, 512), 'mlp1024_b8192': bench(mlp1024, 8192), 'cnn_b512': bench(cnn, 512)}))
