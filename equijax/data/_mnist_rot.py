"""The MNIST-rot benchmark (Larochelle et al., 2007): its ``.amat`` text files parsed
(from the official zip, its directory or either file) and cached as plain arrays, and the
checked download of ``mnist_rotation_new.zip``."""

from __future__ import annotations

import io
import os
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ._dataset import Dataset, _check_labels
from ._files import _chmod, _new_file_mode, atomic_write, sha256_of

MNIST_ROT_URL = "http://www.iro.umontreal.ca/~lisa/icml2007data/mnist_rotation_new.zip"
MNIST_ROT_TRAIN = "mnist_all_rotation_normalized_float_train_valid.amat"
MNIST_ROT_TEST = "mnist_all_rotation_normalized_float_test.amat"
MNIST_ROT_SIZES = (12000, 50000)


def _parse_amat(text_file, label: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        data = np.loadtxt(text_file, dtype=np.float32, ndmin=2)
    except ValueError as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ValueError(f"{label} is not a complete .amat file (truncated?): {first}") from None
    if data.ndim != 2 or data.shape[1] != 785:
        raise ValueError(f"{label}: rows must have 785 numbers (784 pixels and a label); got shape {data.shape}")
    x = data[:, :784].reshape(-1, 28, 28)
    return x, _check_labels(data[:, 784], f"labels in {label}", len(data))


def load_mnist_rot(path, *, strict: bool = True) -> Dataset:
    """The MNIST-rot benchmark (Larochelle et al. 2007): 12,000 training(+validation) and
    50,000 test digits, from the official ``mnist_rotation_new.zip``, a directory holding its
    two ``.amat`` files, or either ``.amat`` file (its sibling is looked up beside it).

    Parsed text is cached beside the source as ``.mnist_rot_cache.npz`` (plain arrays), so
    later loads take a fraction of a second; the cache is ignored if the source changed, and
    is written only by a load that succeeds (a refused load leaves nothing behind).

    **Arguments:** `path`; `strict` checks the official row counts (12,000 / 50,000).

    **Raises:** `FileNotFoundError` if `path` or a needed file is missing; `ValueError` if a
    file is truncated, corrupt or has labels out of range.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"MNIST-rot `path`={str(path)!r} does not exist")
    if path.is_file() and path.suffix == ".amat":
        path = path.parent
    cache = (path.parent / f".{path.name}.cache.npz") if path.is_file() else (path / ".mnist_rot_cache.npz")
    stamp = _source_stamp(path)
    cached = _read_cache(cache, stamp)
    if cached is not None:
        x_tr, y_tr, x_te, y_te = cached
    elif path.is_dir():
        files = [path / MNIST_ROT_TRAIN, path / MNIST_ROT_TEST]
        for f in files:
            if not f.exists():
                raise FileNotFoundError(f"MNIST-rot directory {path} lacks {f.name}")
        (x_tr, y_tr), (x_te, y_te) = (_parse_amat(f, str(f)) for f in files)
    else:
        try:
            with zipfile.ZipFile(path) as z:
                names = {Path(n).name: n for n in z.namelist()}
                parsed = []
                for member in (MNIST_ROT_TRAIN, MNIST_ROT_TEST):
                    if member not in names:
                        raise ValueError(f"{path} is not the MNIST-rot zip: it lacks {member}")
                    with z.open(names[member]) as f:
                        parsed.append(_parse_amat(io.TextIOWrapper(f), f"{path}:{member}"))
        except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile) as e:
            raise ValueError(f"{path} is not a readable zip file (truncated or corrupt?): {e}") from None
        (x_tr, y_tr), (x_te, y_te) = parsed
    if strict:
        for member, x, n in zip((MNIST_ROT_TRAIN, MNIST_ROT_TEST), (x_tr, x_te), MNIST_ROT_SIZES):
            if len(x) != n:
                raise ValueError(f"{path}: {member} has {len(x)} rows; the MNIST-rot file has {n} (truncated?)")
    desc = f"MNIST-rot (Larochelle et al. 2007) from {path}: {len(x_tr)} train / {len(x_te)} test digits"
    ds = Dataset("mnist-rot", desc, x_tr, y_tr, x_te, y_te)
    if cached is None:  # only a load that succeeded leaves a cache behind
        _write_cache(cache, stamp, x_tr, y_tr, x_te, y_te)
    return ds


def _source_stamp(path: Path) -> str:
    files = [path] if path.is_file() else [path / MNIST_ROT_TRAIN, path / MNIST_ROT_TEST]
    return ";".join(f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files if f.exists())


def _read_cache(cache: Path, stamp: str):
    if not cache.exists():
        return None
    try:
        with np.load(cache, allow_pickle=False) as f:
            if str(f["stamp"]) != stamp:
                return None
            return tuple(np.asarray(f[k]) for k in ("x_train", "y_train", "x_test", "y_test"))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError, zlib.error):
        return None


def _write_cache(cache: Path, stamp: str, x_tr, y_tr, x_te, y_te) -> None:
    # MNIST-rot pixels are interpolated floats: cached exactly as parsed
    arrays = dict(x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te)
    try:
        atomic_write(cache, lambda f: np.savez(f, stamp=np.array(stamp), **arrays))
    except OSError:
        pass  # a read-only data directory only costs the speed-up


# -- download -------------------------------------------------------------------------


def default_cache_dir() -> Path:
    """Where downloads go: ``$EQUIJAX_DATA`` if set, else ``~/.cache/equijax``."""
    return Path(os.environ.get("EQUIJAX_DATA") or Path.home() / ".cache" / "equijax")


def download_mnist_rot(
    cache_dir=None, *, url: str = MNIST_ROT_URL, sha256: str | None = None, timeout: float = 60.0
) -> Path:
    """Download ``mnist_rotation_new.zip`` into `cache_dir` (default `default_cache_dir()`)
    unless it is already there, and return its path.

    The download goes to a temporary file that is checked and then renamed into place, so an
    interrupted download never leaves a partial zip. Checks: the SHA-256 digest against
    `sha256` when given, and the zip's structure (both ``.amat`` members present). The digest
    of the accepted file is recorded beside it (``.sha256``) and verified on every later use,
    which catches corruption of the cached copy. `url` may be a ``file://`` URL.

    **Raises:** `ConnectionError` when the file cannot be fetched (e.g. offline), with how to
    use a local copy instead; `ValueError` on a checksum mismatch or a file that is not the
    MNIST-rot zip.
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = cache_dir / "mnist_rotation_new.zip"
    record = target.with_name(target.name + ".sha256")
    if target.exists():
        digest = sha256_of(target)
        recorded = record.read_text().strip() if record.exists() else None
        wanted = sha256 or recorded
        if wanted is not None and digest != wanted:
            raise ValueError(f"cached {target} has SHA-256 {digest}, expected {wanted}: delete it and download again")
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    mode = _new_file_mode(target)
    fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".mnist_rotation_new.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            _chmod(out, tmp, mode)
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    for block in iter(lambda: response.read(1 << 20), b""):
                        out.write(block)
            except (urllib.error.URLError, OSError) as e:
                reason = getattr(e, "reason", e)
                raise ConnectionError(
                    f"could not download MNIST-rot from {url} ({reason}); fetch mnist_rotation_new.zip elsewhere "
                    f"and pass its path (e.g. `equijax-train --dataset path/to/mnist_rotation_new.zip`)"
                ) from None
        digest = sha256_of(tmp)
        if sha256 is not None and digest != sha256:
            raise ValueError(f"download from {url} has SHA-256 {digest}, expected {sha256}; nothing was kept")
        try:
            with zipfile.ZipFile(tmp) as z:
                names = {Path(n).name for n in z.namelist()}
        except zipfile.BadZipFile:
            raise ValueError(f"download from {url} is not a zip file (truncated?); nothing was kept") from None
        if not {MNIST_ROT_TRAIN, MNIST_ROT_TEST} <= names:
            raise ValueError(f"download from {url} is not the MNIST-rot zip (no .amat files); nothing was kept")
        os.replace(tmp, target)
        atomic_write(record, lambda f: f.write((digest + "\n").encode()))
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target
