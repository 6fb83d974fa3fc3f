"""The equivariant Wide ResNet (`equijax.models.WideResNet`) against its floor: a plain JAX
Wide ResNet with the same tensor shapes.

    python benchmarks/e2wrn.py                     # WRN-10-1, D8 -> D4 (r=1), batch 32, 33x33 (CPU: minutes)
    python benchmarks/e2wrn.py --quick             # WRN-10-1 without fixparams, batch 4, 3 repeats (< 1 min)
    python benchmarks/e2wrn.py --depth 16 --widen 2 --no-flips --r 2 --batch 16

The floor runs exactly the convolutions of the equivariant network with free filters: the
same channels (fields x field size), kernels, strides, paddings, residual connections,
per-channel batch norms and ReLUs, global average pooling and linear head, through the same
convolution routine; it has no filter expansion, no restriction permutation and
per-channel (not per-field) batch-norm statistics. Overhead = equijax / floor.

Rows: build time (construction, kernel bases included on a cold cache); compile time of the
train step (ahead of time, tracing included); median train step (forward, backward and adam,
batch-norm state threaded; dropout off) over interleaved runs; median inference forward;
XLA's memory estimate for the train step; achieved GFLOP/s (XLA's FLOP count / time).
"""

from __future__ import annotations

import argparse
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from _harness import (
    add_cpu_option,
    apply_cpu_option,
    compile_ahead,
    fmt_bytes,
    fmt_seconds,
    interleave,
    print_table,
    train_step_program,
)
from jax import lax

from equijax import models, nn
from equijax.nn._conv_kernels import conv2d

# -- the floor ------------------------------------------------------------------------------


def _bn(x, scale, shift, stats, inference):
    """Per-channel batch norm of ``(B, C, H, W)``; returns ``(y, new (mean, var))``."""
    if inference:
        mean, var = stats
    else:
        mean, var = jnp.mean(x, axis=(0, 2, 3)), jnp.var(x, axis=(0, 2, 3))
    y = (x - mean[None, :, None, None]) * lax.rsqrt(var[None, :, None, None] + 1e-5)
    y = y * scale[None, :, None, None] + shift[None, :, None, None]
    new = stats if inference else (0.9 * stats[0] + 0.1 * mean, 0.9 * stats[1] + 0.1 * var)
    return y, new


def _spec(conv: nn.R2Conv) -> tuple:
    return (conv.out_type.size, conv.in_type.size, conv.kernel_size, conv.kernel_size), conv.stride, conv.padding


class FloorWRN(eqx.Module):
    """A conventional Wide ResNet with the convolution shapes of an equivariant one.

    `blocks` holds, per block, ``(w1, w2, shortcut filter or None)``; batch norms are
    per-channel ``(scale, shift)`` pairs."""

    stem: jax.Array
    blocks: list
    bn_params: list
    head: eqx.nn.Linear
    specs: tuple = eqx.field(static=True)  # per block: (stride, pad1, pad2, shortcut pad)
    stem_pad: tuple = eqx.field(static=True)

    def __init__(self, model: models.WideResNet, num_classes: int, key):
        rng = np.random.default_rng(np.asarray(jax.random.key_data(key)).ravel().tolist())

        def filt(conv):  # He init, drawn with numpy (jax.random would compile per shape)
            shape, _, _ = _spec(conv)
            fan_in = shape[1] * shape[2] * shape[3]
            return jnp.asarray(rng.standard_normal(shape) * np.sqrt(2.0 / fan_in), jnp.float32)

        self.stem, self.stem_pad = filt(model.conv1), model.conv1.padding
        self.blocks, self.bn_params, specs = [], [], []
        for stage in (model.layer1, model.layer2, model.layer3):
            for b in stage:
                c_in, c_mid = b.conv1.in_type.size, b.conv1.out_type.size
                self.blocks.append((filt(b.conv1), filt(b.conv2), None if b.shortcut is None else filt(b.shortcut)))
                self.bn_params.append(((jnp.ones(c_in), jnp.zeros(c_in)), (jnp.ones(c_mid), jnp.zeros(c_mid))))
                specs.append((b.conv2.stride, b.conv1.padding, b.conv2.padding))
        c = model.bn.in_type.size
        self.bn_params.append(((jnp.ones(c), jnp.zeros(c)),))
        self.head = eqx.nn.Linear(model.linear.in_features, num_classes, key=key)
        self.specs = tuple(specs)

    def init_stats(self):
        out = []
        for params in self.bn_params:
            out.append(tuple((jnp.zeros_like(s), jnp.ones_like(s)) for s, _ in params))
        return out

    def __call__(self, x, stats, *, inference=False):
        pad = lambda p: ((p[0], p[0]), (p[1], p[1]))  # noqa: E731
        h = conv2d(x, self.stem, padding=pad(self.stem_pad))
        new_stats = []
        for (w1, w2, ws), ((s1, t1), (s2, t2)), st, (stride, p1, p2) in zip(
            self.blocks, self.bn_params, stats, self.specs
        ):
            a, n1 = _bn(h, s1, t1, st[0], inference)
            x_n = jax.nn.relu(a)
            u, n2 = _bn(conv2d(x_n, w1, padding=pad(p1)), s2, t2, st[1], inference)
            u = conv2d(jax.nn.relu(u), w2, stride=stride, padding=pad(p2))
            h = u + (h if ws is None else conv2d(x_n, ws, stride=stride))
            new_stats.append((n1, n2))
        ((s, t),) = self.bn_params[-1]
        h, n = _bn(h, s, t, stats[-1][0], inference)
        new_stats.append((n,))
        pooled = jnp.mean(jax.nn.relu(h), axis=(2, 3))
        return pooled @ self.head.weight.T + self.head.bias[None], new_stats


