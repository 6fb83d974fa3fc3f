"""The jit-compiled training step, evaluation, the 90-degree invariance check, and `fit`,
which runs a whole `TrainConfig` with checkpoints, metrics and data-parallel sharding."""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from .. import data as edata
from ._checkpoint import CHECKPOINT_NAME, _deserialise, _read, checkpoint_path, save_checkpoint
from ._config import ARCHITECTURE_FIELDS, RUN_FIELDS, TrainConfig, canonical_group


def make_optimizer(config: TrainConfig, steps_per_epoch: int) -> optax.GradientTransformation:
    """The optax optimizer of `config` (learning-rate schedule included)."""
    lr = config.lr
    if config.schedule == "cosine":
        lr = optax.cosine_decay_schedule(config.lr, decay_steps=config.epochs * steps_per_epoch)
    if config.optimizer == "adam":
        opt = optax.adam(lr)
        if config.weight_decay:  # L2 penalty added to the gradient, as torch's Adam does
            opt = optax.chain(optax.add_decayed_weights(config.weight_decay), opt)
        return opt
    if config.optimizer == "adamw":
        return optax.adamw(lr, weight_decay=config.weight_decay)
    return optax.chain(optax.add_decayed_weights(config.weight_decay), optax.sgd(lr, momentum=0.9, nesterov=True))


PRECISIONS = {"float32": None, "bfloat16": jnp.bfloat16}


def _compute_dtype(precision: str):
    if precision not in PRECISIONS:
        raise ValueError(f"`precision` (={precision!r}) must be one of {', '.join(PRECISIONS)}")
    return PRECISIONS[precision]


def _forward(model, state, x, compute_dtype):
    """Logits in float32 whatever the compute dtype (the loss and argmax stay accurate)."""
    if compute_dtype is not None:
        x = x.astype(compute_dtype)
    logits, state = model(x, state)
    return logits.astype(jnp.promote_types(logits.dtype, jnp.float32)), state


def make_train_step(
    optimizer: optax.GradientTransformation,
    *,
    augment: bool = True,
    aug_supersample: int = 1,
    precision: str = "float32",
) -> Callable:
    """A jit-compiled step ``(key, model, state, opt_state, x, y, step) -> (model, state,
    opt_state, loss, n_correct)``.

    `x` is a batch ``(B, 1, S, S)``, `y` its integer labels; with `augment` each image is
    rotated by its own uniform random angle, drawn on device from ``fold_in(key, step)``. The
    model's batch norms see the whole batch, also when it is sharded over devices. The model,
    state and optimizer state buffers are donated.

    The labels are checked on the host before each step (numpy arrays, and JAX arrays that
    this process holds whole): they must be integers in ``[0, n_classes)``, `n_classes` being
    the size of the model's logits (found once per input shape by `jax.eval_shape`). A
    prediction counts as correct only if its logits are finite (a NaN row is wrong).

    `precision` ``"bfloat16"`` is equijax's mixed-precision policy: the (augmented) input is
    cast to bfloat16, so convolutions and pooling compute in bfloat16, while parameters,
    gradients, optimizer state and batch-norm statistics stay float32 and the loss is
    computed from float32 logits.

    **Raises** (when the step is called): `ValueError` if a label is out of range, or the
    labels are not integers of shape ``(B,)``.
    """
    raw = _make_step(optimizer, augment, aug_supersample, precision)
    compute_dtype = _compute_dtype(precision)
    n_classes: dict = {}

    def step(key, model, state, opt_state, x, y, step):
        if not isinstance(y, jax.Array) or y.is_fully_addressable:
            x_shape, x_dtype = tuple(np.shape(x)), (x.dtype if hasattr(x, "dtype") else np.asarray(x).dtype)
            cache_key = (x_shape, x_dtype, jax.tree_util.tree_structure(model))
            if cache_key not in n_classes:
                n_classes[cache_key] = _logit_size(model, state, x_shape, x_dtype, compute_dtype)
            _check_labels(y, n_classes[cache_key], x_shape[0] if x_shape else 0)
        return raw(key, model, state, opt_state, x, y, step)

    return step


