"""escnn (PyTorch) side of `seed_c8.py`: the same architectures, timed one call at a time on
request, so the parent interleaves escnn with equijax and the floor in one run.

Run by `seed_c8.py --escnn-python PYTHON`, where PYTHON has torch and escnn (it need not
have equijax or jax). Protocol on stdin/stdout, one line each:
  parent: ``build <model> <N> <reflections 0/1> <width> <batch>``
  worker: ``ready <build seconds> <first step seconds>``
  parent: ``step`` or ``infer``;  worker: ``<seconds>``
  parent: ``quit``
"""

from __future__ import annotations

import sys
import time

import torch
from escnn import gspaces, nn


def build(model: str, N: int, reflections: bool, width: float):
    r2 = gspaces.flipRot2dOnR2(N) if reflections else gspaces.rot2dOnR2(N)
    t = nn.FieldType(r2, [r2.trivial_repr])

    def fields(n):
        return nn.FieldType(r2, max(1, round(n * width)) * [r2.regular_repr])

    layers = []
    if model == "c8":
        layers.append(nn.MaskModule(t, 29, margin=1))
        spec = [(24, 7, 1), (48, 5, 2), "pool", (48, 5, 2), (96, 5, 2), "pool", (96, 5, 2), (64, 5, 1), "last"]
        for item in spec:
            if item == "pool":
                layers.append(nn.PointwiseAvgPoolAntialiased(t, sigma=0.66, stride=2))
            elif item == "last":
                layers.append(nn.PointwiseAvgPoolAntialiased(t, sigma=0.66, stride=1, padding=0))
            else:
                n, k, p = item
                out = fields(n)
                layers += [nn.R2Conv(t, out, k, padding=p, bias=False), nn.InnerBatchNorm(out), nn.ReLU(out)]
                t = out
    else:
        for n in (8, 16, 32, 64, 128):
            out = fields(n)
            layers += [nn.R2Conv(t, out, 3, padding=1, bias=True), nn.InnerBatchNorm(out), nn.ReLU(out)]
            layers.append(nn.PointwiseMaxPool2D(out, kernel_size=3, stride=2, padding=1))
            t = out
    features = nn.SequentialModule(*layers, nn.GroupPooling(t))
    c = len(t)
    if model == "c8":
        head = torch.nn.Sequential(
            torch.nn.Linear(c, 64), torch.nn.BatchNorm1d(64), torch.nn.ELU(), torch.nn.Linear(64, 10)
        )
    else:
        head = torch.nn.Linear(c, 10)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.features, self.head = features, head

        def forward(self, x):
            h = self.features(nn.GeometricTensor(x, self.features.in_type)).tensor
            h = h.reshape(h.shape[0], -1) if model == "c8" else h.amax(dim=(2, 3))
            return self.head(h)

    return Net()


def main():
    torch.manual_seed(0)
    net = opt = x = y = None
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "build":
            model, N, refl, width, batch = cmd[1], int(cmd[2]), cmd[3] == "1", float(cmd[4]), int(cmd[5])
            t0 = time.perf_counter()
            net = build(model, N, refl, width)
            build_s = time.perf_counter() - t0
            opt = torch.optim.Adam(net.parameters(), lr=1e-3)
            size = 29 if model == "c8" else 33
            x = torch.randn(batch, 1, size, size)
            y = torch.randint(0, 10, (batch,))
            first = step(net, opt, x, y)
            print(f"ready {build_s} {first}", flush=True)
        elif cmd[0] == "step":
            print(step(net, opt, x, y), flush=True)
        elif cmd[0] == "infer":
            net.eval()
            t0 = time.perf_counter()
            with torch.no_grad():
                net(x)
            print(time.perf_counter() - t0, flush=True)
            net.train()
        elif cmd[0] == "quit":
            return


def step(net, opt, x, y) -> float:
    t0 = time.perf_counter()
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(net(x), y)
    loss.backward()
    opt.step()
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
