"""``equijax-train``: train a model from `equijax.models` on rotated MNIST."""

from __future__ import annotations

import argparse
import sys

from ._config import MODEL_NAMES, OPTIMIZERS, PRECISIONS, SCHEDULES, TrainConfig


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, without the long usage text (`--help` has it)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    d = TrainConfig()
    p = _Parser(
        prog="equijax-train",
        description="Train an equivariant (or baseline) CNN on rotated MNIST; jit-compiled, data parallel "
        "over all local devices, with per-epoch checkpoints.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--model", choices=MODEL_NAMES, default=d.model, help="c8: C8SteerableCNN; c4: C4CNN; cnn: baseline")
    p.add_argument("--width", type=float, default=d.width, help="channel multiplier")
    p.add_argument("--group", default=d.group, help="rotation group C<N> for c8/c4 (default: C8 / C4)")
    p.add_argument("--no-batch-norm", dest="batch_norm", action="store_false", help="c4/cnn without batch norm")
    p.add_argument(
        "--dataset",
        default=d.dataset,
        help="'sample' (bundled 2k/2k), 'mnist-rot' (downloaded to $EQUIJAX_DATA or ~/.cache/equijax), or a path: "
        "MNIST-rot zip/.amat/directory, a saved dataset .npz, or plain MNIST (.npz / IDX directory) from which "
        "the 12k/50k protocol is built",
    )
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer)
    p.add_argument("--lr", type=float, default=d.lr, help="peak learning rate")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--schedule", choices=SCHEDULES, default=d.schedule)
    p.add_argument("--no-augment", dest="augment", action="store_false", help="no random rotations")
    p.add_argument("--aug-supersample", type=int, default=d.aug_supersample, help="samples per pixel per axis")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=d.precision,
        help="bfloat16: mixed precision (bfloat16 compute, float32 parameters and batch-norm statistics)",
    )
    p.add_argument("--eval-batch-size", type=int, default=d.eval_batch_size)
    p.add_argument("--eval-every", type=int, default=d.eval_every, help="test every N epochs (0: only at the end)")
    p.add_argument("--invariance-samples", type=int, default=d.invariance_samples)
    p.add_argument("--devices", type=int, default=d.devices, help="local devices to shard over (default: all)")
    p.add_argument("--ckpt-dir", default=d.ckpt_dir, help="write checkpoint.eqx here after every epoch")
    p.add_argument("--resume", action="store_true", help="continue the run in --ckpt-dir")
    p.add_argument("--metrics", default=d.metrics, help="write per-epoch metrics and a summary as JSON lines")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no tqdm bars")
    p.add_argument(
        "--no-fast-cpu-convolutions",
        dest="fast_cpu",
        action="store_false",
        help="keep XLA:CPU's default convolutions (by default equijax-train turns on XLA's YNNPACK fusions, "
        "about 1.5x faster on CPU; see equijax.enable_fast_cpu_convolutions)",
    )
    p.add_argument(
        "--distributed",
        action="store_true",
        help="multi-host: call jax.distributed.initialize() first (settings from the cluster environment)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (2 with a one-line error on bad input)."""
    parser = _parser()
    args = vars(parser.parse_args(argv))
    if args.pop("fast_cpu"):
        from .._cpu import enable_fast_cpu_convolutions

        try:
            enable_fast_cpu_convolutions()
        except RuntimeError:  # called in a process whose JAX already runs: keep its settings
            pass
    from ._loop import fit

    if args.pop("distributed"):
        import jax

        jax.distributed.initialize()
    try:
        fit(TrainConfig(**args))
    except (ValueError, FileNotFoundError, ConnectionError) as e:
        print(f"equijax-train: error: {e}", file=sys.stderr)
        return 2
    return 0
