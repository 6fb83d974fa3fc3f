"""The files of a run, checked before it starts and read when it resumes: the output paths
(`ckpt_dir`, `metrics`), the checkpoint to resume (its header and settings) or to start
from (`init_from`, of the same architecture), and `load_trained`, which rebuilds a trained
model from its checkpoint."""

from __future__ import annotations

import os
from pathlib import Path

import jax

from ._checkpoint import CHECKPOINT_NAME, _deserialise, _read, checkpoint_path
from ._config import ARCHITECTURE_FIELDS, RUN_FIELDS, TrainConfig, canonical_group


def load_trained(ckpt_dir) -> tuple:
    """``(model, state, config, header)`` from the checkpoint that `fit` (or
    ``equijax-train --ckpt-dir``) wrote in `ckpt_dir` (or from the checkpoint file
    `ckpt_dir` names): the file's checksum is verified, the model rebuilt from the recorded
    configuration and its trained parameters and batch-norm statistics loaded.

    **Raises:** `FileNotFoundError` if there is no checkpoint; `ValueError` (one line,
    naming the file) if it is corrupt (checksum mismatch), truncated, or lacks its
    configuration.
    """
    path = Path(ckpt_dir)
    path = checkpoint_path(path) if path.is_dir() else path
    header, payload = _read(path)
    config = _recorded_config(header, path)
    model, state = config.build_model(jax.random.key(0))
    model, state = _deserialise(path, payload, (model, state), prefix=True)
    return model, state, config, header


def _recorded_config(header: dict, path) -> TrainConfig:
    arch, run = header.get("architecture"), header.get("run")
    if not isinstance(arch, dict) or not isinstance(run, dict):
        raise ValueError(f"{path} lacks its training configuration (`architecture` and `run` in its header)")
    try:
        return TrainConfig(**arch, **run, progress=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path} records an unusable training configuration: {e}") from None


def _same_path(a, b) -> bool:
    """Two dataset values naming the same existing file or directory ('t.npz' and its absolute path)."""
    return isinstance(a, str) and isinstance(b, str) and os.path.exists(a) and os.path.exists(b) and _same_file(a, b)


def _same_file(a: Path, b: Path) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def _check_writable_location(name: str, value: str, directory: Path) -> None:
    """`directory` exists as a writable directory, or can be created: its nearest existing
    ancestor is a writable directory. Changes nothing on disk."""
    d = directory
    while not d.exists():
        if d.is_symlink():  # a dangling link: mkdir would fail
            raise ValueError(f"`{name}` (={value!r}) cannot be created: {d} is a broken symbolic link")
        d = d.parent
    if not d.is_dir():
        raise ValueError(f"`{name}` (={value!r}) cannot be created: {d} is a file, not a directory")
    if not os.access(d, os.W_OK | os.X_OK):
        raise ValueError(f"`{name}` (={value!r}) is not writable: no permission to write in {d}")


def _check_outputs(config: TrainConfig, ckpt: Path | None, dataset_from_config: bool) -> None:
    """Refuse, before anything is loaded or written, output paths that cannot work."""
    if ckpt is not None:
        d = Path(config.ckpt_dir)
        if d.exists() and not d.is_dir():
            raise ValueError(
                f"`ckpt_dir` (={config.ckpt_dir!r}) is a file; it must name a directory (the checkpoint is "
                f"written in it as {CHECKPOINT_NAME})"
            )
        if ckpt.is_dir():
            raise ValueError(
                f"{ckpt} is a directory, where the checkpoint file goes: remove it or choose another `ckpt_dir`"
            )
        _check_writable_location("ckpt_dir", config.ckpt_dir, d)
    if config.metrics is None:
        return
    m = Path(config.metrics)
    if m.is_dir():
        raise ValueError(f"`metrics` (={config.metrics!r}) is a directory; it must name a file (JSON lines)")
    if m.exists() and not os.access(m, os.W_OK):
        raise ValueError(f"`metrics` (={config.metrics!r}) is not writable")
    _check_writable_location("metrics", config.metrics, m.parent)
    inputs = []
    if ckpt is not None:
        inputs.append(("the checkpoint", ckpt))
    if config.init_from is not None:
        inputs.append(("`init_from`", Path(config.init_from)))
    if dataset_from_config and config.dataset not in ("sample", "mnist-rot"):
        inputs.append(("the dataset", Path(config.dataset)))
    for what, p in inputs:
        if _same_file(m, p) or (p.is_dir() and _same_file(m, checkpoint_path(p))):
            raise ValueError(f"`metrics` (={config.metrics!r}) is {what}'s file; it would be overwritten")


def _read_source(config: TrainConfig):
    """``(path, header, payload)`` of the verified `init_from` checkpoint, of this
    architecture."""
    p = Path(config.init_from)
    path = checkpoint_path(p) if p.is_dir() else p
    if not path.exists():
        raise FileNotFoundError(f"`init_from` (={config.init_from!r}): no checkpoint at {path}")
    header, payload = _read(path)
    arch = header.get("architecture")
    if not isinstance(arch, dict):
        raise ValueError(f"{path} lacks `architecture` in its header: not a checkpoint written by equijax-train")
    diff = _architecture_diff(arch, config)
    if diff:
        raise ValueError(f"`init_from` {path} is from another architecture: {'; '.join(diff)}")
    return path, header, payload


def _check_run_header(header: dict, ckpt) -> None:
    """The keys `fit` needs to resume, with the right types."""
    for key, kind in (("epoch", int), ("history", list), ("architecture", dict), ("run", dict)):
        if key not in header:
            raise ValueError(f"{ckpt} lacks `{key}` in its header: not a checkpoint written by equijax-train")
        v = header[key]
        if not isinstance(v, kind) or isinstance(v, bool):
            raise ValueError(f"{ckpt} has a malformed `{key}` in its header: {type(v).__name__}")
    if header["epoch"] < 0 or len(header["history"]) != header["epoch"]:
        raise ValueError(
            f"{ckpt} is inconsistent: its header says epoch {header['epoch']} with "
            f"{len(header['history'])} epochs of history"
        )


def _architecture_diff(arch: dict, config: TrainConfig) -> list[str]:
    """The architecture fields on which a checkpoint's `arch` and `config` differ (the
    group compared by its meaning: None is the model's default, 'c8' is 'C8')."""
    diff = []
    for f in ARCHITECTURE_FIELDS:
        recorded, wanted = arch.get(f), getattr(config, f)
        if f == "group":
            recorded = canonical_group(arch.get("model"), recorded)
            wanted = config.group_name
        if recorded != wanted:
            diff.append(f"{f}: {arch.get(f)!r} (checkpoint) vs {getattr(config, f)!r}")
    return diff


def _check_compatible(header: dict, config: TrainConfig, ckpt) -> None:
    arch, run = header["architecture"], header["run"]
    diff = _architecture_diff(arch, config)
    if diff:
        raise ValueError(f"{ckpt} is from another architecture: {'; '.join(diff)}")
    # fields added after a checkpoint was written take their default
    defaults = TrainConfig()
    recorded = {f: run.get(f, getattr(defaults, f)) for f in RUN_FIELDS}
    diff = [
        f"{f}: {recorded[f]!r} vs {getattr(config, f)!r}"
        for f in RUN_FIELDS
        if recorded[f] != getattr(config, f) and not (f == "dataset" and _same_path(recorded[f], config.dataset))
    ]
    if diff:
        raise ValueError(
            f"{ckpt} was trained with other settings; resuming needs the same ({'; '.join(diff)}). "
            "To train it longer or fine-tune it, start a new run from it with `init_from` and another `ckpt_dir`"
        )
