"""Training configuration and the model registry."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable

import equinox as eqx
import jax.numpy as jnp

from .. import models
from ..internal import is_int, is_real

# name -> (constructor(key, n_classes, width, N, batch_norm, reflections), input size, default group or None)
_MODELS: dict[str, tuple[Callable, int, str | None]] = {
    "c8": (
        lambda key, n, width, N, bn, refl: models.C8SteerableCNN(key, n, N=N, width=width, reflections=refl),
        29,
        "C8",
    ),
    "c4": (
        lambda key, n, width, N, bn, refl: models.C4CNN(key, n, batch_norm=bn, width=width, N=N, reflections=refl),
        33,
        "C4",
    ),
    "cnn": (lambda key, n, width, N, bn, refl: models.CNN(key, n, batch_norm=bn, width=width), 33, None),
}
MODEL_NAMES = tuple(_MODELS)
OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine")
# precision name -> the dtype the model computes in (None: that of its float32 parameters)
PRECISIONS = {"float32": None, "bfloat16": jnp.bfloat16}

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
      (the plain baseline, 33x33). `width` multiplies the channels; `group` changes the
      symmetry group of c8/c4: ``"C<N>"`` (N rotations) or ``"D<N>"`` (N rotations and
      reflections); `batch_norm` (a bool) applies to c4 and cnn (c8 always has it).
    - `n_classes`: the number of classes (the dataset's labels must lie below it).
    - `dataset`: ``"sample"``, ``"mnist-rot"`` or a path (see `equijax.data.load_dataset`).
    - `epochs`, `batch_size`, `optimizer` (adam, adamw, sgd with momentum 0.9), `lr`,
      `weight_decay`, `schedule` (constant or cosine decay to 0 over the run).
    - `augment`: random rotations of each training digit, drawn on device, with
      `aug_supersample` samples per pixel per axis.
    - `seed`: initialisation, shuffling and augmentation all derive from it.
    - `precision`: ``"float32"``, or ``"bfloat16"`` for mixed precision (bfloat16 compute,
      float32 parameters, optimizer state and batch-norm statistics; for GPUs/TPUs).
    - `eval_batch_size`, `eval_every` (0: only at the end), `invariance_samples` (test
      digits used for the 90-degree rotation (and, for ``D<N>``, mirror) invariance check).
    - `devices`: how many local devices to shard the batch over (None: all).
    - `ckpt_dir`: the directory of ``checkpoint.eqx``, written after every epoch; `resume`
      continues the (crashed or stopped) run recorded there, exactly, with the same settings.
    - `init_from`: a checkpoint file, or a directory holding ``checkpoint.eqx``, whose model
      parameters and batch-norm statistics start a new run (same architecture; fresh
      optimizer state, schedule and epoch count): to train a finished run longer or
      fine-tune it. Ignored by ``resume=True``, whose checkpoint holds the whole state.
    - `metrics` (JSON-lines file), `progress` (tqdm bars).

    **Raises:** `TypeError` naming the field for a value of the wrong type (`batch_norm`,
    `augment`, `resume`, `progress` must be bools; paths strings), `ValueError` naming the
    field for any value out of range.
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
    init_from: str | None = None

    def __post_init__(self):
        if not isinstance(self.model, str) or self.model not in _MODELS:
            raise ValueError(f"unknown `model` {self.model!r}; expected one of {', '.join(MODEL_NAMES)}")
        for name in ("batch_norm", "augment", "resume", "progress"):
            v = getattr(self, name)
            if not isinstance(v, bool):
                raise TypeError(f"`{name}` (={v!r}) must be a bool (True or False)")
        _positive_real("width", self.width)
        _positive_real("lr", self.lr)
        if not is_real(self.weight_decay) or not 0 <= self.weight_decay < float("inf"):
            raise ValueError(f"`weight_decay` (={self.weight_decay!r}) must be a non-negative finite number")
        for name in ("n_classes", "epochs", "batch_size", "aug_supersample", "eval_batch_size", "invariance_samples"):
            _positive_int(name, getattr(self, name))
        for name in ("eval_every", "seed"):
            v = getattr(self, name)
            if not is_int(v) or v < 0:
                raise ValueError(f"`{name}` (={v!r}) must be a non-negative integer")
        if self.devices is not None:
            _positive_int("devices", self.devices)
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown `optimizer` {self.optimizer!r}; expected one of {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown `schedule` {self.schedule!r}; expected one of {', '.join(SCHEDULES)}")
        if not isinstance(self.precision, str) or self.precision not in PRECISIONS:
            raise ValueError(f"unknown `precision` {self.precision!r}; expected one of {', '.join(PRECISIONS)}")
        if self.group is not None:  # validated, and spelt canonically ('d4' -> 'D4')
            object.__setattr__(self, "group", self.group_name)
        if self.model == "c8" and not self.batch_norm:
            raise ValueError("`batch_norm` (=False) does not apply to model 'c8', which always has batch norm")
        _path_field(self, "dataset", optional=False)
        for name in ("ckpt_dir", "metrics", "init_from"):
            _path_field(self, name, optional=True)
        if self.resume and self.ckpt_dir is None:
            raise ValueError("`resume` needs `ckpt_dir`, the directory holding the checkpoint")

    def _group_match(self):
        default = _MODELS[self.model][2]
        if self.group is None:
            return re.fullmatch(r"([CD])(\d+)", default) if default else None
        if default is None:
            raise ValueError(
                f"`group` (={self.group!r}) does not apply to model {self.model!r}, which is not equivariant"
            )
        m = re.fullmatch(r"([CcDd])(\d+)", self.group) if isinstance(self.group, str) else None
        if m is None or int(m.group(2)) < 1:
            raise ValueError(
                f"`group` (={self.group!r}) must be 'C<N>' (N rotations, such as 'C4', 'C8', 'C16') or "
                "'D<N>' (N rotations and reflections, such as 'D4') with N >= 1"
            )
        return m

    @property
    def rotation_order(self) -> int | None:
        """N of the model's C_N or D_N (None for the plain CNN)."""
        m = self._group_match()
        return None if m is None else int(m.group(2))

    @property
    def reflections(self) -> bool:
        """Whether the model's group has reflections (``group="D<N>"``)."""
        m = self._group_match()
        return m is not None and m.group(1).upper() == "D"

    @property
    def group_name(self) -> str | None:
        """``"C<N>"`` or ``"D<N>"`` (None for the plain CNN)."""
        m = self._group_match()
        return None if m is None else f"{m.group(1).upper()}{int(m.group(2))}"

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
        return eqx.nn.make_with_state(build)(
            key, self.n_classes, self.width, self.rotation_order, self.batch_norm, self.reflections
        )


