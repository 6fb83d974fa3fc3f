"""First-call compile time of small models: SO(2) steerable CNNs against a plain Equinox CNN.

    python benchmarks/small_model.py                   # 3 fresh processes per configuration
    python benchmarks/small_model.py --repeats 1       # one of each (a few minutes on 2 cores)
    python benchmarks/small_model.py --only conv       # one case: model, fourier or conv

Research users iterate on small models, where the first jitted train step (tracing, lowering,
XLA's compilation and the first run) costs more than the training itself. Every measurement
runs in a fresh Python process (no JAX or XLA cache survives between them), once with XLA:CPU's
default convolutions and once with its YNNPACK fusions
(``XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=dot,eltwise,reduce``, which is what
`equijax.enable_fast_cpu_convolutions()` sets): XLA reads its flags when JAX starts, so each
configuration needs its own process. Configurations run interleaved (A B C D A B C D ...) and
the tables show medians.

Cases (batch 16, 29x29 inputs, adam train step with cross-entropy, as `seed_c8.py` times):

- ``model``: an SO(2) model on ``rot2dOnR2(-1, maximum_frequency=3)`` with fields of the
  irreps 0..3: three 5x5 `R2Conv`s (1 -> 14 -> 28 -> 14 channels: 1,070 parameters) with
  `NormNonLinearity`s, an antialiased average pooling after the second, `NormPool`, a
  spatial mean and a linear head to 10 logits (1,192 parameters in all);
- ``fourier``: the same convolution shapes with fields of the band-limited regular
  representation (irreps 0..3 in one field) and `FourierELU`s (16 samples), `NormPool`, mean
  and head (1,100 parameters);
- ``conv``: one small `R2Conv` (irrep fields, 14 -> 28 channels, 5x5), forward + backward of
  a scalar loss, against `eqx.nn.Conv2d` of the same shape.

The plain network is an Equinox CNN with the same convolution shapes (`eqx.nn.Conv2d`,
ReLUs, a 3x3 average pooling with stride 2, mean, linear head). Columns: build (construction,
kernel bases included), trace + lower (``jax.jit(f).lower``), XLA compile (``.compile()``),
first run, their sum ("first step"), the CPU time of the first step (all threads: steadier
than wall time on a loaded machine) and the number of HLO instructions of the lowered
program; ratio = equijax / plain.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

YNN_FLAG = "--xla_cpu_experimental_ynn_fusion_type=dot,eltwise,reduce"
CASES = {
    "model": "SO(2) model, irrep fields, NormNonLinearity; adam train step, batch 16, 29x29",
    "fourier": "SO(2) model, band-limited regular fields, FourierELU; adam train step, batch 16, 29x29",
    "conv": "one R2Conv 14 -> 28 (irrep fields), 5x5, forward + backward, batch 16, 29x29",
}

# -- the networks (built in the worker process only) ---------------------------------------------


def so2_model(key, fourier: bool = False):
    """The SO(2) model (``model(x, state) -> (logits, state)``) and its state (None)."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    from equijax import gspaces, nn

    gs = gspaces.rot2dOnR2(-1, maximum_frequency=3)
    t_in = nn.FieldType(gs, [gs.trivial_repr])
    if fourier:
        irreps = [(f,) for f in range(4)]
        acts = [nn.FourierELU(gs, c, irreps, N=16) for c in (2, 4, 2)]
    else:
        irr = [gs.irrep(f) for f in range(4)]
        acts = [nn.NormNonLinearity(nn.FieldType(gs, c * irr), "n_relu") for c in (2, 4, 2)]
    keys = jax.random.split(key, 4)

    class SO2Model(eqx.Module):
        body: nn.SequentialModule
        pool: nn.NormPool
        head: eqx.nn.Linear
        in_type: nn.FieldType = eqx.field(static=True)

        def __init__(self):
            self.in_type = t_in
            self.body = nn.SequentialModule(
                nn.R2Conv(t_in, acts[0].in_type, 5, padding=2, key=keys[0]),
                acts[0],
                nn.R2Conv(acts[0].out_type, acts[1].in_type, 5, padding=2, key=keys[1]),
                acts[1],
                nn.PointwiseAvgPoolAntialiased2D(acts[1].out_type, sigma=0.66, stride=2),
                nn.R2Conv(acts[1].out_type, acts[2].in_type, 5, padding=2, key=keys[2]),
                acts[2],
            )
            self.pool = nn.NormPool(acts[2].out_type)
            self.head = eqx.nn.Linear(self.pool.out_type.size, 10, key=keys[3])

        def __call__(self, x, state):
            y = self.pool(self.body(nn.GeometricTensor(x, self.in_type))).tensor  # invariant features
            return jax.vmap(self.head)(jnp.mean(y, axis=(-2, -1))), state

    return SO2Model(), None


