"""`Dataset`, the digit-classification data held in host memory, with the checks of its
images and labels, and `load_sample`, the real sample shipped with equijax."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

SAMPLE_FILE = Path(__file__).with_name("mnist_rot_sample.npz")
N_CLASSES = 10


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """A digit-classification dataset held in host memory.

    **Fields:** `x_train`, `x_test`: ``(N, 28, 28)`` float32 in [0, 1]; `y_train`, `y_test`:
    ``(N,)`` int32 in [0, 10); `name`: a short identifier; `description`: one line saying
    where the data came from (printed by the trainer).

    **Raises:** `ValueError` on wrong shapes, values outside [0, 1] or labels out of range.
    """

    name: str
    description: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def __post_init__(self):
        for split in ("train", "test"):
            x = _check_images(getattr(self, f"x_{split}"), f"x_{split}")
            y = _check_labels(getattr(self, f"y_{split}"), f"y_{split}", len(x))
            object.__setattr__(self, f"x_{split}", x)
            object.__setattr__(self, f"y_{split}", y)

    def __repr__(self):
        return f"Dataset({self.name!r}: {len(self.x_train)} train / {len(self.x_test)} test)"


def _check_images(x, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[1:] != (28, 28) or len(x) == 0:
        raise ValueError(f"`{name}` must have shape (N, 28, 28) with N >= 1; got shape {x.shape}")
    if x.dtype == np.uint8:
        return x.astype(np.float32) / 255.0
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"`{name}` must be uint8 or floating point in [0, 1]; got dtype {x.dtype}")
    x = x.astype(np.float32)
    lo, hi = float(np.min(x)), float(np.max(x))
    if not (np.isfinite(lo) and np.isfinite(hi) and lo >= 0.0 and hi <= 1.0):
        raise ValueError(f"`{name}` values must lie in [0, 1]; got range [{lo}, {hi}]")
    return x


def _check_labels(y, name: str, n: int) -> np.ndarray:
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"`{name}` must have shape ({n},), one label per image; got shape {y.shape}")
    if np.issubdtype(y.dtype, np.floating):
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise ValueError(f"`{name}` must hold integer labels; got non-integer values")
    elif not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"`{name}` must hold integer labels; got dtype {y.dtype}")
    lo, hi = int(np.min(y)), int(np.max(y))
    if lo < 0 or hi >= N_CLASSES:
        raise ValueError(f"`{name}` labels must lie in [0, {N_CLASSES}); got range [{lo}, {hi}]")
    return y.astype(np.int32)


def load_sample() -> Dataset:
    """The real sample shipped with equijax: 2,000 training and 2,000 test digits in the
    MNIST-rot protocol (built from MNIST with `build_rotated_mnist`, seed 0, stored as
    uint8). Good for demos and smoke tests; use the full protocol to measure accuracy."""
    with np.load(SAMPLE_FILE, allow_pickle=False) as f:
        arrays = {k: np.asarray(f[k]) for k in ("x_train", "y_train", "x_test", "y_test")}
        desc = str(f["description"])
    return Dataset("sample", desc, **arrays)
