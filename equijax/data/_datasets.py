"""Datasets for rotated-digit classification: the MNIST-rot benchmark (Larochelle et al.,
2007), the same protocol rebuilt from plain MNIST, and a small real sample shipped with the
package. Everything is read with numpy from plain formats (amat text, IDX, ``.npz`` with
``allow_pickle=False``); nothing downloaded is ever unpickled.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import os
import stat
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path

import jax
import numpy as np

from ._transforms import rotate_images

MNIST_ROT_URL = "http://www.iro.umontreal.ca/~lisa/icml2007data/mnist_rotation_new.zip"
MNIST_ROT_TRAIN = "mnist_all_rotation_normalized_float_train_valid.amat"
MNIST_ROT_TEST = "mnist_all_rotation_normalized_float_test.amat"
MNIST_ROT_SIZES = (12000, 50000)
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


# -- plain MNIST ------------------------------------------------------------------------


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


_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a zip archive's local header, or an empty archive


def _open_npz(path: Path, what: str = "a valid .npz file"):
    """`np.load` of a ``.npz`` archive, refusing anything else (a ``.npy`` file, text, random
    bytes) with a one-line `ValueError`. Pickled data are never loaded, and numpy's own
    message (which suggests ``allow_pickle=True``) is never shown."""
    if path.is_dir():
        raise ValueError(f"{path} is a directory, not {what}")
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as e:
        raise ValueError(f"{path} could not be read: {e.strerror or e}") from None
    if magic not in _ZIP_MAGICS:
        raise ValueError(f"{path} is not {what} (not an .npz archive)")
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise ValueError(f"{path} is not {what} (truncated or corrupt?): {_reason(e)}") from None


def _reason(e: BaseException) -> str:
    """The first line of an exception's message, without numpy's advice to unpickle."""
    msg = str(e).splitlines()[0] if str(e) else type(e).__name__
    return "it holds Python objects" if "pickle" in msg.lower() else msg


def _members(f, keys, path: Path) -> list[np.ndarray]:
    """The arrays `keys` of an open ``.npz`` archive; a member whose data do not decompress
    or fail their CRC, or that is not a plain array, is a one-line `ValueError`."""
    out = []
    for k in keys:
        try:
            out.append(np.asarray(f[k]))
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as e:
            if "pickle" in str(e).lower():
                raise ValueError(
                    f"{path} is not a valid data file: its {k!r} holds Python objects, not numbers"
                ) from None
            raise ValueError(f"{path} is corrupt: its array {k!r} cannot be read ({_reason(e)})") from None
    return out


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


# -- the MNIST-rot benchmark files -------------------------------------------------------


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


def _new_file_mode(path: Path) -> int:
    """The permission bits a plain ``open(path, "w")`` would give: those of the file it
    replaces, else ``0o666`` less the process umask."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        pass
    mask = _umask()
    return 0o666 & ~mask


def _umask() -> int:
    try:  # Linux: read it without changing it (os.umask is process-wide: racy with threads)
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path, write) -> None:
    """Call ``write(file)`` on a temporary file beside `path`, then rename it onto `path`:
    readers see the old file or the complete new one, never a partial one. The file gets the
    permissions a plain write would give (those of the file it replaces, else ``0o666``
    less the umask), not the temporary file's ``0o600``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = _new_file_mode(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            _chmod(f, tmp, mode)
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _chmod(f, name: str, mode: int) -> None:
    try:
        os.fchmod(f.fileno(), mode)
    except (AttributeError, OSError):  # no fchmod (Windows), or a file system without modes
        try:
            os.chmod(name, mode)
        except OSError:
            pass


def sha256_of(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


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


# -- the bundled sample and saved datasets ----------------------------------------------------


def load_sample() -> Dataset:
    """The real sample shipped with equijax: 2,000 training and 2,000 test digits in the
    MNIST-rot protocol (built from MNIST with `build_rotated_mnist`, seed 0, stored as
    uint8). Good for demos and smoke tests; use the full protocol to measure accuracy."""
    with np.load(SAMPLE_FILE, allow_pickle=False) as f:
        arrays = {k: np.asarray(f[k]) for k in ("x_train", "y_train", "x_test", "y_test")}
        desc = str(f["description"])
    return Dataset("sample", desc, **arrays)


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
