"""Checkpoints: one file holding a JSON header line, then the leaves of
``(model, state, opt_state, key)`` in Equinox's serialisation. Written atomically."""

from __future__ import annotations

import json
from pathlib import Path

import equinox as eqx

from ..data import atomic_write

CHECKPOINT_NAME = "checkpoint.eqx"
_FORMAT = "equijax-checkpoint"
_VERSION = 1


def checkpoint_path(ckpt_dir) -> Path:
    return Path(ckpt_dir) / CHECKPOINT_NAME


def save_checkpoint(path, header: dict, tree) -> None:
    """Write `header` (JSON-serialisable) and the array leaves of `tree` to `path`
    atomically: a crash mid-write leaves the previous checkpoint intact."""
    head = json.dumps({"format": _FORMAT, "version": _VERSION, **header}, sort_keys=True).encode()

    def write(f):
        f.write(head + b"\n")
        eqx.tree_serialise_leaves(f, tree)

    atomic_write(path, write)


def read_header(path) -> dict:
    """The JSON header of the checkpoint at `path`.

    **Raises:** `FileNotFoundError`; `ValueError` if it is not an equijax checkpoint.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    with open(path, "rb") as f:
        line = f.readline()
    try:
        header = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValueError(f"{path} is not an equijax checkpoint (no JSON header)") from None
    if not isinstance(header, dict) or header.get("format") != _FORMAT:
        raise ValueError(f"{path} is not an equijax checkpoint")
    if header.get("version") != _VERSION:
        raise ValueError(f"{path} has checkpoint version {header.get('version')}; this equijax reads {_VERSION}")
    return header


def load_checkpoint(path, like):
    """``(header, tree)`` with the leaves of the checkpoint at `path` loaded into the
    structure of `like` (a tree of the same architecture).

    **Raises:** `ValueError` if the file is corrupt, truncated or holds another structure.
    """
    header = read_header(path)
    with open(path, "rb") as f:
        f.readline()
        try:
            tree = eqx.tree_deserialise_leaves(f, like)
        except Exception as e:  # numpy/equinox raise several kinds on a mismatched or short file
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ValueError(f"{path} does not match this model (or is truncated): {msg}") from None
        if f.read(1):
            raise ValueError(f"{path} holds more data than this model has parameters: another architecture?")
    return header, tree
