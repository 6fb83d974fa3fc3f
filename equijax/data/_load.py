"""`load_dataset`, a dataset from the trainer's ``--dataset`` spec (the bundled sample,
MNIST-rot, or a path to one of the formats equijax reads), and `save_dataset`, whose plain
``.npz`` it reads back. Everything is read with numpy from plain formats; nothing is ever
unpickled."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ._dataset import Dataset, load_sample
from ._files import _members, _open_npz, atomic_write
from ._mnist import build_rotated_mnist
from ._mnist_rot import MNIST_ROT_TRAIN, default_cache_dir, download_mnist_rot, load_mnist_rot


def save_dataset(path, dataset: Dataset, *, uint8: bool = True) -> None:
    """Write `dataset` as a plain ``.npz`` (atomically, with the permissions of a plain file
    write) that `load_dataset` reads back; ``uint8=True`` stores pixels rounded to 1/255
    (4x smaller).

    **Raises:** `TypeError` if `dataset` is not a `Dataset`; `ValueError` if `path` is empty
    or a directory.
    """
    if not isinstance(dataset, Dataset):
        raise TypeError(f"`dataset` must be an equijax Dataset, got {type(dataset).__name__}")
    if not isinstance(path, (str, os.PathLike)) or not str(path) or Path(path).is_dir():
        raise ValueError(f"`path` (={path!r}) must name a file to write (not a directory)")

    def conv(x):
        return np.round(x * 255.0).astype(np.uint8) if uint8 else x

    arrays = dict(x_train=conv(dataset.x_train), y_train=dataset.y_train.astype(np.uint8), x_test=conv(dataset.x_test))
    arrays["y_test"] = dataset.y_test.astype(np.uint8)
    atomic_write(
        path,
        lambda f: np.savez_compressed(
            f, name=np.array(dataset.name), description=np.array(dataset.description), **arrays
        ),
    )


def load_dataset(spec: str = "sample", *, cache_dir=None, download: bool = True, seed: int = 0) -> Dataset:
    """A dataset from a short spec, as the trainer's ``--dataset`` takes it.

    - ``"sample"``: the bundled 2k/2k sample (`load_sample`).
    - ``"mnist-rot"``: the MNIST-rot benchmark from `cache_dir`, downloaded if missing and
      `download` is true.
    - a path to the MNIST-rot zip, a directory or ``.amat`` file of it (`load_mnist_rot`);
    - a path to a ``.npz`` written by `save_dataset` (has a ``description``);
    - a path to plain MNIST (keras ``.npz`` or a directory of IDX files): the 12k/50k
      protocol is built from it with `seed` (`build_rotated_mnist`).

    **Raises:** `FileNotFoundError`, `ValueError` or `ConnectionError`, each saying what was
    expected.
    """
    if not isinstance(spec, (str, os.PathLike)):
        raise TypeError(f"`spec` (={spec!r}) must be 'sample', 'mnist-rot' or a path")
    spec_s = str(spec)
    if spec_s == "sample":
        return load_sample()
    if spec_s == "mnist-rot":
        cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        target = cache_dir / "mnist_rotation_new.zip"
        if not target.exists() and not download:
            raise FileNotFoundError(f"MNIST-rot is not in {cache_dir} and `download` is off")
        return load_mnist_rot(download_mnist_rot(cache_dir))
    if not spec_s:
        raise ValueError("`spec` (='') must be 'sample', 'mnist-rot' or a path")
    path = Path(spec_s)
    if not path.exists():
        raise FileNotFoundError(
            f"dataset {spec_s!r} is neither 'sample', 'mnist-rot' nor an existing file or directory"
        )
    if path.suffix in (".zip", ".amat") or (path.is_dir() and (path / MNIST_ROT_TRAIN).exists()):
        return load_mnist_rot(path)
    if path.is_file() and path.suffix == ".npz":
        with _open_npz(path, "a valid dataset file") as f:
            if "description" in f.files:
                keys = ("x_train", "y_train", "x_test", "y_test")
                missing = [k for k in keys if k not in f.files]
                if missing:
                    raise ValueError(f"{path} is not a valid dataset file: it lacks {', '.join(missing)}")
                arrays = dict(zip(keys, _members(f, keys, path)))
                meta = _members(f, ["description"] + (["name"] if "name" in f.files else []), path)
                if any(m.shape != () or m.dtype.kind not in "US" for m in meta):
                    raise ValueError(f"{path} is not a valid dataset file: its name/description are not strings")
                name = str(meta[1]) if len(meta) > 1 else path.stem
                try:
                    return Dataset(name, f"{meta[0]} (from {path})", **arrays)
                except ValueError as e:
                    raise ValueError(f"{path} is not a valid dataset file: {e}") from None
            missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in f.files]
            if missing:
                raise ValueError(
                    f"{path} is not a valid dataset file: it is neither a dataset written by `save_dataset` "
                    f"(no description) nor keras-layout MNIST (it lacks {', '.join(missing)})"
                )
    if path.is_dir() or path.suffix == ".npz":
        return build_rotated_mnist(path, seed=seed)
    raise ValueError(f"dataset path {path} is not a .zip/.amat (MNIST-rot), .npz or IDX directory")
