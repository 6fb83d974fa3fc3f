"""Training configuration and the model registry."""

from __future__ import annotations

import dataclasses
import numbers
import re
from collections.abc import Callable

import equinox as eqx

from .. import models

# name -> (constructor(key, n_classes, width, N, batch_norm), input size, default rotation order or None)
_MODELS: dict[str, tuple[Callable, int, int | None]] = {
    "c8": (lambda key, n, width, N, bn: models.C8SteerableCNN(key, n, N=N, width=width), 29, 8),
    "c4": (lambda key, n, width, N, bn: models.C4CNN(key, n, batch_norm=bn, width=width, N=N), 33, 4),
    "cnn": (lambda key, n, width, N, bn: models.CNN(key, n, batch_norm=bn, width=width), 33, None),
}
MODEL_NAMES = tuple(_MODELS)
OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine")
PRECISIONS = ("float32", "bfloat16")

# fields that define the network's parameter shapes: a checkpoint must agree on all of them
ARCHITECTURE_FIELDS = ("model", "width", "group", "batch_norm", "n_classes")
# fields that define the training run: a resumed run must agree on these too
RUN_FIELDS = (
    "dataset",
    "epochs",
    "batch_size",
    "optimizer",
    "lr",
    "weight_decay",
    "schedule",
    "augment",
    "aug_supersample",
    "seed",
    "precision",
)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (the CLI's flags, one to one).

    **Fields:**

    - `model`: ``"c8"`` (C8SteerableCNN, 29x29 input), ``"c4"`` (C4CNN, 33x33) or ``"cnn"``
      (the plain baseline, 33x33). `width` multiplies the channels; `group` (``"C<N>"``)
      changes the rotation order of c8/c4; `batch_norm` applies to c4 and cnn (c8 always has it).
    - `dataset`: ``"sample"``, ``"mnist-rot"`` or a path (see `equijax.data.load_dataset`).
    - `epochs`, `batch_size`, `optimizer` (adam, adamw, sgd with momentum 0.9), `lr`,
      `weight_decay`, `schedule` (constant or cosine decay to 0 over the run).
    - `augment`: random rotations of each training digit, drawn on device, with
      `aug_supersample` samples per pixel per axis.
    - `seed`: initialisation, shuffling and augmentation all derive from it.
    - `precision`: ``"float32"``, or ``"bfloat16"`` for mixed precision (bfloat16 compute,
      float32 parameters, optimizer state and batch-norm statistics; for GPUs/TPUs).
    - `eval_batch_size`, `eval_every` (0: only at the end), `invariance_samples` (test
      digits used for the 90-degree invariance check).
    - `devices`: how many local devices to shard the batch over (None: all).
    - `ckpt_dir`, `resume`, `metrics` (JSON-lines file), `progress` (tqdm bars).

    **Raises:** `ValueError` naming the field for any value out of range.
    """

    model: str = "c8"
    width: float = 1.0
    group: str | None = None
    batch_norm: bool = True
    n_classes: int = 10
    dataset: str = "sample"
    epochs: int = 10
    batch_size: int = 64
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    schedule: str = "cosine"
    augment: bool = True
    aug_supersample: int = 1
    seed: int = 0
    precision: str = "float32"
    eval_batch_size: int = 500
    eval_every: int = 0
    invariance_samples: int = 500
    devices: int | None = None
    ckpt_dir: str | None = None
    resume: bool = False
    metrics: str | None = None
    progress: bool = True

    def __post_init__(self):
        if self.model not in _MODELS:
            raise ValueError(f"unknown `model` {self.model!r}; expected one of {', '.join(MODEL_NAMES)}")
        _positive_real("width", self.width)
        _positive_real("lr", self.lr)
        if not _is_real(self.weight_decay) or self.weight_decay < 0:
            raise ValueError(f"`weight_decay` (={self.weight_decay!r}) must be a non-negative number")
        for name in ("n_classes", "epochs", "batch_size", "aug_supersample", "eval_batch_size", "invariance_samples"):
            _positive_int(name, getattr(self, name))
        for name in ("eval_every", "seed"):
            v = getattr(self, name)
            if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 0:
                raise ValueError(f"`{name}` (={v!r}) must be a non-negative integer")
        if self.devices is not None:
            _positive_int("devices", self.devices)
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown `optimizer` {self.optimizer!r}; expected one of {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown `schedule` {self.schedule!r}; expected one of {', '.join(SCHEDULES)}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown `precision` {self.precision!r}; expected one of {', '.join(PRECISIONS)}")
        _ = self.rotation_order  # validates `group`
        if self.resume and self.ckpt_dir is None:
            raise ValueError("`resume` needs `ckpt_dir`, the directory holding the checkpoint")

    @property
    def rotation_order(self) -> int | None:
        """N of the model's C_N (None for the plain CNN)."""
        default = _MODELS[self.model][2]
        if self.group is None:
            return default
        m = re.fullmatch(r"[Cc](\d+)", str(self.group))
        if default is None:
            raise ValueError(
                f"`group` (={self.group!r}) does not apply to model {self.model!r}, which is not equivariant"
            )
        if m is None or int(m.group(1)) < 1:
            raise ValueError(f"`group` (={self.group!r}) must be a rotation group 'C<N>' such as 'C4', 'C8' or 'C16'")
        return int(m.group(1))

    @property
    def input_size(self) -> int:
        return _MODELS[self.model][1]

    def architecture(self) -> dict:
        return {f: getattr(self, f) for f in ARCHITECTURE_FIELDS}

    def run(self) -> dict:
        return {f: getattr(self, f) for f in RUN_FIELDS}

    def build_model(self, key):
        """``(model, state)`` for this configuration."""
        build = _MODELS[self.model][0]
        return eqx.nn.make_with_state(build)(key, self.n_classes, self.width, self.rotation_order, self.batch_norm)


def _is_real(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _positive_real(name, v):
    if not _is_real(v) or not v > 0 or v != v or v == float("inf"):
        raise ValueError(f"`{name}` (={v!r}) must be a positive finite number")


def _positive_int(name, v):
    if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 1:
        raise ValueError(f"`{name}` (={v!r}) must be a positive integer")
