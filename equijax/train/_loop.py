"""`fit`: a whole `TrainConfig` run with checkpoints, metrics and data-parallel sharding,
written as named steps: check the files, load and check the dataset, place the run on the
devices, build (or resume) the model, train epoch by epoch, summarise."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path

import equinox as eqx
import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from .. import data as edata
from ._checkpoint import _deserialise, _read, checkpoint_path, save_checkpoint
from ._config import TrainConfig
from ._evaluate import evaluate, invariance_error
from ._report import _count, _format_epoch, _format_summary, _Log
from ._resume import _check_compatible, _check_outputs, _check_run_header, _read_source
from ._step import _fit_optimizer, _fit_step, _step_settings


def fit(config: TrainConfig, dataset: edata.Dataset | None = None, *, log: Callable | None = None) -> dict:
    """Train, evaluate and checkpoint the model described by `config`.

    Everything that can fail on bad input is checked before anything is written, and before
    the dataset is loaded where it can be: the output paths (`ckpt_dir` must be a directory
    or creatable as one, `metrics` a writable file, neither the same file as an input), the
    checkpoint to resume or to start from (its checksum, configuration and architecture),
    then the dataset and devices. With `ckpt_dir` the full training state (model, batch-norm
    state, optimizer state, epoch, metrics) is written atomically after every epoch, and
    ``resume=True`` continues from it exactly: shuffling and augmentation depend only on
    (seed, epoch, step). ``init_from`` starts a new run from another run's model and
    batch-norm statistics (fresh optimizer and schedule). The `metrics` file is opened (and
    an earlier file of that name replaced) only when the first epoch is complete.

    **Arguments:** `config`; `dataset` (default: loaded from ``config.dataset``); `log` (a
    function of one string; default prints to stderr).

    **Returns:** ``{"history": [per-epoch metrics], "summary": {...}, "model", "state"}``.

    **Raises:** `ValueError`, `FileNotFoundError` or `ConnectionError` on bad input, each
    with one line saying what was expected.
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"`config` must be a TrainConfig, got {type(config).__name__}")
    printer = _Log(config.progress and jax.process_index() == 0)
    log = log or (printer if jax.process_index() == 0 else (lambda msg: None))

    ckpt, resumed, source = _check_files(config, dataset_from_config=dataset is None)
    ds = _check_dataset(config, dataset)
    place = _place(config, ds)
    model, state, opt_state, run = _start(config, ds, place, ckpt, resumed, source, log)
    metrics = _Metrics(
        config.metrics if place.proc == 0 else None, run.history[: run.start_epoch if resumed is not None else 0]
    )
    x_train = _prepare(ds.x_train, config.input_size)
    x_test = _prepare(ds.x_test, config.input_size)
    model, state, opt_state = _replicate((model, state, opt_state), place.replicated)
    aug_key = _replicate(jax.random.key_data(run.aug_key), place.replicated)  # raw uint32 key: works across processes
    step_fn = _fit_step(_step_settings(config), run.steps_per_epoch)

    train_images, train_seconds, compile_seconds = 0, 0.0, None
    try:
        for epoch in range(run.start_epoch, config.epochs):
            model, state, opt_state, record, timing = _train_epoch(
                config,
                epoch,
                (model, state, opt_state),
                step_fn=step_fn,
                aug_key=aug_key,
                x=x_train,
                y=ds.y_train,
                put=place.put_batch,
                steps_per_epoch=run.steps_per_epoch,
                printer=printer,
            )
            first_step_seconds, steady_images, steady_seconds = timing
            if compile_seconds is None:
                compile_seconds = first_step_seconds
            train_images += steady_images
            train_seconds += steady_seconds
            if config.eval_every and (epoch + 1) % config.eval_every == 0 and epoch + 1 < config.epochs:
                ev = _test_metrics(config, model, state, x_test, ds.y_test, place.put_batch)
                record.update(test_loss=ev["loss"], test_accuracy=ev["accuracy"])
            run.history.append(record)
            if ckpt is not None and place.proc == 0:
                _save_epoch(ckpt, config, epoch, run, (model, state, opt_state))
            metrics.emit(record)
            log(_format_epoch(record, config.epochs))

        summary = _summarise(
            config,
            ds,
            model,
            state,
            x_test,
            place,
            n_params=run.n_params,
            train_images=train_images,
            train_seconds=train_seconds,
            first_step_seconds=compile_seconds,
        )
        metrics.emit(summary)
        log(_format_summary(summary))
    finally:
        metrics.close()
    return {"history": run.history, "summary": summary, "model": model, "state": state}