def _make_step(optimizer, augment: bool, aug_supersample: int, precision: str) -> Callable:
    """The step of `make_train_step` without the host-side label check (`fit` checks the
    whole dataset once instead)."""
    compute_dtype = _compute_dtype(precision)

    def loss_fn(model, state, x, y):
        logits, state = _forward(model, state, x, compute_dtype)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        return loss, (state, jnp.sum(_correct(logits, y)))

    @eqx.filter_jit(donate="all-except-first")
    def _step(key, model, state, opt_state, x, y, step):
        if augment:
            x = edata.random_rotations(jax.random.fold_in(key, step), x, supersample=aug_supersample)
            x = jax.lax.optimization_barrier(x)  # keep XLA from fusing the gather into the first conv
        (loss, (state, correct)), grads = eqx.filter_value_and_grad(loss_fn, has_aux=True)(model, state, x, y)
        updates, opt_state = optimizer.update(grads, opt_state, eqx.filter(model, eqx.is_array))
        return eqx.apply_updates(model, updates), state, opt_state, loss, correct

    def step(key, model, state, opt_state, x, y, step):
        # the step number is always traced (a Python int would be static: one compile per step)
        return _step(key, model, state, opt_state, x, y, np.asarray(step, np.int32))

    return step


_STEP_FIELDS = ("optimizer", "lr", "weight_decay", "schedule", "epochs", "augment", "aug_supersample", "precision")


def _step_settings(config: TrainConfig) -> tuple:
    return tuple(getattr(config, f) for f in _STEP_FIELDS)


@functools.lru_cache(maxsize=8)
def _fit_optimizer(settings: tuple, steps_per_epoch: int) -> optax.GradientTransformation:
    return make_optimizer(TrainConfig(**dict(zip(_STEP_FIELDS, settings))), steps_per_epoch)


@functools.lru_cache(maxsize=8)
def _fit_step(settings: tuple, steps_per_epoch: int) -> Callable:
    """`fit`'s step, one per optimizer and augmentation setting, so that runs of the same
    settings in one process (a resumed run, a run started from a checkpoint, a sweep over
    seeds) share one compiled program."""
    c = dict(zip(_STEP_FIELDS, settings))
    return _make_step(_fit_optimizer(settings, steps_per_epoch), c["augment"], c["aug_supersample"], c["precision"])


def _correct(logits, y):
    """Per row: the prediction is right, and the logits are finite (argmax of a NaN row is
    index 0, which must not count as a correct prediction of class 0)."""
    return (jnp.argmax(logits, axis=-1) == y) & jnp.all(jnp.isfinite(logits), axis=-1)


def _logit_size(model, state, shape, dtype, compute_dtype) -> int:
    """The number of classes of ``model(x, state)`` for inputs `x` of `shape` and `dtype`,
    from shapes alone (no computation)."""
    spec = jax.ShapeDtypeStruct(tuple(shape), dtype)
    out = eqx.filter_eval_shape(lambda m, s, x: _forward(m, s, x, compute_dtype)[0], model, state, spec)
    return int(out.shape[-1])


def _check_labels(y, n_classes: int, n: int, name: str = "y") -> np.ndarray:
    """Host-side check of integer labels: shape ``(n,)``, values in ``[0, n_classes)``."""
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"`{name}` must have shape ({n},), one label per image; got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"`{name}` must hold integer labels; got dtype {y.dtype}")
    if n and (int(y.min()) < 0 or int(y.max()) >= n_classes):
        raise ValueError(
            f"`{name}` labels must lie in [0, {n_classes}) (the model has {_count(n_classes, 'class')}); "
            f"got range [{int(y.min())}, {int(y.max())}]"
        )
    return y


def _count(n: int, word: str) -> str:
    """``"1 device"``, ``"2 devices"``; ``"1 class"``, ``"3 classes"``."""
    if n == 1:
        return f"1 {word}"
    return f"{n} {word}es" if word.endswith(("s", "sh", "ch", "x")) else f"{n} {word}s"


@eqx.filter_jit
def _eval_batch(model, state, x, y, mask, compute_dtype):
    logits, _ = _forward(eqx.nn.inference_mode(model), state, x, compute_dtype)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, y)
    return jnp.sum(jnp.where(mask, loss, 0.0)), jnp.sum(_correct(logits, y) & mask)


