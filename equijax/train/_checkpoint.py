"""Checkpoints: one file holding a JSON header line, then the leaves of
``(model, state, opt_state)`` in Equinox's serialisation. Written atomically, with the
permissions of a plain file write, and verified by a SHA-256 checksum on every read.

The header (version 2) holds ``"payload_bytes"`` and ``"sha256"``: the digest of the
header's canonical JSON without that key, a newline, and the payload. A reader accepts the
file only if the header line is exactly that canonical JSON and the digest matches, so any
changed byte (in the weights, or a hand-edited ``epoch``) is refused with a one-line
`ValueError` naming the file.

Version-1 checkpoints (equijax before checksums) are read with a `UserWarning`: they cannot
be verified; the next save of a resumed run writes version 2.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import warnings
from pathlib import Path

import equinox as eqx

from ..data import atomic_write

CHECKPOINT_NAME = "checkpoint.eqx"
_FORMAT = "equijax-checkpoint"
_VERSION = 2
_LEGACY_VERSION = 1
_DIGEST_KEY = "sha256"
_RESERVED = ("format", "version", "payload_bytes", _DIGEST_KEY)


def checkpoint_path(ckpt_dir) -> Path:
    return Path(ckpt_dir) / CHECKPOINT_NAME


def _canonical(header: dict) -> bytes:
    return json.dumps(header, sort_keys=True).encode()


def _digest(body: dict, payload: bytes) -> str:
    return hashlib.sha256(_canonical(body) + b"\n" + payload).hexdigest()


def save_checkpoint(path, header: dict, tree) -> None:
    """Write `header` (a JSON-serialisable dict) and the array leaves of `tree` to `path`
    atomically (a crash mid-write leaves the previous checkpoint intact), with a SHA-256
    checksum of both.

    **Raises:** `TypeError` if `header` is not a dict or not JSON-serialisable; `ValueError`
    if it uses a reserved key (``format``, ``version``, ``payload_bytes``, ``sha256``).
    """
    if not isinstance(header, dict):
        raise TypeError(f"`header` must be a dict, got {type(header).__name__}")
    reserved = [k for k in _RESERVED if k in header]
    if reserved:
        raise ValueError(f"`header` must not set the reserved key(s) {', '.join(reserved)}")
    buf = io.BytesIO()
    eqx.tree_serialise_leaves(buf, tree)
    payload = buf.getvalue()
    body = {"format": _FORMAT, "version": _VERSION, "payload_bytes": len(payload), **header}
    body = json.loads(json.dumps(body, sort_keys=True))
    head = _canonical({**body, _DIGEST_KEY: _digest(body, payload)})
    atomic_write(path, lambda f: f.write(head + b"\n" + payload))


def _read(path) -> tuple[dict, bytes]:
    """``(header, payload)`` of the checkpoint at `path`, verified.

    **Raises:** `FileNotFoundError`; `ValueError` (one line, naming the file) if it is not an
    equijax checkpoint, is truncated, or fails its checksum.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    if path.is_dir():
        raise ValueError(f"{path} is a directory, not a checkpoint file")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ValueError(f"{path} could not be read: {e.strerror or e}") from None
    line, newline, payload = raw.partition(b"\n")
    try:
        header = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValueError(f"{path} is not an equijax checkpoint (no JSON header; corrupt?)") from None
    if not isinstance(header, dict) or header.get("format") != _FORMAT:
        raise ValueError(f"{path} is not an equijax checkpoint (corrupt header?)")
    if not newline:
        raise ValueError(f"{path} is truncated (it ends inside its header)")
    version = header.get("version")
    if version == _LEGACY_VERSION and not isinstance(version, bool) and _DIGEST_KEY not in header:
        warnings.warn(
            f"{path} is a version-1 checkpoint without a checksum (written by an older equijax): "
            "it cannot be verified and is used as is; a resumed run's next checkpoint adds a checksum",
            UserWarning,
            stacklevel=3,
        )
        return header, payload
    if version != _VERSION or isinstance(version, bool):
        raise ValueError(
            f"{path} has checkpoint version {version!r}; this equijax reads {_VERSION} "
            f"(and {_LEGACY_VERSION}, without a checksum): corrupt, or written by a newer equijax?"
        )
    digest = header.pop(_DIGEST_KEY, None)
    if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise ValueError(f"{path} is corrupt: its header lacks a valid {_DIGEST_KEY} checksum")
    size = header.get("payload_bytes")
    if isinstance(size, int) and not isinstance(size, bool) and 0 <= len(payload) < size:
        raise ValueError(f"{path} is truncated: it holds {len(payload)} of its {size} bytes of weights")
    if line != _canonical({**header, _DIGEST_KEY: digest}) or _digest(header, payload) != digest:
        raise ValueError(
            f"{path} is corrupt: its checksum does not match its contents (changed or damaged since it was "
            "written); it was not used"
        )
    header[_DIGEST_KEY] = digest
    return header, payload


def read_header(path) -> dict:
    """The JSON header of the checkpoint at `path`, after verifying the whole file's
    checksum (the header includes ``"sha256"``).

    **Raises:** `FileNotFoundError`; `ValueError` if it is not an equijax checkpoint, is
    truncated or corrupt (checksum mismatch), or has an unknown version.
    """
    return _read(path)[0]


def _deserialise(path, payload: bytes, like, *, prefix: bool = False):
    """The leaves of `payload` loaded into the structure of `like`; a payload holding
    another structure is a one-line `ValueError` naming `path`. With `prefix`, `like` is
    the first part of the saved tree (``(model, state)`` of ``(model, state, opt_state)``)."""
    f = io.BytesIO(payload)
    try:
        tree = eqx.tree_deserialise_leaves(f, like)
    except Exception as e:  # numpy/equinox raise several kinds on a mismatched or short file
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ValueError(f"{path} does not match this model (or is truncated): {msg}") from None
    if not prefix and f.read(1):
        raise ValueError(f"{path} holds more data than this model has parameters: another architecture?")
    return tree


def load_checkpoint(path, like):
    """``(header, tree)`` with the leaves of the checkpoint at `path` loaded into the
    structure of `like` (a tree of the same architecture), after verifying its checksum.

    **Raises:** `FileNotFoundError`; `ValueError` if the file is corrupt (checksum mismatch),
    truncated, or holds another structure.
    """
    header, payload = _read(path)
    return header, _deserialise(path, payload, like)