# -- check ------------------------------------------------------------------------------


def _check_files(config: TrainConfig, *, dataset_from_config: bool):
    """Check the outputs, then read and check the checkpoint to resume or start from.

    **Returns:** ``(ckpt, resumed, source)``: the checkpoint path (or None), ``(header,
    payload)`` of the run to resume (or None), ``(path, header, payload)`` of the
    `init_from` checkpoint (or None).
    """
    ckpt = checkpoint_path(config.ckpt_dir) if config.ckpt_dir is not None else None
    _check_outputs(config, ckpt, dataset_from_config)
    resumed = source = None
    if ckpt is not None and ckpt.exists() and not config.resume:
        raise ValueError(
            f"{ckpt} exists; pass `resume` to continue it, or choose another `ckpt_dir` "
            "(`init_from` starts a new run from a checkpoint)"
        )
    if config.resume:
        header, payload = _read(ckpt)
        _check_run_header(header, ckpt)
        _check_compatible(header, config, ckpt)
        resumed = (header, payload)
    elif config.init_from is not None:
        source = _read_source(config)
    return ckpt, resumed, source


def _check_dataset(config: TrainConfig, dataset) -> edata.Dataset:
    """`dataset`, or the one ``config.dataset`` names, with labels the model can predict."""
    ds = dataset if dataset is not None else edata.load_dataset(config.dataset, seed=config.seed)
    if not isinstance(ds, edata.Dataset):
        raise TypeError(f"`dataset` must be an equijax Dataset, got {type(ds).__name__}")
    for split, y in (("training", ds.y_train), ("test", ds.y_test)):
        if int(y.max()) >= config.n_classes:
            raise ValueError(
                f"the dataset's {split} labels go up to {int(y.max())}, beyond `n_classes` (={config.n_classes}): "
                f"the model has classes 0 to {config.n_classes - 1}"
            )
    return ds


@dataclasses.dataclass(frozen=True, eq=False)
class _Placement:
    """Where the run computes: its devices, this process, and how a batch is placed."""

    devices: list
    n_dev: int
    n_proc: int
    proc: int
    data_sharding: NamedSharding
    replicated: NamedSharding

    def put_batch(self, b):
        # every process builds the same global batch and contributes its own slice of it
        def put(a):
            n = len(a) // self.n_proc
            return jax.make_array_from_process_local_data(self.data_sharding, a[self.proc * n : (self.proc + 1) * n])

        return jax.tree_util.tree_map(put, b)


def _place(config: TrainConfig, ds: edata.Dataset) -> _Placement:
    """Check the devices and batch sizes, and build the data-parallel mesh."""
    n_proc, proc = jax.process_count(), jax.process_index()
    if n_proc > 1 and config.devices is not None:
        raise ValueError("`devices` picks local devices of one process; a jax.distributed run uses every device")
    devices = jax.devices() if n_proc > 1 else jax.local_devices()
    n_dev = len(devices) if config.devices is None else config.devices
    if n_dev > len(devices):
        available = _count(len(devices), "local device")
        raise ValueError(f"`devices` (={n_dev}) exceeds the {available} available")
    for name in ("batch_size", "eval_batch_size"):
        if getattr(config, name) % n_dev:
            raise ValueError(f"`{name}` (={getattr(config, name)}) must be divisible by the {_count(n_dev, 'device')}")
    if config.batch_size > len(ds.x_train):
        raise ValueError(f"`batch_size` (={config.batch_size}) exceeds the {len(ds.x_train)} training digits")
    mesh = Mesh(np.array(devices[:n_dev]), ("batch",))
    return _Placement(devices, n_dev, n_proc, proc, NamedSharding(mesh, P("batch")), NamedSharding(mesh, P()))


# -- start or resume --------------------------------------------------------------------


