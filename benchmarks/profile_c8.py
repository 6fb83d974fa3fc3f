"""Where the C8 model's train step spends its time: each layer's forward + backward timed on
its own, at the shapes it sees in the model, summed by kind (filter expansion, convolutions,
batch norms, nonlinearities, poolings, mask), plus the head and the adam update.

    python benchmarks/profile_c8.py [--batch 64] [--width 1.0] [--repeats 3]
"""

from __future__ import annotations

import argparse
import collections
import statistics
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from _harness import add_cpu_option, apply_cpu_option, fmt_seconds, print_table

from equijax import models, nn


def timed(fn, *args, repeats=3):
    jax.block_until_ready(fn(*args))
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def kind(layer) -> str:
    return {
        nn.R2Conv: "convolution",
        nn.InnerBatchNorm: "batch norm",
        nn.ReLU: "nonlinearity",
        nn.PointwiseAvgPoolAntialiased2D: "pooling",
        nn.MaskModule: "mask",
    }.get(type(layer), type(layer).__name__)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--repeats", type=int, default=3)
    add_cpu_option(p)
    args = p.parse_args()
    print(apply_cpu_option(args))
    key = jax.random.key(0)
    model, state = eqx.nn.make_with_state(models.C8SteerableCNN)(key, width=args.width)
    x = nn.GeometricTensor(jax.random.normal(key, (args.batch, 1, 29, 29)), model.input_type)
    totals: dict = collections.defaultdict(float)
    rows = []
    for i, layer in enumerate(model.blocks):
        params, static = eqx.partition(layer, eqx.is_inexact_array)

        def loss(params, t, state, static=static, ftype=x.type):
            layer = eqx.combine(params, static)
            g = nn.GeometricTensor(t, ftype)
            out = layer(g, state) if isinstance(layer, nn.InnerBatchNorm) else (layer(g), state)
            return jnp.sum(out[0].tensor ** 2)

        f = jax.jit(jax.grad(loss, argnums=(0, 1)))
        seconds = timed(f, params, x.tensor, state, repeats=args.repeats)
        name = kind(layer)
        if isinstance(layer, nn.R2Conv):  # the expansion alone (forward + backward)
            e = jax.jit(jax.grad(lambda p, static=static: jnp.sum(eqx.combine(p, static).expand_parameters()[0] ** 2)))
            exp_s = timed(e, params, repeats=args.repeats)
            totals["filter expansion"] += exp_s
            seconds -= exp_s
        totals[name] += seconds
        rows.append([i, type(layer).__name__, str(tuple(x.tensor.shape)), fmt_seconds(seconds)])
        if isinstance(layer, nn.InnerBatchNorm):
            x, state = layer(x, state)
        else:
            x = layer(x)

    # head: group pooling, fc1, batch norm, elu, fc2 (with the loss)
    def head_loss(m, t):
        h = m.gpool(nn.GeometricTensor(t, m.gpool.in_type)).tensor.reshape(t.shape[0], -1)
        h = h @ m.fc1.weight.T + m.fc1.bias
        h = (h - h.mean(0)) / jnp.sqrt(h.var(0) + 1e-5)
        return jnp.sum(jax.nn.elu(h) @ m.fc2.weight.T)

    hp, hs = eqx.partition(model, eqx.is_inexact_array)
    totals["head"] = timed(
        jax.jit(jax.grad(lambda p, t: head_loss(eqx.combine(p, hs), t), argnums=(0, 1))), hp, x.tensor
    )
    opt = optax.adam(1e-3)
    opt_state = opt.init(hp)
    totals["adam update"] = timed(jax.jit(lambda g, s: opt.update(g, s, g)), hp, opt_state, repeats=args.repeats)
    print_table(f"C8 model layers, forward + backward, batch {args.batch}", ["#", "layer", "input", "time"], rows)
    total = sum(totals.values())
    print_table(
        "by kind",
        ["kind", "time", "share"],
        [[k, fmt_seconds(v), f"{100 * v / total:.1f} %"] for k, v in sorted(totals.items(), key=lambda kv: -kv[1])],
    )
    print(f"sum of parts: {fmt_seconds(total)}")


if __name__ == "__main__":
    main()