def plain_model(key):
    """A plain Equinox CNN with the SO(2) models' convolution shapes."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    keys = jax.random.split(key, 4)

    class PlainCNN(eqx.Module):
        convs: list
        head: eqx.nn.Linear

        def __init__(self):
            shapes = [(1, 14), (14, 28), (28, 14)]
            self.convs = [eqx.nn.Conv2d(a, b, 5, padding=2, key=k) for (a, b), k in zip(shapes, keys)]
            self.head = eqx.nn.Linear(14, 10, key=keys[3])

        def __call__(self, x, state):
            def one(x):
                x = jax.nn.relu(self.convs[0](x))
                x = jax.nn.relu(self.convs[1](x))
                x = eqx.nn.AvgPool2d(3, stride=2, padding=1)(x)
                x = jax.nn.relu(self.convs[2](x))
                return self.head(jnp.mean(x, axis=(1, 2)))

            return jax.vmap(one)(x), state

    return PlainCNN(), None


def small_conv(kind, key):
    """``(loss function of (params, x), params)`` for one 14 -> 28, 5x5 convolution."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    if kind == "equijax":
        from equijax import gspaces, nn

        gs = gspaces.rot2dOnR2(-1, maximum_frequency=3)
        irr = [gs.irrep(f) for f in range(4)]
        t_in, t_out = nn.FieldType(gs, 2 * irr), nn.FieldType(gs, 4 * irr)
        conv = nn.R2Conv(t_in, t_out, 5, padding=2, key=key)

        def apply(c, x):
            return c(nn.GeometricTensor(x, t_in)).tensor
    else:
        conv = eqx.nn.Conv2d(14, 28, 5, padding=2, key=key)

        def apply(c, x):
            return jax.vmap(c)(x)

    params, static = eqx.partition(conv, eqx.is_inexact_array)

    def loss(params, x):
        return jnp.sum(apply(eqx.combine(params, static), x) ** 2)

    return loss, params


# -- one measurement, in a fresh process ---------------------------------------------------------