def evaluate(
    model, state, x, y, *, batch_size: int = 500, put: Callable = jax.device_put, precision: str = "float32"
) -> dict:
    """Mean loss and accuracy of ``model(x, state)`` in inference mode
    (`eqx.nn.inference_mode`) on ``(x, y)`` (numpy arrays, `x` already padded to the
    model's input size), computing in `precision`. Every batch has the same shape (the
    last is padded and masked), so this compiles once. A row of non-finite logits counts as
    a wrong prediction.

    **Raises:** `ValueError` if `x` holds no images, `y` is not one integer label per image
    in ``[0, n_classes)`` (checked on the host), or `batch_size` is not a positive integer.
    """
    compute_dtype = _compute_dtype(precision)
    n = len(x)
    if n == 0:
        raise ValueError("`x` holds 0 images; `evaluate` needs at least one")
    if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"`batch_size` (={batch_size!r}) must be a positive integer")
    x = x if hasattr(x, "shape") and hasattr(x, "dtype") else np.asarray(x)
    shape = (batch_size,) + tuple(x.shape[1:])
    y = _check_labels(y, _logit_size(model, state, shape, x.dtype, compute_dtype), n)
    totals = []
    batches = (_padded_batch(x, y, idx, batch_size) for idx in edata.batch_indices(n, batch_size, drop_last=False))
    for xb, yb, mb in edata.prefetch(batches, put):
        totals.append(_eval_batch(model, state, xb, yb, mb, compute_dtype))
    loss, correct = (float(sum(np.asarray(t[i]) for t in totals)) for i in (0, 1))
    return {"loss": loss / n, "accuracy": correct / n}


def _padded_batch(x, y, idx, batch_size):
    n = len(idx)
    xb, yb = x[idx], y[idx]
    if n < batch_size:
        xb = np.concatenate([xb, np.zeros((batch_size - n,) + xb.shape[1:], xb.dtype)])
        yb = np.concatenate([yb, np.zeros(batch_size - n, yb.dtype)])
    return xb, yb, np.arange(batch_size) < n


@eqx.filter_jit
def _symmetry_deviation(model, state, x, compute_dtype, flip: bool):
    model = eqx.nn.inference_mode(model)
    views = [jnp.rot90(x, k, axes=(-2, -1)) for k in range(4)]
    if flip:
        views = views[:1] + [jnp.flip(x, axis=-1)]
    logits = jnp.stack([_forward(model, state, v, compute_dtype)[0] for v in views])
    pred = jnp.argmax(logits, axis=-1)
    # reduced inside the jit: replicated scalars, readable on every process of a multi-host run
    return jnp.max(jnp.abs(logits[1:] - logits[:1])), jnp.max(jnp.abs(logits[0])), jnp.mean(pred[1:] == pred[:1])


def invariance_error(
    model, state, x, *, put: Callable = jax.device_put, precision: str = "float32", reflections: bool = False
) -> dict:
    """How much the logits change when the input digits are rotated by 90, 180 and 270
    degrees (exact pixel permutations), in inference mode; with `reflections`, also under
    the left-right mirror image (the reflection of equijax's ``flipRot2dOnR2``, exact on the
    pixel grid).

    Only a model whose group contains these transformations is expected to be invariant:
    a C_N or D_N model for the rotations when 4 divides N, a D_N model for the mirror.

    **Returns:** ``{"relative": max |l(r x) - l(x)| / max |l(x)|, "prediction_agreement":
    fraction of (digit, rotation) pairs with the same predicted class}``, and with
    `reflections` ``"relative_flip"`` and ``"prediction_agreement_flip"`` for the mirror.

    **Raises:** `ValueError` if `x` holds no images.
    """
    if len(x) == 0:
        raise ValueError("`x` holds 0 images; `invariance_error` needs at least one")
    if not isinstance(reflections, bool):
        raise TypeError(f"`reflections` (={reflections!r}) must be a bool")
    dtype = _compute_dtype(precision)
    xs = put(np.asarray(x))
    diff, scale, agree = _symmetry_deviation(model, state, xs, dtype, False)
    out = {"relative": float(diff) / max(float(scale), 1e-30), "prediction_agreement": float(agree)}
    if reflections:
        diff, scale, agree = _symmetry_deviation(model, state, xs, dtype, True)
        out.update(relative_flip=float(diff) / max(float(scale), 1e-30), prediction_agreement_flip=float(agree))
    return out


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


# -- fit --------------------------------------------------------------------------------


class _Log:
    """Prints to stderr, through tqdm when bars are active so lines do not break them."""

    def __init__(self, progress: bool):
        self.tqdm = None
        if progress:
            try:
                from tqdm.auto import tqdm

                self.tqdm = tqdm
            except ImportError:
                pass

    def __call__(self, msg: str):
        if self.tqdm is not None:
            self.tqdm.write(msg, file=sys.stderr)
        else:
            print(msg, file=sys.stderr, flush=True)

    def bar(self, total: int, desc: str):
        return (
            None if self.tqdm is None else self.tqdm(total=total, desc=desc, leave=False, file=sys.stderr, disable=None)
        )