# -- programs -------------------------------------------------------------------------------


def programs(net, state, x, y, floor: bool):
    params, static = eqx.partition(net, eqx.is_inexact_array)
    opt = optax.adam(1e-3)
    opt_state = opt.init(params)

    if floor:

        def infer(params, state, x):
            return eqx.combine(params, static)(x, state, inference=True)[0]

    else:

        def infer(params, state, x):
            return eqx.nn.inference_mode(eqx.combine(params, static))(x, state)[0]

    return (train_step_program(static, opt), (params, state, opt_state, x, y)), (infer, (params, state, x))


def build(args, key):
    kwargs = dict(
        depth=args.depth,
        widen_factor=args.widen,
        N=args.N,
        r=args.r,
        f=args.flips,
        fixparams=args.fixparams,
        num_classes=10,
    )
    t0 = time.perf_counter()
    model, state = eqx.nn.make_with_state(models.WideResNet)(key, **kwargs)
    return model, state, time.perf_counter() - t0


def compare(args) -> dict:
    key = jax.random.key(args.seed)
    x = jax.random.normal(jax.random.fold_in(key, 1), (args.batch, 3, args.size, args.size))
    y = jax.random.randint(jax.random.fold_in(key, 2), (args.batch,), 0, 10)
    model, state, build_s = build(args, key)
    t0 = time.perf_counter()
    floor = FloorWRN(model, 10, key)
    floor_build_s = time.perf_counter() - t0

    (eq_train, a), (eq_inf, b) = programs(model, state, x, y, floor=False)
    (fl_train, c), (fl_inf, d) = programs(floor, floor.init_stats(), x, y, floor=True)
    train = [compile_ahead("equijax", eq_train, *a), compile_ahead("floor", fl_train, *c)]
    infer = [compile_ahead("equijax", eq_inf, *b), compile_ahead("floor", fl_inf, *d)]
    interleave(train, args.repeats)
    interleave(infer, args.repeats)
    n_params = sum(leaf.size for leaf in jax.tree.leaves(eqx.filter(model, eqx.is_inexact_array)))
    n_floor = sum(leaf.size for leaf in jax.tree.leaves(eqx.filter(floor, eqx.is_inexact_array)))
    rows = []
    for name, tr, inf, bs, n in (
        ("equijax", train[0], infer[0], build_s, n_params),
        ("floor", train[1], infer[1], floor_build_s, n_floor),
    ):
        gf = "-" if tr.flops is None else f"{tr.flops / tr.median / 1e9:.1f}"
        rows.append(
            [
                name,
                f"{n:,}",
                fmt_seconds(bs),
                fmt_seconds(tr.compile_seconds),
                fmt_seconds(tr.median),
                fmt_seconds(inf.median),
                fmt_bytes(tr.memory_bytes),
                gf,
            ]
        )
    group = ("D" if args.flips else "C") + str(args.N)
    title = (
        f"WRN-{args.depth}-{args.widen}, {group}, r={args.r} (last group {model.out_group.name}), "
        f"fixparams={args.fixparams}, batch {args.batch}, {args.size}x{args.size}, {jax.devices()[0].platform}"
    )
    header = ["network", "parameters", "build", "compile step", "train step", "inference", "memory", "GFLOP/s"]
    print_table(title, header, rows)
    ratios = {
        "train step / floor": train[0].median / train[1].median,
        "inference / floor": infer[0].median / infer[1].median,
        "compile / floor": train[0].compile_seconds / train[1].compile_seconds,
    }
    print("overhead: " + ", ".join(f"{k} {v:.3f}" for k, v in ratios.items()))
    return ratios


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--depth", type=int, default=10)
    p.add_argument("--widen", type=int, default=1)
    p.add_argument("--N", type=int, default=8)
    p.add_argument("--r", type=int, default=1)
    p.add_argument("--no-flips", dest="flips", action="store_false", help="C_N instead of D_N")
    p.add_argument("--no-fixparams", dest="fixparams", action="store_false", help="no sqrt|G| channel scaling")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--size", type=int, default=33, help="image size (e2cnn pads CIFAR to 33)")
    p.add_argument("--repeats", type=int, default=10, help="timed steps per network")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="no fixparams, batch 4, 3 repeats")
    add_cpu_option(p)
    args = p.parse_args(argv)
    if args.quick:
        args.fixparams, args.batch, args.repeats = False, 4, 3
    cpu = apply_cpu_option(args)
    print(f"JAX {jax.__version__}, backend {jax.default_backend()}, devices {jax.devices()}, {cpu}")
    return compare(args)


if __name__ == "__main__":
    main()
