"""The seed models against their floor: a plain JAX CNN with the same tensor shapes.

    python benchmarks/seed_c8.py                       # C8 model and C4CNN, batch 64 (CPU: a few minutes)
    python benchmarks/seed_c8.py --quick               # small batch and width, under 2 minutes
    python benchmarks/seed_c8.py --group D4 --width 0.5 --batch 32
    python benchmarks/seed_c8.py --sweep               # time and FLOP/s against batch size and width

An equivariant network cannot beat a conventional one doing the same convolutions with
precomputed filters. The floor here is exactly that: the same channels, kernels, paddings,
batch norms (per-channel statistics), ReLUs, antialiased or max poolings, group max and head,
with free filters, run through the same convolution routine. Overhead = equijax / floor.

Rows: build time (construction, basis computation included on a cold cache); compile time of
the train step (ahead of time, tracing included); median train step (forward, backward and
adam, batch-norm state threaded) over interleaved runs; median inference forward (equivariant
model, its `export()` and the floor); XLA's memory estimate for the train step
(arguments + outputs + temporaries); achieved GFLOP/s (XLA's FLOP count / time).
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import statistics
import subprocess
import time
from pathlib import Path

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

from equijax import models
from equijax.nn._conv_kernels import conv2d
from equijax.nn._pooling import _blur, gaussian_filter
from equijax.nn._structure import disk_mask

# -- the floor ------------------------------------------------------------------------


class Floor(eqx.Module):
    """A conventional CNN with the shapes of a seed model: a list of conv layers
    ``(filter, bias or None, bn scale, bn shift, padding, pool)`` and a head."""

    filters: list
    biases: list
    bn_scale: list
    bn_shift: list
    head: list
    paddings: tuple = eqx.field(static=True)
    pools: tuple = eqx.field(static=True)
    group_size: int = eqx.field(static=True)
    kind: str = eqx.field(static=True)
    mask_size: int | None = eqx.field(static=True)  # the C8 model's disk mask (a constant)

    def __init__(self, kind, channels, kernels, paddings, pools, group_size, bias, head_sizes, key, size):
        keys = jax.random.split(key, len(channels) + len(head_sizes))
        c_in, self.filters, self.biases, self.bn_scale, self.bn_shift = 1, [], [], [], []
        for k, c, ks in zip(keys, channels, kernels):
            self.filters.append(jax.random.normal(k, (c, c_in, ks, ks)) * np.sqrt(2.0 / (c_in * ks * ks)))
            self.biases.append(jnp.zeros(c) if bias else None)
            self.bn_scale.append(jnp.ones(c))
            self.bn_shift.append(jnp.zeros(c))
            c_in = c
        sizes = [c_in // group_size, *head_sizes]
        self.head = [eqx.nn.Linear(a, b, key=k) for a, b, k in zip(sizes[:-1], sizes[1:], keys[len(channels) :])]
        self.paddings, self.pools, self.group_size, self.kind = tuple(paddings), tuple(pools), group_size, kind
        self.mask_size = size if kind == "c8" else None

    def __call__(self, x, stats, *, inference=False):
        new_stats = []
        if self.mask_size is not None:
            x = x * disk_mask(self.mask_size, margin=1).astype(x.dtype)[None, None]
        for i, (w, b, g, s, p, pool) in enumerate(
            zip(self.filters, self.biases, self.bn_scale, self.bn_shift, self.paddings, self.pools)
        ):
            x = conv2d(x, w.astype(x.dtype), padding=((p, p), (p, p)))
            if b is not None:
                x = x + b.astype(x.dtype)[None, :, None, None]
            dtype, x = x.dtype, x.astype(jnp.promote_types(x.dtype, jnp.float32))  # statistics in float32
            mean, var = stats[i]
            if not inference:
                mean, var = jnp.mean(x, axis=(0, 2, 3)), jnp.var(x, axis=(0, 2, 3))
                new_stats.append((0.9 * stats[i][0] + 0.1 * mean, 0.9 * stats[i][1] + 0.1 * var))
            m, v, g4, s4 = (a[None, :, None, None] for a in (mean, var, g, s))
            x = ((x - m) * lax.rsqrt(v + 1e-5) * g4 + s4).astype(dtype)
            x = jax.nn.relu(x)
            if pool == "avg2":
                x = _blur(x, gaussian_filter(0.66), (2, 2), (2, 2))
            elif pool == "avg1":
                x = _blur(x, gaussian_filter(0.66), (1, 1), (0, 0))
            elif pool == "max":
                x = lax.reduce_window(
                    x, -jnp.inf, lax.max, (1, 1, 3, 3), (1, 1, 2, 2), ((0, 0), (0, 0), (1, 1), (1, 1))
                )
        B, C, H, W = x.shape
        x = x.reshape(B, C // self.group_size, self.group_size, H, W).max(axis=2)  # group pooling
        x = x.reshape(B, -1) if self.kind == "c8" else x.max(axis=(2, 3))
        for j, layer in enumerate(self.head):
            x = x @ layer.weight.T + layer.bias[None]
            if j < len(self.head) - 1:  # the C8 head: Linear -> batch norm -> ELU -> Linear
                x = jax.nn.elu((x - x.mean(0, keepdims=True)) * lax.rsqrt(x.var(0, keepdims=True) + 1e-5))
        return x, (new_stats if not inference else stats)

    def init_stats(self):
        return [(jnp.zeros(w.shape[0]), jnp.ones(w.shape[0])) for w in self.filters]


def floor_for(model_name, fields, group_size, n_classes, key):
    channels = [f * group_size for f in fields]
    if model_name == "c8":
        return Floor(
            "c8", channels, [7, 5, 5, 5, 5, 5], [1, 2, 2, 2, 2, 1],
            [None, "avg2", None, "avg2", None, "avg1"], group_size, False, [64, n_classes], key, 29,
        )  # fmt: skip
    return Floor("c4", channels, [3] * 5, [1] * 5, ["max"] * 5, group_size, True, [n_classes], key, 33)


# -- the equijax models -------------------------------------------------------------------


def parse_group(group: str) -> tuple[int, bool]:
    m = re.fullmatch(r"([CD])(\d+)", group)
    if m is None:
        raise SystemExit(f"--group must be C<N> or D<N> (e.g. C8, D4), got {group!r}")
    return int(m.group(2)), m.group(1) == "D"


def build_equijax(model_name, N, reflections, width, key):
    if model_name == "c8":
        cls = functools.partial(models.C8SteerableCNN, N=N, width=width, reflections=reflections)
        base = (24, 48, 48, 96, 96, 64)
    else:
        cls = functools.partial(models.C4CNN, batch_norm=True, N=N, width=width, reflections=reflections)
        base = (8, 16, 32, 64, 128)
    t0 = time.perf_counter()
    model, state = eqx.nn.make_with_state(cls)(key)
    seconds = time.perf_counter() - t0
    fields = [max(1, round(f * width)) for f in base]
    return model, state, seconds, fields


def equijax_programs(model, state, x, y):
    """(train step, inference, exported inference), each ``(function, args)``; a bfloat16
    `x` runs the mixed-precision policy (the exported layers get bfloat16 weights)."""
    params, static = eqx.partition(model, eqx.is_inexact_array)
    opt = optax.adam(1e-3)
    opt_state = opt.init(params)
    train_step = train_step_program(static, opt)

    def infer(params, state, x):
        return eqx.nn.inference_mode(eqx.combine(params, static))(x, state)[0]

    exported = model.export(state)
    if x.dtype == jnp.bfloat16:
        exported = jax.tree_util.tree_map(lambda a: a.astype(x.dtype) if eqx.is_inexact_array(a) else a, exported)
    e_params, e_static = eqx.partition(exported, eqx.is_inexact_array)

    def infer_exported(e_params, x):
        return jax.vmap(eqx.combine(e_params, e_static))(x)

    return (
        (train_step, (params, state, opt_state, x, y)),
        (infer, (params, state, x)),
        (infer_exported, (e_params, x)),
    )


def floor_programs(floor, x, y):
    params, static = eqx.partition(floor, eqx.is_inexact_array)
    stats = floor.init_stats()
    opt = optax.adam(1e-3)
    opt_state = opt.init(params)
    train_step = train_step_program(static, opt)

    def infer(params, stats, x):
        return eqx.combine(params, static)(x, stats, inference=True)[0]

    return (train_step, (params, stats, opt_state, x, y)), (infer, (params, stats, x))


# -- escnn, in a worker process ----------------------------------------------------------


class EscnnWorker:
    """Times escnn's train step / inference one call at a time in a worker process (its own
    Python, with torch and escnn), so the calls interleave with equijax's and the floor's."""

    def __init__(self, python: str, model: str, N: int, reflections: bool, width: float, batch: int):
        worker = Path(__file__).with_name("_escnn_worker.py")
        env = dict(os.environ, PYTHONWARNINGS="ignore")
        self.proc = subprocess.Popen(
            [python, str(worker)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        reply = self._ask(f"build {model} {N} {int(reflections)} {width} {batch}").split()
        self.build_seconds, self.first_step_seconds = float(reply[1]), float(reply[2])

    def _ask(self, line: str) -> str:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline()
        if not reply:
            raise RuntimeError("the escnn worker died (are torch and escnn installed for that python?)")
        return reply.strip()

    def close(self):
        self.proc.stdin.write("quit\n")
        self.proc.stdin.flush()
        self.proc.wait(timeout=60)


class _Remote:
    def __init__(self, worker: EscnnWorker, command: str):
        self.worker, self.command, self.times = worker, command, []

    def run(self) -> float:
        return float(self.worker._ask(self.command))

    @property
    def median(self) -> float:
        return statistics.median(self.times)


# -- one comparison -------------------------------------------------------------------------


def compare(model_name, group, width, batch, repeats, seed=0, escnn_python=None, precision="float32"):
    N, reflections = parse_group(group)
    group_size = 2 * N if reflections else N
    size = 29 if model_name == "c8" else 33
    key = jax.random.key(seed)
    x = jax.random.normal(jax.random.fold_in(key, 1), (batch, 1, size, size)).astype(precision)
    y = jax.random.randint(jax.random.fold_in(key, 2), (batch,), 0, 10)
    model, state, build_s, fields = build_equijax(model_name, N, reflections, width, key)
    t0 = time.perf_counter()
    floor = floor_for(model_name, fields, group_size, 10, key)
    floor_build_s = time.perf_counter() - t0

    (eq_train, eq_train_args), (eq_inf, eq_inf_args), (ex_inf, ex_inf_args) = equijax_programs(model, state, x, y)
    (fl_train, fl_train_args), (fl_inf, fl_inf_args) = floor_programs(floor, x, y)
    train = [compile_ahead("equijax", eq_train, *eq_train_args), compile_ahead("floor", fl_train, *fl_train_args)]
    infer = [
        compile_ahead("equijax", eq_inf, *eq_inf_args),
        compile_ahead("exported", ex_inf, *ex_inf_args),
        compile_ahead("floor", fl_inf, *fl_inf_args),
    ]
    escnn = None
    if escnn_python:
        escnn = EscnnWorker(escnn_python, model_name, N, reflections, width, batch)
        train.append(_Remote(escnn, "step"))
        infer.append(_Remote(escnn, "infer"))
    interleave(train, repeats)
    interleave(infer, max(3, repeats // 2))  # forward passes vary less than train steps
    eq, fl = train[:2]
    rows = [
        [
            "equijax",
            fmt_seconds(build_s),
            fmt_seconds(eq.compile_seconds),
            fmt_seconds(eq.median),
            fmt_seconds(infer[0].median),
            fmt_seconds(infer[1].median),
            fmt_bytes(eq.memory_bytes),
            _gflops(eq),
        ],
        [
            "floor",
            fmt_seconds(floor_build_s),
            fmt_seconds(fl.compile_seconds),
            fmt_seconds(fl.median),
            fmt_seconds(infer[2].median),
            "",
            fmt_bytes(fl.memory_bytes),
            _gflops(fl),
        ],
    ]
    if escnn is not None:
        es = train[2]
        rows.append(
            [
                "escnn",
                fmt_seconds(escnn.build_seconds),
                fmt_seconds(escnn.first_step_seconds) + " (1st step)",
                fmt_seconds(es.median),
                fmt_seconds(infer[3].median),
                "",
                "",
                "-" if eq.flops is None else f"{eq.flops / es.median / 1e9:.1f}*",
            ]
        )
        escnn.close()
    title = f"{model_name} model, group {group}, width {width}, batch {batch}, {precision}, {jax.devices()[0].platform}"
    header = ["network", "build", "compile step", "train step", "inference", "exported inf.", "memory", "GFLOP/s"]
    print_table(title, header, rows)
    ratios = {
        "train step / floor": eq.median / fl.median,
        "exported inference / floor": infer[1].median / infer[2].median,
        "equivariant inference / floor": infer[0].median / infer[2].median,
        "compile / floor": eq.compile_seconds / fl.compile_seconds,
        "memory / floor": (eq.memory_bytes / fl.memory_bytes) if eq.memory_bytes and fl.memory_bytes else float("nan"),
    }
    if escnn is not None:
        ratios["escnn train step / equijax"] = train[2].median / eq.median
        ratios["escnn inference / equijax"] = infer[3].median / infer[0].median
        print("(* escnn GFLOP/s: equijax's XLA FLOP count of the same step / escnn's time)")
    print("ratios: " + ", ".join(f"{k} {v:.3f}" for k, v in ratios.items()))
    return ratios


def _gflops(c) -> str:
    return "-" if c.flops is None else f"{c.flops / c.median / 1e9:.1f}"


def sweep(model_name, group, repeats, precision="float32"):
    rows = []
    for width in (0.25, 0.5, 1.0):
        for batch in (16, 32, 64):
            N, reflections = parse_group(group)
            group_size = 2 * N if reflections else N
            size = 29 if model_name == "c8" else 33
            key = jax.random.key(0)
            x = jnp.zeros((batch, 1, size, size), precision)
            y = jnp.zeros(batch, jnp.int32)
            model, state, _, fields = build_equijax(model_name, N, reflections, width, key)
            floor = floor_for(model_name, fields, group_size, 10, key)
            (eq_train, a), _, _ = equijax_programs(model, state, x, y)
            (fl_train, b), _ = floor_programs(floor, x, y)
            pair = [compile_ahead("equijax", eq_train, *a), compile_ahead("floor", fl_train, *b)]
            interleave(pair, repeats)
            rows.append(
                [
                    width,
                    batch,
                    fmt_seconds(pair[0].median),
                    _gflops(pair[0]),
                    fmt_seconds(pair[1].median),
                    _gflops(pair[1]),
                    f"{pair[0].median / pair[1].median:.3f}",
                ]
            )
    header = ["width", "batch", "equijax step", "GFLOP/s", "floor step", "GFLOP/s", "ratio"]
    print_table(f"sweep: {model_name} model, group {group}, {precision}, train step", header, rows)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=["c8", "c4", "both"], default="both")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--group", default=None, help="C<N> or D<N> (default: C8 for the c8 model, C4 for c4)")
    p.add_argument("--repeats", type=int, default=10, help="timed train steps per network (inference: half)")
    p.add_argument("--quick", action="store_true", help="batch 16, width 0.25, 3 repeats")
    add_cpu_option(p)
    p.add_argument("--sweep", action="store_true", help="train-step time vs batch size and width")
    p.add_argument(
        "--precision",
        choices=["float32", "bfloat16"],
        default="float32",
        help="bfloat16: the mixed-precision policy (bfloat16 compute, float32 parameters and statistics)",
    )
    p.add_argument(
        "--escnn-python",
        default=os.environ.get("EQUIJAX_ESCNN_PYTHON"),
        help="a python with torch and escnn: adds escnn rows, interleaved with the others (see benchmarks/README.md)",
    )
    args = p.parse_args()
    if args.quick:
        args.batch, args.width, args.repeats = 16, 0.25, 3
    cpu = apply_cpu_option(args)
    print(f"JAX {jax.__version__}, backend {jax.default_backend()}, devices {jax.devices()}, {cpu}")
    names = ["c8", "c4"] if args.model == "both" else [args.model]
    for name in names:
        group = args.group or ("C8" if name == "c8" else "C4")
        if args.sweep:
            sweep(name, group, max(3, args.repeats // 3), args.precision)
        else:
            compare(
                name,
                group,
                args.width,
                args.batch,
                args.repeats,
                escnn_python=args.escnn_python,
                precision=args.precision,
            )


if __name__ == "__main__":
    main()