def worker(case: str, kind: str) -> dict:
    """Build, trace + lower, compile and run once; returns the timings (seconds)."""
    import equinox as eqx
    import jax
    import optax

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _harness import train_step_program

    key = jax.random.key(0)
    x = jax.random.normal(jax.random.fold_in(key, 1), (16, 14 if case == "conv" else 1, 29, 29))
    jax.block_until_ready(x)  # the backend is up before anything is timed
    t0 = time.perf_counter()
    if case == "conv":
        loss, params = small_conv(kind, key)
        fn, args = jax.value_and_grad(loss), (params, x)
    else:
        model, state = so2_model(key, fourier=case == "fourier") if kind == "equijax" else plain_model(key)
        y = jax.random.randint(jax.random.fold_in(key, 2), (16,), 0, 10)
        params, static = eqx.partition(model, eqx.is_inexact_array)
        opt = optax.adam(1e-3)
        opt_state = opt.init(params)
        fn, args = train_step_program(static, opt), (params, state, opt_state, x, y)
    jax.block_until_ready(args)
    t_build = time.perf_counter() - t0
    c0, t0 = time.process_time(), time.perf_counter()
    lowered = jax.jit(fn).lower(*args)
    t_lower = time.perf_counter() - t0
    t0 = time.perf_counter()
    compiled = lowered.compile()
    t_compile = time.perf_counter() - t0
    t0 = time.perf_counter()
    jax.block_until_ready(compiled(*args))
    t_run = time.perf_counter() - t0
    cpu = time.process_time() - c0
    t0 = time.perf_counter()
    jax.block_until_ready(compiled(*args))
    t_second = time.perf_counter() - t0
    hlo = lowered.as_text(dialect="hlo")
    return {
        "build": t_build,
        "lower": t_lower,
        "compile": t_compile,
        "run": t_run,
        "second": t_second,
        "first": t_lower + t_compile + t_run,
        "cpu": cpu,
        "hlo_ops": sum(1 for line in hlo.splitlines() if " = " in line),
        "params": sum(a.size for a in jax.tree_util.tree_leaves(params)),
    }


def measure(case: str, kind: str, ynn: bool) -> dict:
    """`worker` in a fresh process, with or without the YNNPACK fusions."""
    flags = [f for f in os.environ.get("XLA_FLAGS", "").split() if "ynn_fusion_type" not in f]
    env = dict(os.environ, XLA_FLAGS=" ".join(flags + ([YNN_FLAG] if ynn else [])), JAX_PLATFORMS="cpu")
    out = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--worker", case, kind],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"worker {case} {kind} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def fmt(s: float) -> str:
    return f"{s * 1e3:.0f} ms" if s < 1 else f"{s:.2f} s"


def table(case: str, medians: dict, repeats: int) -> dict:
    """Prints one case's table; returns its ratios (first step and its CPU time, equijax / plain)."""
    print(f"\n{CASES[case]} (median of {repeats} fresh processes)")
    header = ["XLA:CPU", "network", "params", "build", "trace + lower", "compile", "first run", "first step"]
    header += ["CPU time", "HLO ops"]
    rows, ratios = [], {}
    for ynn in (False, True):
        label = "YNNPACK fusions" if ynn else "default"
        e, p = medians[(case, "equijax", ynn)], medians[(case, "plain", ynn)]
        for name, m in (("equijax", e), ("plain", p)):
            cells = [fmt(m[c]) for c in ("build", "lower", "compile", "run", "first", "cpu")]
            rows.append([label, name, f"{m['params']:.0f}", *cells, f"{m['hlo_ops']:.0f}"])
        ratios[label] = (e["first"] / p["first"], e["cpu"] / p["cpu"])
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |")
    print("first step equijax / plain: " + "; ".join(f"{k} {a:.2f} (CPU time {b:.2f})" for k, (a, b) in ratios.items()))
    return ratios


def run(cases, repeats: int) -> dict:
    """Interleaved measurements; prints one table per case and returns their ratios."""
    configs = [(c, k, y) for c in cases for y in (False, True) for k in ("equijax", "plain")]
    results: dict = {cfg: [] for cfg in configs}
    for _ in range(repeats):
        for cfg in configs:
            results[cfg].append(measure(*cfg))
    medians = {cfg: {m: statistics.median(r[m] for r in rs) for m in rs[0]} for cfg, rs in results.items()}
    return {case: table(case, medians, repeats) for case in cases}


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        print(json.dumps(worker(sys.argv[2], sys.argv[3])))
        return
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=3, help="fresh processes per configuration")
    p.add_argument("--only", choices=sorted(CASES), default=None)
    args = p.parse_args()
    if args.repeats < 1:
        p.error(f"--repeats (={args.repeats}) must be at least 1")
    run([args.only] if args.only else list(CASES), args.repeats)


if __name__ == "__main__":
    main()