def _prepare(x: np.ndarray, size: int) -> np.ndarray:
    return np.ascontiguousarray(edata.pad_images(x, size)[:, None].astype(np.float32))


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

    # -- the files: outputs, then the checkpoint to resume or start from -------------------
    ckpt = checkpoint_path(config.ckpt_dir) if config.ckpt_dir is not None else None
    _check_outputs(config, ckpt, dataset is None)
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

    ds = dataset if dataset is not None else edata.load_dataset(config.dataset, seed=config.seed)
    if not isinstance(ds, edata.Dataset):
        raise TypeError(f"`dataset` must be an equijax Dataset, got {type(ds).__name__}")
    for split, y in (("training", ds.y_train), ("test", ds.y_test)):
        if int(y.max()) >= config.n_classes:
            raise ValueError(
                f"the dataset's {split} labels go up to {int(y.max())}, beyond `n_classes` (={config.n_classes}): "
                f"the model has classes 0 to {config.n_classes - 1}"
            )

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
    data_sharding, replicated = NamedSharding(mesh, P("batch")), NamedSharding(mesh, P())

    def put_batch(b):
        # every process builds the same global batch and contributes its own slice of it
        def put(a):
            n = len(a) // n_proc
            return jax.make_array_from_process_local_data(data_sharding, a[proc * n : (proc + 1) * n])

        return jax.tree_util.tree_map(put, b)

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
    provenance = None  # the checkpoint this run started from (`init_from`), recorded in each checkpoint
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
        + f"{_count(n_dev, 'device')}: {devices[0].platform}"
    )
    metrics_file = None
    write_metrics = config.metrics is not None and proc == 0

    def emit(record: dict):
        nonlocal metrics_file
        if not write_metrics:
            return
        if metrics_file is None:  # first record: the run has started, an earlier file may go
            Path(config.metrics).parent.mkdir(parents=True, exist_ok=True)
            metrics_file = open(config.metrics, "w")  # noqa: SIM115
            for earlier in history[: start_epoch if resumed is not None else 0]:  # a resumed run's file
                metrics_file.write(json.dumps(earlier) + "\n")  # starts with the checkpoint's epochs
        metrics_file.write(json.dumps(record) + "\n")
        metrics_file.flush()

    x_train = _prepare(ds.x_train, config.input_size)
    x_test = _prepare(ds.x_test, config.input_size)
    model, state, opt_state = _replicate((model, state, opt_state), replicated)
    aug_key = _replicate(jax.random.key_data(aug_key), replicated)  # raw uint32 key: works across processes
    step_fn = _fit_step(_step_settings(config), steps_per_epoch)

    train_images, train_seconds, compile_seconds = 0, 0.0, None
    try:
        for epoch in range(start_epoch, config.epochs):
            order = edata.epoch_order(len(x_train), epoch, config.seed)
            idx = edata.batch_indices(len(x_train), config.batch_size, order)
            batches = edata.prefetch(((x_train[i], ds.y_train[i]) for i in idx), put_batch)
            bar = printer.bar(len(idx), f"epoch {epoch + 1}/{config.epochs}")
            losses, corrects = [], []
            t_epoch = time.perf_counter()
            t_steady = None
            for i, (xb, yb) in enumerate(batches):
                step = np.int32(epoch * steps_per_epoch + i)
                model, state, opt_state, loss, correct = step_fn(aug_key, model, state, opt_state, xb, yb, step)
                losses.append(loss)
                corrects.append(correct)
                if i == 0:
                    jax.block_until_ready(loss)
                    if compile_seconds is None:
                        compile_seconds = time.perf_counter() - t_epoch
                    t_steady = time.perf_counter()
                if bar is not None and (i % 10 == 9 or i == len(idx) - 1):
                    bar.set_postfix(loss=f"{float(loss):.4f}", acc=f"{float(correct) / config.batch_size:.3f}")
                    bar.update(i + 1 - bar.n)
            jax.block_until_ready(losses[-1])
            now = time.perf_counter()
            if bar is not None:
                bar.close()
            steady_images = (len(idx) - 1) * config.batch_size
            if len(idx) > 1:
                train_images += steady_images
                train_seconds += now - t_steady
            record = {
                "epoch": epoch + 1,
                "train_loss": float(np.mean(np.asarray(losses))),
                "train_accuracy": float(np.sum(np.asarray(corrects))) / (len(idx) * config.batch_size),
                "epoch_seconds": now - t_epoch,
                "images_per_second": steady_images / (now - t_steady) if len(idx) > 1 else None,
            }
            if config.eval_every and (epoch + 1) % config.eval_every == 0 and epoch + 1 < config.epochs:
                ev = evaluate(
                    model,
                    state,
                    x_test,
                    ds.y_test,
                    batch_size=config.eval_batch_size,
                    put=put_batch,
                    precision=config.precision,
                )
                record.update(test_loss=ev["loss"], test_accuracy=ev["accuracy"])
            history.append(record)
            if ckpt is not None and proc == 0:
                header = {
                    "epoch": epoch + 1,
                    "history": history,
                    "architecture": config.architecture(),
                    "run": config.run(),
                }
                if provenance is not None:
                    header["init_from"] = provenance
                save_checkpoint(ckpt, header, (model, state, opt_state))
            emit(record)
            log(_format_epoch(record, config.epochs))

        t_eval = time.perf_counter()
        ev = evaluate(
            model,
            state,
            x_test,
            ds.y_test,
            batch_size=config.eval_batch_size,
            put=put_batch,
            precision=config.precision,
        )
        eval_seconds = time.perf_counter() - t_eval
        n_inv = min(config.invariance_samples, len(x_test))
        n_inv = max(n_inv - n_inv % n_dev, n_dev)  # shardable over the devices
        inv = invariance_error(
            model,
            state,
            x_test[:n_inv],
            put=put_batch,
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
            "first_step_seconds": compile_seconds,
            "invariance_error_rot90": inv["relative"],
            "prediction_agreement_rot90": inv["prediction_agreement"],
        }
        if config.reflections:
            summary["invariance_error_flip"] = inv["relative_flip"]
            summary["prediction_agreement_flip"] = inv["prediction_agreement_flip"]
        summary.update(devices=n_dev, platform=devices[0].platform)
        emit(summary)
        log(_format_summary(summary))
    finally:
        if metrics_file is not None:
            metrics_file.close()
    return {"history": history, "summary": summary, "model": model, "state": state}


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


