"""``equijax-train``: train a model from `equijax.models` on rotated MNIST."""

from __future__ import annotations

import argparse
import re
import sys
import warnings

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
    )
    add = p.add_argument
    add("--model", choices=MODEL_NAMES, default=d.model, help="c8: C8SteerableCNN; c4: C4CNN; cnn: the plain "
        "baseline (default: %(default)s)")  # fmt: skip
    add("--width", type=float, default=d.width, help="channel multiplier (default: %(default)s)")
    add(
        "--group",
        default=d.group,
        metavar="{C<N>,D<N>}",
        help="symmetry group of c8/c4: C<N> (N rotations) or D<N> (N rotations and reflections), e.g. C16 or D4 "
        "(default: C8 for c8, C4 for c4)",
    )
    add("--no-batch-norm", dest="batch_norm", action="store_false", help="c4/cnn without batch norm")
    add(
        "--dataset",
        default=d.dataset,
        help="'sample' (bundled 2k/2k), 'mnist-rot' (downloaded to $EQUIJAX_DATA or ~/.cache/equijax), or a path: "
        "MNIST-rot zip/.amat/directory, a saved dataset .npz, or plain MNIST (.npz / IDX directory) from which "
        "the 12k/50k protocol is built (default: %(default)s)",
    )
    add("--epochs", type=int, default=d.epochs, help="epochs of the run (default: %(default)s)")
    add("--batch-size", type=int, default=d.batch_size, help="global batch size (default: %(default)s)")
    add("--optimizer", choices=OPTIMIZERS, default=d.optimizer, help="sgd has Nesterov momentum 0.9 "
        "(default: %(default)s)")  # fmt: skip
    add("--lr", type=float, default=d.lr, help="peak learning rate (default: %(default)s)")
    add("--weight-decay", type=float, default=d.weight_decay, help="L2 penalty (adam, sgd) or decoupled decay "
        "(adamw) (default: %(default)s)")  # fmt: skip
    add(
        "--schedule",
        choices=SCHEDULES,
        default=d.schedule,
        help="learning rate: constant, or cosine decay to 0 over the run (default: %(default)s)",
    )
    add("--no-augment", dest="augment", action="store_false", help="no random rotations of the training digits")
    add("--aug-supersample", type=int, default=d.aug_supersample, help="augmentation samples per pixel per axis "
        "(default: %(default)s)")  # fmt: skip
    add("--seed", type=int, default=d.seed, help="initialisation, shuffling and augmentation (default: %(default)s)")
    add("--precision", choices=tuple(PRECISIONS), default=d.precision, help="bfloat16: mixed precision (bfloat16 "
        "compute, float32 parameters and batch-norm statistics) (default: %(default)s)")  # fmt: skip
    add("--eval-batch-size", type=int, default=d.eval_batch_size, help="test batch size (default: %(default)s)")
    add("--eval-every", type=int, default=d.eval_every, help="test every N epochs (default: 0, only at the end)")
    add("--invariance-samples", type=int, default=d.invariance_samples, help="test digits for the 90-degree "
        "rotation (and D<N> mirror) invariance check (default: %(default)s)")  # fmt: skip
    add("--devices", type=int, default=d.devices, help="local devices to shard over (default: all)")
    add("--ckpt-dir", default=d.ckpt_dir, help="write checkpoint.eqx here after every epoch (default: none)")
    add("--resume", action="store_true", help="continue the run in --ckpt-dir after a crash (same settings)")
    add(
        "--init-from",
        default=d.init_from,
        metavar="CKPT",
        help="start a new run from the model and batch-norm statistics of this checkpoint (a checkpoint.eqx or "
        "its directory; same architecture, fresh optimizer and schedule): to train a finished run longer or "
        "fine-tune it (default: none)",
    )
    add("--metrics", default=d.metrics, help="write per-epoch metrics and a summary as JSON lines (default: none)")
    add("--no-progress", dest="progress", action="store_false", help="no tqdm bars")
    add(
        "--no-fast-cpu-convolutions",
        dest="fast_cpu",
        action="store_false",
        help="keep XLA:CPU's standard convolutions (otherwise equijax-train turns on XLA's YNNPACK fusions, "
        "about 1.5x faster on CPU; see equijax.enable_fast_cpu_convolutions)",
    )
    add(
        "--distributed",
        action="store_true",
        help="multi-host: call jax.distributed.initialize() first (settings from the cluster environment)",
    )
    return p


def _flag_names(parser: argparse.ArgumentParser) -> dict[str, str]:
    """TrainConfig field -> its flag, for fields whose flag is ``--field-name``."""
    names = {}
    for action in parser._actions:
        flag = "--" + action.dest.replace("_", "-")
        if flag in action.option_strings:
            names[action.dest] = flag
    return names


def _cli_message(e: BaseException, flags: dict[str, str]) -> str:
    """One line, the configuration's field names (`ckpt_dir`) written as flags (`--ckpt-dir`)."""
    if isinstance(e, OSError) and e.strerror and e.filename:
        msg = f"{e.filename}: {e.strerror}"
    else:
        msg = str(e) or type(e).__name__
    msg = " ".join(msg.split())
    return re.sub(r"`(\w+)`", lambda m: f"`{flags.get(m.group(1), m.group(1))}`", msg)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (2 with a one-line error on bad input)."""
    parser = _parser()
    args = vars(parser.parse_args(argv))
    flags = _flag_names(parser)
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

    def show(message, category, filename, lineno, file=None, line=None):  # warnings as one line each
        print(f"equijax-train: warning: {_cli_message(Warning(str(message)), flags)}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        try:
            config = TrainConfig(**args)
            fit(config)
        except (ValueError, OSError) as e:  # OSError includes FileNotFoundError and ConnectionError
            print(f"equijax-train: error: {_cli_message(e, flags)}", file=sys.stderr)
            return 2
    return 0
