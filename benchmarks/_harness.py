"""A small timing harness shared by the benchmarks: ahead-of-time compilation (compile time,
XLA's FLOP count and memory analysis) and interleaved timing (A B A B ...) so that machine
drift cancels between the variants being compared."""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import optax


@dataclasses.dataclass
class Compiled:
    """A jitted function compiled ahead of time for fixed arguments."""

    name: str
    fn: Callable  # the compiled executable, called with the same arguments
    args: tuple
    compile_seconds: float
    flops: float | None
    memory_bytes: int | None  # arguments + outputs + temporaries (XLA's memory analysis)
    times: list = dataclasses.field(default_factory=list)

    def run(self) -> float:
        t0 = time.perf_counter()
        jax.block_until_ready(self.fn(*self.args))
        return time.perf_counter() - t0

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def compile_ahead(name: str, fn: Callable, *args) -> Compiled:
    """Lower and compile ``jax.jit(fn)`` for `args`, timing the compilation (tracing
    included) and reading XLA's cost and memory analyses."""
    t0 = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    seconds = time.perf_counter() - t0
    flops = memory = None
    try:
        cost = compiled.cost_analysis()
        cost = cost[0] if isinstance(cost, (list, tuple)) else cost
        flops = float(cost.get("flops", 0.0)) or None
    except Exception:  # not every backend reports costs
        pass
    try:
        m = compiled.memory_analysis()
        memory = int(m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes - m.alias_size_in_bytes)
    except Exception:
        pass
    return Compiled(name, compiled, args, seconds, flops, memory)


def interleave(variants: Sequence[Compiled], repeats: int, warmup: int = 1) -> None:
    """Run each variant `warmup` times, then `repeats` rounds of one call each, in turn."""
    for v in variants:
        for _ in range(warmup):
            v.run()
    for _ in range(repeats):
        for v in variants:
            v.times.append(v.run())


def fmt_seconds(s: float | None) -> str:
    if s is None:
        return "-"
    return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def fmt_bytes(b: int | None) -> str:
    return "-" if b is None else f"{b / 2**20:.0f} MiB"


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print(f"\n{title}")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |")


def add_cpu_option(parser) -> None:
    """``--xla-default``: keep XLA:CPU's default convolutions. Without it the benchmark turns
    on XLA's YNNPACK fusions, as `equijax-train` does (`equijax.enable_fast_cpu_convolutions`)."""
    parser.add_argument(
        "--xla-default",
        action="store_true",
        help="keep XLA:CPU's default convolutions (default: YNNPACK fusions on, as equijax-train does)",
    )


def apply_cpu_option(args) -> str:
    """Apply `--xla-default` (before any JAX computation); returns a label for the tables."""
    import equijax
    from equijax.nn._conv_kernels import ynn_enabled

    if not args.xla_default:
        try:
            equijax.enable_fast_cpu_convolutions()
        except RuntimeError:  # run in a process whose JAX already started: keep its settings
            pass
    return "XLA:CPU YNNPACK fusions" if ynn_enabled() else "XLA:CPU default convolutions"


def train_step_program(static, opt):
    """``(params, state, opt_state, x, y) -> (params, state, opt_state, loss)``: forward
    (``net(x, state) -> (logits, state)``), cross-entropy, backward and the optimizer update,
    with the network's state threaded (the step every benchmark times)."""

    def train_step(params, state, opt_state, x, y):
        def loss_fn(p):
            logits, new_state = eqx.combine(p, static)(x, state)
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), new_state

        (loss, state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), state, opt_state, loss

    return train_step
