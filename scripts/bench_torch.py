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
mode = sys.argv[5] if len(sys.argv) > 5 else "train"  # "train": one Adam step; "sample:S": DDIM-S of `batch` images;
# "profile": the step split into parts exactly as kernels/bench.Profile splits dmseg's (see there)
torch.set_num_threads(threads)
torch.manual_seed(0)

def conv(cin, cout):
    return tnn.Conv2d(cin, cout, 3, padding=1)

NO_NORM, NO_ACT = False, False  # the ablations of the profile

def norm(c):
    return tnn.Identity() if NO_NORM else tnn.GroupNorm(8, c)

def act(h):
    return h if NO_ACT else F.silu(h)

class Res(tnn.Module):
    def __init__(self, c):
        super().__init__()
        self.gn1, self.conv1 = norm(c), conv(c, c)
        self.gn2, self.conv2 = norm(c), conv(c, c)
    def forward(self, h):
        y = self.conv1(act(self.gn1(h)))
        y = self.conv2(act(self.gn2(y)))
        return h + y

class Probe(tnn.Module):
    def __init__(self):
        super().__init__()
        self.inc = conv(1, 32); self.res1 = Res(32)
        self.down1 = conv(32, 64); self.res2 = Res(64)
        self.down2 = conv(64, 128); self.res3 = Res(128)
        self.up2 = conv(192, 64); self.up1 = conv(96, 32)
        self.gnout = norm(32); self.out = conv(32, 1)
    def forward(self, x):
        h1 = self.res1(self.inc(x))
        h2 = self.res2(self.down1(F.avg_pool2d(h1, 2)))
        h3 = self.res3(self.down2(F.avg_pool2d(h2, 2)))
        u2 = self.up2(torch.cat([F.interpolate(h3, scale_factor=2, mode="nearest"), h2], 1))
        u1 = self.up1(torch.cat([F.interpolate(u2, scale_factor=2, mode="nearest"), h1], 1))
        return self.out(act(self.gnout(u1)))

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

x = torch.randn(batch, 1, 64, 64, device=device)
target = torch.randn(batch, 1, 64, 64, device=device)

def timed(fn):
    """One warm-up call, then the median of `reps` calls (as kernels/bench.timeIt)."""
    fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter(); fn(); ts.append(time.perf_counter() - t0)
    return statistics.median(ts)

def step_time(model, what="adam"):
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    def step():
        opt.zero_grad(set_to_none=True)
        if what == "forward":
            with torch.no_grad():
                return F.mse_loss(model(x), target).item()
        loss = F.mse_loss(model(x), target)
        loss.backward()
        if what == "adam":
            opt.step()
        return loss.item()  # .item() synchronises, so CUDA timings are complete
    return timed(step)

if mode == "profile":
    # kernels/bench.ProfileRows: the same parts, measured the same way.
    rows = {}
    rows["training step (total)"] = step_time(net)
    rows["forward pass (whole network, loss)"] = step_time(net, "forward")
    rows["optimizer (Adam update)"] = rows["training step (total)"] - step_time(net, "grads")
    NO_NORM = True
    rows["GroupNorm forward + backward"] = rows["training step (total)"] - step_time(Probe().to(device))
    NO_NORM, NO_ACT = False, True
    rows["SiLU forward + backward"] = rows["training step (total)"] - step_time(Probe().to(device))
    NO_ACT = False
    conv_rows = ["convolution forward", "convolution gradient w.r.t. input", "convolution gradient w.r.t. kernel"]
    for r in conv_rows:
        rows[r] = 0.0
    # kernels/bench.ProbeConvs: (HW, Cin, Cout, count).
    for hw, cin, cout, count in [(64, 1, 32, 1), (64, 32, 32, 2), (32, 32, 64, 1), (32, 64, 64, 2), (16, 64, 128, 1),
                                 (16, 128, 128, 2), (32, 192, 64, 1), (64, 96, 32, 1), (64, 32, 1, 1)]:
        xi = torch.randn(batch, cin, hw, hw, device=device)
        w = torch.randn(cout, cin, 3, 3, device=device)
        v = torch.randn(batch, cout, hw, hw, device=device)
        def part(mask):
            def run():
                with torch.no_grad():
                    if mask is None:
                        out = F.conv2d(xi, w, padding=1)
                    else:  # what autograd calls for a convolution's backward
                        out = [t for t in torch.ops.aten.convolution_backward(
                            v, xi, w, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1, mask) if t is not None][0]
                    return float(out.reshape(-1)[0])
            return timed(run)
        rows["convolution forward"] += count * part(None)
        rows["convolution gradient w.r.t. input"] += count * part([True, False, False])
        rows["convolution gradient w.r.t. kernel"] += count * part([False, True, False])
    rows["rest (bias, residual adds, pooling, upsampling, concatenation, loss)"] = rows["training step (total)"] - sum(
        rows[r] for r in conv_rows + ["GroupNorm forward + backward", "SiLU forward + backward", "optimizer (Adam update)"])
    print(json.dumps({"peer": "pytorch", "device": device, "version": torch.__version__, "threads": torch.get_num_threads(),
                      "batch": batch, "reps": reps, "mode": mode, "profile": rows}))
    sys.exit(0)

seconds = step_time(net)
params = sum(p.numel() for p in net.parameters())
print(json.dumps({"peer": "pytorch", "device": device, "version": torch.__version__, "threads": torch.get_num_threads(),
                  "batch": batch, "reps": reps, "seconds": seconds, "params": params}))
