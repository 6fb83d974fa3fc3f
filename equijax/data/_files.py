"""File plumbing of `equijax.data`: atomic writes with the permissions of a plain write,
SHA-256 digests, and ``.npz`` archives opened safely (never unpickled, one-line errors)."""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

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