def _replicate(tree, sharding):
    """Place the array leaves of `tree` on `sharding`; other leaves (flags) stay Python values."""

    def put(x):
        return jax.make_array_from_process_local_data(sharding, np.asarray(x)) if eqx.is_array(x) else x

    return jax.tree_util.tree_map(put, tree)


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


def _format_epoch(r: dict, epochs: int) -> str:
    s = f"epoch {r['epoch']}/{epochs}: loss {r['train_loss']:.4f}, train acc {r['train_accuracy']:.4f}"
    if "test_accuracy" in r:
        s += f", test acc {r['test_accuracy']:.4f}"
    ips = r["images_per_second"]
    return s + f", {r['epoch_seconds']:.1f} s" + (f" ({ips:.0f} img/s)" if ips else "")


def _rotation_note(group: str | None) -> str:
    """Why a large 90-degree rotation error may be expected of this model."""
    if group is None:
        return " (the plain CNN is not equivariant: no invariance is expected)"
    n = int(group[1:])
    if n % 4:
        return f" ({group} has no 90-degree rotation: no invariance to it is expected)"
    return ""


def _format_summary(s: dict) -> str:
    ips = s["train_images_per_second"]
    group = s.get("group", "C?" if s["model"] != "cnn" else None)
    lines = [
        f"test accuracy {100 * s['test_accuracy']:.2f}% on {s['test_images']} {s['dataset']} test digits "
        f"(loss {s['test_loss']:.4f}; evaluated in {s['eval_seconds']:.1f} s)",
        f"training throughput {ips:.0f} images/s on {_count(s['devices'], s['platform'] + ' device')}"
        if ips
        else "training throughput: n/a (no steady-state steps in this run)",
        f"invariance under 90-degree rotations: relative logit error {s['invariance_error_rot90']:.2e}, "
        f"predictions agree {100 * s['prediction_agreement_rot90']:.2f}%" + _rotation_note(group),
    ]
    if "invariance_error_flip" in s:
        lines.append(
            f"invariance under the mirror image (left-right flip): relative logit error "
            f"{s['invariance_error_flip']:.2e}, predictions agree {100 * s['prediction_agreement_flip']:.2f}%"
        )
    return "\n".join(lines)
