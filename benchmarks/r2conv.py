"""R2Conv cost: construction, and the share of the filter expansion in a jitted train step.

    python benchmarks/r2conv.py [--batch 64] [--size 29] [--fields-in 48] [--fields-out 96] [--repeats 5]

Times, interleaved (A B A B ...) so machine drift cancels:
  A  forward + backward of `nn.R2Conv` (filter expanded from the basis inside the jit),
  B  forward + backward of the same convolution with the expanded filter as a plain
     parameter (what a conventional CNN of the same shape costs),
and the expansion alone (forward + backward). Prints a table.
"""

from __future__ import annotations

import argparse
import statistics
import time

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import lax

from equijax import gspaces, nn


def timed(fn, *args) -> float:
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--size", type=int, default=29)
    p.add_argument("--fields-in", type=int, default=48)
    p.add_argument("--fields-out", type=int, default=96)
    p.add_argument("--kernel-size", type=int, default=5)
    p.add_argument("--N", type=int, default=8, help="C_N, regular fields")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()

    gs = gspaces.rot2dOnR2(args.N)
    i = nn.FieldType(gs, args.fields_in * [gs.regular_repr])
    o = nn.FieldType(gs, args.fields_out * [gs.regular_repr])
    k = args.kernel_size

    t0 = time.perf_counter()
    conv = nn.R2Conv(i, o, k, padding=k // 2, key=jax.random.key(0))
    cold = time.perf_counter() - t0
    warm = []
    for s in range(5):
        t0 = time.perf_counter()
        nn.R2Conv(i, o, k, padding=k // 2, key=jax.random.key(s + 1))
        warm.append(time.perf_counter() - t0)

    x = jax.random.normal(jax.random.key(1), (args.batch, i.size, args.size, args.size))
    F, b = conv.expand_parameters()

    @jax.jit
    def equi_step(weights, bias, x):
        def loss(w, bb):
            m = eqx.tree_at(lambda c: (c.weights, c.bias), conv, (w, bb))
            return jnp.mean(m(i(x)).tensor ** 2)

        return jax.grad(loss, argnums=(0, 1))(weights, bias)

    @jax.jit
    def plain_step(F, b, x):
        def loss(F, b):
            y = lax.conv_general_dilated(
                x, F, (1, 1), ((k // 2, k // 2),) * 2, dimension_numbers=("NCHW", "OIHW", "NCHW")
            )
            return jnp.mean((y + b.reshape(1, -1, 1, 1)) ** 2)

        return jax.grad(loss, argnums=(0, 1))(F, b)

    @jax.jit
    def expansion_step(weights, bias):
        def loss(w, bb):
            m = eqx.tree_at(lambda c: (c.weights, c.bias), conv, (w, bb))
            F, b = m.expand_parameters()
            return jnp.sum(F * F) + jnp.sum(b * b)

        return jax.grad(loss, argnums=(0, 1))(weights, bias)

    compile_equi = timed(equi_step, conv.weights, conv.bias, x)
    compile_plain = timed(plain_step, F, b, x)
    timed(expansion_step, conv.weights, conv.bias)
    te, tp, tx = [], [], []
    for _ in range(args.repeats):
        te.append(timed(equi_step, conv.weights, conv.bias, x))
        tp.append(timed(plain_step, F, b, x))
        tx.append(timed(expansion_step, conv.weights, conv.bias))
    me, mp, mx = statistics.median(te), statistics.median(tp), statistics.median(tx)

    print(
        f"R2Conv {args.fields_in} -> {args.fields_out} regular C{args.N} fields ({i.size} -> {o.size} channels), "
        f"k={k}, batch {args.batch}, {args.size}x{args.size}, {jax.devices()[0].platform}, {jax.__version__}"
    )
    print(f"{'measure':<52} {'value':>12}")
    rows = [
        ("construction, first (bases built, JAX warm-up)", f"{cold:.3f} s"),
        ("construction, warm (median of 5)", f"{statistics.median(warm) * 1e3:.1f} ms"),
        ("weights (trainable scalars)", f"{conv.weights.size + conv.bias.size}"),
        ("first call of the jitted step (compile), R2Conv", f"{compile_equi:.2f} s"),
        ("first call of the jitted step (compile), plain conv", f"{compile_plain:.2f} s"),
        (f"fwd+bwd R2Conv (median of {args.repeats})", f"{me * 1e3:.1f} ms"),
        (f"fwd+bwd plain conv, fixed filter (median of {args.repeats})", f"{mp * 1e3:.1f} ms"),
        ("fwd+bwd filter expansion alone", f"{mx * 1e3:.2f} ms"),
        ("expansion share of the R2Conv step (alone / R2Conv)", f"{100 * mx / me:.2f} %"),
        ("R2Conv / plain conv", f"{me / mp:.3f}x"),
    ]
    for name, val in rows:
        print(f"{name:<52} {val:>12}")


if __name__ == "__main__":
    main()