@dataclasses.dataclass(eq=False)
class _Run:
    """What a run knows besides its arrays when its first epoch starts (`history` grows as
    epochs end)."""

    aug_key: jax.Array
    steps_per_epoch: int
    start_epoch: int
    history: list
    provenance: dict | None  # the checkpoint this run started from (`init_from`), recorded in each checkpoint
    n_params: int


def _start(config: TrainConfig, ds, place: _Placement, ckpt, resumed, source, log):
    """Build the model and optimizer, load the run to resume or the `init_from` weights,
    and log what is being trained.

    **Returns:** ``(model, state, opt_state, run)``.
    """
    steps_per_epoch = len(ds.x_train) // config.batch_size
    key = jax.random.key(config.seed)
    init_key, aug_key = jax.random.split(key)
    t0 = time.perf_counter()
    model, state = config.build_model(init_key)
    build_seconds = time.perf_counter() - t0
    optimizer = _fit_optimizer(_step_settings(config), steps_per_epoch)
    opt_state = optimizer.init(eqx.filter(model, eqx.is_array))

    history: list[dict] = []
    start_epoch = 0
    provenance = None
    if resumed is not None:
        header, payload = resumed
        model, state, opt_state = _deserialise(ckpt, payload, (model, state, opt_state))
        start_epoch, history = header["epoch"], list(header["history"])
        provenance = header.get("init_from")
        log(f"resumed {ckpt} after epoch {start_epoch}")
        if config.init_from is not None:
            log(f"(`init_from` is not used when resuming: {ckpt} holds the run's whole state)")
    elif source is not None:
        src_path, src_header, src_payload = source
        model, state = _deserialise(src_path, src_payload, (model, state), prefix=True)
        provenance = {"path": str(src_path), "epoch": src_header.get("epoch"), "sha256": src_header.get("sha256")}
        log(
            f"initialised from {src_path} (after its epoch {src_header.get('epoch')}): "
            f"a new run of {_count(config.epochs, 'epoch')}"
        )

    n_params = sum(x.size for x in jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_inexact_array)))
    log(f"dataset: {ds.description}")
    log(
        f"model: {config.model} (width {config.width}"
        + (f", group {config.group_name}), " if config.group_name else "), ")
        + f"{n_params:,} parameters, built in {build_seconds:.2f} s; "
        + f"{_count(place.n_dev, 'device')}: {place.devices[0].platform}"
    )
    return model, state, opt_state, _Run(aug_key, steps_per_epoch, start_epoch, history, provenance, n_params)


def _prepare(x: np.ndarray, size: int) -> np.ndarray:
    return np.ascontiguousarray(edata.pad_images(x, size)[:, None].astype(np.float32))


def _replicate(tree, sharding):
    """Place the array leaves of `tree` on `sharding`; other leaves (flags) stay Python values."""

    def put(x):
        return jax.make_array_from_process_local_data(sharding, np.asarray(x)) if eqx.is_array(x) else x

    return jax.tree_util.tree_map(put, tree)


class _Metrics:
    """The JSON-lines `metrics` file (None: no file, or not the writing process). It is
    opened, replacing an earlier file, when the first record comes: a resumed run's file
    starts again with the checkpoint's epochs (`earlier`)."""

    def __init__(self, path: str | None, earlier: list[dict]):
        self.path, self.earlier, self.file = path, earlier, None

    def emit(self, record: dict) -> None:
        if self.path is None:
            return
        if self.file is None:  # first record: the run has started, an earlier file may go
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self.file = open(self.path, "w")  # noqa: SIM115
            for earlier in self.earlier:
                self.file.write(json.dumps(earlier) + "\n")
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


# -- one epoch --------------------------------------------------------------------------


