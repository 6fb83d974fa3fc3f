"""Plain (upright) MNIST, read from a keras-layout ``.npz`` or IDX files, and the
rotated-MNIST protocol rebuilt from it (`build_rotated_mnist`)."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import jax
import numpy as np

from ._dataset import Dataset, _check_labels
from ._files import _members, _open_npz
from ._transforms import rotate_images


def load_mnist(path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Plain (upright) MNIST from a keras-layout ``.npz`` (``x_train``, ``y_train``,
    ``x_test``, ``y_test``) or a directory of the four IDX files (optionally gzipped).

    **Returns:** ``(x_train, y_train, x_test, y_test)``, images ``(N, 28, 28)`` uint8.

    **Raises:** `FileNotFoundError` if `path` does not exist; `ValueError` if it is not
    MNIST in one of these layouts (missing arrays, wrong shapes, labels out of range).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"MNIST file `path`={str(path)!r} does not exist")
    if path.is_dir():
        arrays = [_read_idx_in(path, stem) for stem in ("train-images", "train-labels", "t10k-images", "t10k-labels")]
    else:
        with _open_npz(path, "a valid MNIST .npz file") as f:
            missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in f.files]
            if missing:
                raise ValueError(f"{path} is not keras-layout MNIST: it lacks {', '.join(missing)}")
            arrays = _members(f, ("x_train", "y_train", "x_test", "y_test"), path)
    x_train, y_train, x_test, y_test = arrays
    for name, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if x.ndim != 3 or x.shape[1:] != (28, 28) or x.dtype != np.uint8:
            raise ValueError(f"{path}: MNIST {name} images must be uint8 (N, 28, 28); got {x.dtype} {x.shape}")
        _check_labels(y, f"{name} labels in {path}", len(x))
    return x_train, y_train.astype(np.int32), x_test, y_test.astype(np.int32)


def _read_idx_in(directory: Path, stem: str) -> np.ndarray:
    candidates = sorted(p for p in directory.iterdir() if p.name.startswith(stem) and "idx" in p.name)
    if not candidates:
        raise ValueError(f"{directory} has no IDX file named {stem}-idx*-ubyte[.gz]")
    return read_idx(candidates[0])


def read_idx(path) -> np.ndarray:
    """A uint8 IDX file (MNIST's format, optionally gzipped) as a numpy array.

    **Raises:** `ValueError` if the file is not uint8 IDX or is truncated.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise ValueError(f"{path} could not be read (truncated or corrupt?): {e}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path} is not a uint8 IDX file (bad magic number)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path} is truncated (header incomplete)")
    shape = tuple(int(v) for v in np.frombuffer(data[4:header], dtype=">u4"))
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        raise ValueError(f"{path} has {len(data)} bytes; its header {shape} needs {expected} (truncated?)")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape).copy()


# -- the rotated-MNIST protocol built from plain MNIST ---------------------------------------


def build_rotated_mnist(
    mnist,
    n_train: int = 12000,
    n_test: int = 50000,
    *,
    seed: int = 0,
    supersample: int = 4,
    name: str | None = None,
) -> Dataset:
    """The MNIST-rot protocol made from plain MNIST: `n_train` training and `n_test`
    disjoint test digits drawn without replacement from all 70,000 MNIST digits, each rotated
    about its centre by an angle uniform in [0, 2 pi) with supersampled bilinear
    interpolation (`supersample` x `supersample` samples per pixel). Deterministic given
    `seed`.

    **Arguments:** `mnist`: a path accepted by `load_mnist`, or the tuple it returns;
    `n_train`, `n_test`; `seed`; `supersample`; `name` (default ``"rotated-mnist"``).

    **Raises:** `ValueError` if ``n_train + n_test`` exceeds the digits available.
    """
    source = str(mnist) if isinstance(mnist, (str, os.PathLike)) else "arrays"
    x_train, y_train, x_test, y_test = load_mnist(mnist) if isinstance(mnist, (str, os.PathLike)) else mnist
    x_all = np.concatenate([np.asarray(x_train), np.asarray(x_test)])
    y_all = np.concatenate([np.asarray(y_train), np.asarray(y_test)])
    for arg, v in (("n_train", n_train), ("n_test", n_test)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
            raise ValueError(f"`{arg}` (={v!r}) must be a positive integer")
    if n_train + n_test > len(x_all):
        raise ValueError(
            f"`n_train` + `n_test` (={n_train} + {n_test}) exceeds the {len(x_all)} digits in the source MNIST"
        )
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x_all))[: n_train + n_test]
    angles = rng.uniform(0.0, 2 * np.pi, size=n_train + n_test)
    images = x_all[order].astype(np.float32) / 255.0
    rotate = jax.jit(lambda x, a: rotate_images(x, a, supersample=supersample))
    chunk = 2000
    out = np.empty_like(images)
    for start in range(0, len(images), chunk):  # fixed chunk size: one compilation
        part = images[start : start + chunk]
        n = len(part)
        part = np.concatenate([part, np.zeros((chunk - n, 28, 28), np.float32)])
        ang = np.concatenate([angles[start : start + n], np.zeros(chunk - n)]).astype(np.float32)
        out[start : start + n] = np.asarray(rotate(part, ang))[:n]
    out = np.clip(out, 0.0, 1.0)
    labels = y_all[order]
    desc = (
        f"rotated MNIST built from {source}: {n_train} train / {n_test} test digits, "
        f"uniform angles, seed {seed}, {supersample}x{supersample} supersampling"
    )
    return Dataset(name or "rotated-mnist", desc, out[:n_train], labels[:n_train], out[n_train:], labels[n_train:])
