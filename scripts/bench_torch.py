#!/usr/bin/env python3
"""PyTorch CPU peer for `make bench`: the probe U-Net of kernels/bench (same layers, same
sizes, same Adam step), timed the same way (1 warm-up, median of N). Prints one JSON line."""
import json, sys, time, statistics
import torch
import torch.nn as tnn
import torch.nn.functional as F

batch = int(sys.argv[1]) if len(sys.argv) > 1 else 16
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 10
threads = int(sys.argv[3]) if len(sys.argv) > 3 else torch.get_num_threads()
device = sys.argv[4] if len(sys.argv) > 4 else "cpu"
mode = sys.argv[5] if len(sys.argv) > 5 else "train"  # "train": one Adam step; "sample:S": DDIM-S of `batch` images
torch.set_num_threads(threads)
torch.manual_seed(0)

def conv(cin, cout):
    return tnn.Conv2d(cin, cout, 3, padding=1)

class Res(tnn.Module):
    def __init__(self, c):
        super().__init__()
        self.gn1, self.conv1 = tnn.GroupNorm(8, c), conv(c, c)
        self.gn2, self.conv2 = tnn.GroupNorm(8, c), conv(c, c)
    def forward(self, h):
        y = self.conv1(F.silu(self.gn1(h)))
        y = self.conv2(F.silu(self.gn2(y)))
        return h + y

class Probe(tnn.Module):
    def __init__(self):
        super().__init__()
        self.inc = conv(1, 32); self.res1 = Res(32)
        self.down1 = conv(32, 64); self.res2 = Res(64)
        self.down2 = conv(64, 128); self.res3 = Res(128)
        self.up2 = conv(192, 64); self.up1 = conv(96, 32)
        self.gnout = tnn.GroupNorm(8, 32); self.out = conv(32, 1)
    def forward(self, x):
        h1 = self.res1(self.inc(x))
        h2 = self.res2(self.down1(F.avg_pool2d(h1, 2)))
        h3 = self.res3(self.down2(F.avg_pool2d(h2, 2)))
        u2 = self.up2(torch.cat([F.interpolate(h3, scale_factor=2, mode="nearest"), h2], 1))
        u1 = self.up1(torch.cat([F.interpolate(u2, scale_factor=2, mode="nearest"), h1], 1))
        return self.out(F.silu(self.gnout(u1)))

net = Probe().to(device)

def ddim_coefficients(steps):
    """kernels/bench.DDIMCoefficients: x_prev = c1 x + c2 eps for T=1000 linear betas, eta 0."""
    T, ab, prod = 1000, [], 1.0
    for t in range(T):
        prod *= 1 - (1e-4 + (0.02 - 1e-4) * t / (T - 1))
        ab.append(prod)
    stride, c1, c2 = T // steps, [], []
    for i in range(steps):
        t = (steps - 1 - i) * stride + 1
        a, prev = ab[t], (ab[t - stride] if t - stride >= 0 else 1.0)
        c1.append((prev / a) ** 0.5)
        c2.append((1 - prev) ** 0.5 - (prev * (1 - a) / a) ** 0.5)
    return c1, c2

if mode.startswith("sample:"):
    steps = int(mode.split(":")[1])
    c1, c2 = ddim_coefficients(steps)
    x0 = torch.randn(batch, 1, 64, 64, device=device)
    def run():
        with torch.no_grad():
            x = x0
            for i in range(steps):
                x = c1[i] * x + c2[i] * net(x)
            return float(x[0, 0, 0, 0])  # synchronises
    run()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter(); run(); ts.append(time.perf_counter() - t0)
    print(json.dumps({"peer": "pytorch", "device": device, "version": torch.__version__, "threads": torch.get_num_threads(),
                      "batch": batch, "reps": reps, "seconds": statistics.median(ts), "mode": mode}))
    sys.exit(0)

opt = torch.optim.Adam(net.parameters(), lr=1e-4)
x = torch.randn(batch, 1, 64, 64, device=device)
target = torch.randn(batch, 1, 64, 64, device=device)

def step():
    opt.zero_grad(set_to_none=True)
    loss = F.mse_loss(net(x), target)
    loss.backward()
    opt.step()
    return loss.item()  # .item() synchronises, so CUDA timings are complete

step()
ts = []
for _ in range(reps):
    t0 = time.perf_counter(); step(); ts.append(time.perf_counter() - t0)
params = sum(p.numel() for p in net.parameters())
print(json.dumps({"peer": "pytorch", "device": device, "version": torch.__version__, "threads": torch.get_num_threads(),
                  "batch": batch, "reps": reps, "seconds": statistics.median(ts), "params": params}))