def _train_epoch(config: TrainConfig, epoch: int, trees, *, step_fn, aug_key, x, y, put, steps_per_epoch, printer):
    """One pass over the training digits `x`, `y` in the epoch's order, batches placed by
    `put`.

    **Returns:** ``(model, state, opt_state, record, (first_step_seconds, steady_images,
    steady_seconds))``: the epoch's metrics record, and its timing (the first step includes
    compilation; the steady part is every later step).
    """
    model, state, opt_state = trees
    order = edata.epoch_order(len(x), epoch, config.seed)
    idx = edata.batch_indices(len(x), config.batch_size, order)
    batches = edata.prefetch(((x[i], y[i]) for i in idx), put)
    bar = printer.bar(len(idx), f"epoch {epoch + 1}/{config.epochs}")
    losses, corrects = [], []
    t_epoch = time.perf_counter()
    t_steady = first_step_seconds = None
    for i, (xb, yb) in enumerate(batches):
        step = np.int32(epoch * steps_per_epoch + i)
        model, state, opt_state, loss, correct = step_fn(aug_key, model, state, opt_state, xb, yb, step)
        losses.append(loss)
        corrects.append(correct)
        if i == 0:
            jax.block_until_ready(loss)
            first_step_seconds = time.perf_counter() - t_epoch
            t_steady = time.perf_counter()
        if bar is not None and (i % 10 == 9 or i == len(idx) - 1):
            bar.set_postfix(loss=f"{float(loss):.4f}", acc=f"{float(correct) / config.batch_size:.3f}")
            bar.update(i + 1 - bar.n)
    jax.block_until_ready(losses[-1])
    now = time.perf_counter()
    if bar is not None:
        bar.close()
    steady_images = (len(idx) - 1) * config.batch_size
    record = {
        "epoch": epoch + 1,
        "train_loss": float(np.mean(np.asarray(losses))),
        "train_accuracy": float(np.sum(np.asarray(corrects))) / (len(idx) * config.batch_size),
        "epoch_seconds": now - t_epoch,
        "images_per_second": steady_images / (now - t_steady) if len(idx) > 1 else None,
    }
    timing = (first_step_seconds, steady_images, now - t_steady) if len(idx) > 1 else (first_step_seconds, 0, 0.0)
    return model, state, opt_state, record, timing


def _save_epoch(ckpt: Path, config: TrainConfig, epoch: int, run: _Run, trees) -> None:
    """Write the run's whole state after `epoch` (0-based) to `ckpt`."""
    header = {"epoch": epoch + 1, "history": run.history, "architecture": config.architecture(), "run": config.run()}
    if run.provenance is not None:
        header["init_from"] = run.provenance
    save_checkpoint(ckpt, header, trees)


# -- summary ----------------------------------------------------------------------------


def _test_metrics(config: TrainConfig, model, state, x_test, y_test, put) -> dict:
    """`evaluate` on the test digits with the run's batch size and precision."""
    return evaluate(
        model, state, x_test, y_test, batch_size=config.eval_batch_size, put=put, precision=config.precision
    )


def _summarise(
    config, ds, model, state, x_test, place, *, n_params, train_images, train_seconds, first_step_seconds
) -> dict:
    """The closing record: test metrics, throughput (`train_images` in `train_seconds` of
    steady steps), the first step's time (compilation included) and invariance."""
    t_eval = time.perf_counter()
    ev = _test_metrics(config, model, state, x_test, ds.y_test, place.put_batch)
    eval_seconds = time.perf_counter() - t_eval
    n_inv = min(config.invariance_samples, len(x_test))
    n_inv = max(n_inv - n_inv % place.n_dev, place.n_dev)  # shardable over the devices
    inv = invariance_error(
        model,
        state,
        x_test[:n_inv],
        put=place.put_batch,
        precision=config.precision,
        reflections=config.reflections,
    )
    summary = {
        "event": "summary",
        "dataset": ds.name,
        "model": config.model,
        "group": config.group_name,
        "parameters": int(n_params),
        "epochs": config.epochs,
        "test_loss": ev["loss"],
        "test_accuracy": ev["accuracy"],
        "test_images": len(x_test),
        "eval_seconds": eval_seconds,
        "train_images_per_second": train_images / train_seconds if train_seconds else None,
        "first_step_seconds": first_step_seconds,
        "invariance_error_rot90": inv["relative"],
        "prediction_agreement_rot90": inv["prediction_agreement"],
    }
    if config.reflections:
        summary["invariance_error_flip"] = inv["relative_flip"]
        summary["prediction_agreement_flip"] = inv["prediction_agreement_flip"]
    summary.update(devices=place.n_dev, platform=place.devices[0].platform)
    return summary
