"""The jit-compiled training step, evaluation, the 90-degree invariance check, and `fit`,
which runs a whole `TrainConfig` with checkpoints, metrics and data-parallel sharding."""

from __future__ import annotations

import json
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
from ._checkpoint import checkpoint_path, load_checkpoint, read_header, save_checkpoint
from ._config import ARCHITECTURE_FIELDS, RUN_FIELDS, TrainConfig


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

    `x` is a batch ``(B, 1, S, S)``, `y` its labels; with `augment` each image is rotated by
    its own uniform random angle, drawn on device from ``fold_in(key, step)``. The model's
    batch norms see the whole batch, also when it is sharded over devices. The model, state
    and optimizer state buffers are donated.

    `precision` ``"bfloat16"`` is equijax's mixed-precision policy: the (augmented) input is
    cast to bfloat16, so convolutions and pooling compute in bfloat16, while parameters,
    gradients, optimizer state and batch-norm statistics stay float32 and the loss is
    computed from float32 logits.
    """
    compute_dtype = _compute_dtype(precision)

    def loss_fn(model, state, x, y):
        logits, state = _forward(model, state, x, compute_dtype)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        return loss, (state, jnp.sum(jnp.argmax(logits, axis=-1) == y))

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


@eqx.filter_jit
def _eval_batch(model, state, x, y, mask, compute_dtype):
    logits, _ = _forward(eqx.nn.inference_mode(model), state, x, compute_dtype)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, y)
    correct = jnp.argmax(logits, axis=-1) == y
    return jnp.sum(jnp.where(mask, loss, 0.0)), jnp.sum(correct & mask)


def evaluate(
    model, state, x, y, *, batch_size: int = 500, put: Callable = jax.device_put, precision: str = "float32"
) -> dict:
    """Mean loss and accuracy of ``model(x, state)`` in inference mode
    (`eqx.nn.inference_mode`) on ``(x, y)`` (numpy arrays, `x` already padded to the
    model's input size), computing in `precision`. Every batch has the same shape (the
    last is padded and masked), so this compiles once."""
    compute_dtype = _compute_dtype(precision)
    n = len(x)
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
def _rotation_deviation(model, state, x, compute_dtype):
    model = eqx.nn.inference_mode(model)
    logits = jnp.stack([_forward(model, state, jnp.rot90(x, k, axes=(-2, -1)), compute_dtype)[0] for k in range(4)])
    pred = jnp.argmax(logits, axis=-1)
    # reduced inside the jit: replicated scalars, readable on every process of a multi-host run
    return jnp.max(jnp.abs(logits[1:] - logits[:1])), jnp.max(jnp.abs(logits[0])), jnp.mean(pred[1:] == pred[:1])


def invariance_error(model, state, x, *, put: Callable = jax.device_put, precision: str = "float32") -> dict:
    """How much the logits change when the input digits are rotated by 90, 180 and 270
    degrees (exact pixel permutations), in inference mode.

    **Returns:** ``{"relative": max |l(r x) - l(x)| / max |l(x)|, "prediction_agreement":
    fraction of (digit, rotation) pairs with the same predicted class}``.
    """
    diff, scale, agree = _rotation_deviation(model, state, put(np.asarray(x)), _compute_dtype(precision))
    return {"relative": float(diff) / max(float(scale), 1e-30), "prediction_agreement": float(agree)}


def load_trained(ckpt_dir) -> tuple:
    """``(model, state, config, header)`` from the checkpoint that `fit` (or
    ``equijax-train --ckpt-dir``) wrote in `ckpt_dir`: the model is rebuilt from the
    recorded configuration and its trained parameters and batch-norm statistics loaded.

    **Raises:** `FileNotFoundError` / `ValueError` if there is no readable checkpoint.
    """
    path = checkpoint_path(ckpt_dir)
    header = read_header(path)
    try:
        config = TrainConfig(**header["architecture"], **header["run"], progress=False)
    except (KeyError, TypeError) as e:
        raise ValueError(f"{path} lacks its training configuration ({e})") from None
    model, state = config.build_model(jax.random.key(0))
    opt_state = make_optimizer(config, 1).init(eqx.filter(model, eqx.is_array))
    _, (model, state, _) = load_checkpoint(path, (model, state, opt_state))
    return model, state, config, header


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

    Everything that can fail on bad input (dataset, checkpoint, devices) is checked before
    anything is written. With `ckpt_dir` the full training state (model, batch-norm state,
    optimizer state, key, epoch, metrics) is written atomically after every epoch, and
    ``resume=True`` continues from it exactly: shuffling and augmentation depend only on
    (seed, epoch, step).

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
    ds = dataset if dataset is not None else edata.load_dataset(config.dataset, seed=config.seed)
    if not isinstance(ds, edata.Dataset):
        raise TypeError(f"`dataset` must be an equijax Dataset, got {type(ds).__name__}")
    if int(max(ds.y_train.max(), ds.y_test.max())) >= config.n_classes:
        raise ValueError(f"dataset labels go up to {int(ds.y_train.max())}, beyond `n_classes`={config.n_classes}")

    n_proc, proc = jax.process_count(), jax.process_index()
    if n_proc > 1 and config.devices is not None:
        raise ValueError("`devices` picks local devices of one process; a jax.distributed run uses every device")
    devices = jax.devices() if n_proc > 1 else jax.local_devices()
    n_dev = len(devices) if config.devices is None else config.devices
    if n_dev > len(devices):
        raise ValueError(f"`devices`={n_dev} but only {len(devices)} local devices are available")
    for name in ("batch_size", "eval_batch_size"):
        if getattr(config, name) % n_dev:
            raise ValueError(f"`{name}` (={getattr(config, name)}) must be divisible by the {n_dev} devices")
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
    optimizer = make_optimizer(config, steps_per_epoch)
    opt_state = optimizer.init(eqx.filter(model, eqx.is_array))

    history: list[dict] = []
    start_epoch = 0
    ckpt = checkpoint_path(config.ckpt_dir) if config.ckpt_dir is not None else None
    if ckpt is not None and ckpt.exists() and not config.resume:
        raise ValueError(f"{ckpt} exists; pass --resume to continue it, or choose another --ckpt-dir")
    if config.resume:
        header = read_header(ckpt)
        _check_compatible(header, config, ckpt)
        _, (model, state, opt_state) = load_checkpoint(ckpt, (model, state, opt_state))
        start_epoch, history = int(header["epoch"]), list(header["history"])
        log(f"resumed {ckpt} after epoch {start_epoch}")

    n_params = sum(x.size for x in jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_inexact_array)))
    log(f"dataset: {ds.description}")
    log(
        f"model: {config.model} (width {config.width}"
        + (f", group C{config.rotation_order}), " if config.rotation_order else "), ")
        + f"{n_params:,} parameters, built in {build_seconds:.2f} s; {n_dev} device(s): {devices[0].platform}"
    )
    metrics_file = None
    if config.metrics is not None and proc == 0:
        Path(config.metrics).parent.mkdir(parents=True, exist_ok=True)
        metrics_file = open(config.metrics, "w")  # noqa: SIM115
        for record in history:  # a resumed run's file starts with the checkpoint's epochs
            metrics_file.write(json.dumps(record) + "\n")

    def emit(record: dict):
        if metrics_file is not None:
            metrics_file.write(json.dumps(record) + "\n")
            metrics_file.flush()

    x_train = _prepare(ds.x_train, config.input_size)
    x_test = _prepare(ds.x_test, config.input_size)
    model, state, opt_state = _replicate((model, state, opt_state), replicated)
    aug_key = _replicate(jax.random.key_data(aug_key), replicated)  # raw uint32 key: works across processes
    step_fn = make_train_step(
        optimizer, augment=config.augment, aug_supersample=config.aug_supersample, precision=config.precision
    )

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
        inv = invariance_error(model, state, x_test[:n_inv], put=put_batch, precision=config.precision)
        summary = {
            "event": "summary",
            "dataset": ds.name,
            "model": config.model,
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
            "devices": n_dev,
            "platform": devices[0].platform,
        }
        emit(summary)
        log(_format_summary(summary))
    finally:
        if metrics_file is not None:
            metrics_file.close()
    return {"history": history, "summary": summary, "model": model, "state": state}


def _replicate(tree, sharding):
    """Place the array leaves of `tree` on `sharding`; other leaves (flags) stay Python values."""

    def put(x):
        return jax.make_array_from_process_local_data(sharding, np.asarray(x)) if eqx.is_array(x) else x

    return jax.tree_util.tree_map(put, tree)


def _check_compatible(header: dict, config: TrainConfig, ckpt) -> None:
    arch, run = header.get("architecture", {}), header.get("run", {})
    diff = [
        f"{f}: {arch.get(f)!r} (checkpoint) vs {getattr(config, f)!r}"
        for f in ARCHITECTURE_FIELDS
        if arch.get(f) != getattr(config, f)
    ]
    if diff:
        raise ValueError(f"{ckpt} is from another architecture: {'; '.join(diff)}")
    # fields added after a checkpoint was written take their default
    defaults = TrainConfig()
    recorded = {f: run.get(f, getattr(defaults, f)) for f in RUN_FIELDS}
    diff = [f"{f}: {recorded[f]!r} vs {getattr(config, f)!r}" for f in RUN_FIELDS if recorded[f] != getattr(config, f)]
    if diff:
        raise ValueError(f"{ckpt} was trained with other settings; resuming needs the same ({'; '.join(diff)})")


def _format_epoch(r: dict, epochs: int) -> str:
    s = f"epoch {r['epoch']}/{epochs}: loss {r['train_loss']:.4f}, train acc {r['train_accuracy']:.4f}"
    if "test_accuracy" in r:
        s += f", test acc {r['test_accuracy']:.4f}"
    ips = r["images_per_second"]
    return s + f", {r['epoch_seconds']:.1f} s" + (f" ({ips:.0f} img/s)" if ips else "")


def _format_summary(s: dict) -> str:
    ips = s["train_images_per_second"]
    lines = [
        f"test accuracy {100 * s['test_accuracy']:.2f}% on {s['test_images']} {s['dataset']} test digits "
        f"(loss {s['test_loss']:.4f}; evaluated in {s['eval_seconds']:.1f} s)",
        f"training throughput {ips:.0f} images/s on {s['devices']} {s['platform']} device(s)"
        if ips
        else "training throughput: n/a (no steady-state steps in this run)",
        f"invariance under 90-degree rotations: relative logit error {s['invariance_error_rot90']:.2e}, "
        f"predictions agree {100 * s['prediction_agreement_rot90']:.2f}%",
    ]
    return "\n".join(lines)