def canonical_group(model, group) -> str | None:
    """The group a (model, group) pair of a recorded configuration means: ``"C8"`` for
    ``("c8", None)``, ``"D4"`` for ``("c4", "d4")``; the value itself if it is not valid."""
    if group is None:
        entry = _MODELS.get(model) if isinstance(model, str) else None
        return entry[2] if entry else None
    m = re.fullmatch(r"([CcDd])(\d+)", group) if isinstance(group, str) else None
    return f"{m.group(1).upper()}{int(m.group(2))}" if m else group


def precision_dtype(precision: str):
    """The dtype a model computes in under `precision` (None for ``"float32"``: the
    parameters' own).

    **Raises:** `ValueError` if `precision` is not a key of `PRECISIONS`.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"`precision` (={precision!r}) must be one of {', '.join(PRECISIONS)}")
    return PRECISIONS[precision]


def _path_field(config, name: str, *, optional: bool) -> None:
    """A path-valued field: a non-empty string (a `PathLike` is stored as its string)."""
    v = getattr(config, name)
    if v is None and optional:
        return
    if isinstance(v, os.PathLike):
        v = os.fspath(v)
        object.__setattr__(config, name, v)
    if not isinstance(v, str):
        kind = "a path (str) or None" if optional else "a string"
        raise TypeError(f"`{name}` (={v!r}) must be {kind}")
    if not v.strip():
        raise ValueError(f"`{name}` (={v!r}) must not be empty" + (" (leave it out for none)" if optional else ""))


def _positive_real(name, v):
    if not is_real(v) or not v > 0 or v != v or v == float("inf"):
        raise ValueError(f"`{name}` (={v!r}) must be a positive finite number")


def _positive_int(name, v):
    if not is_int(v) or v < 1:
        raise ValueError(f"`{name}` (={v!r}) must be a positive integer")
