"""The jit-compiled training step: the optimizer of a `TrainConfig`, the forward pass in
the configured precision, `make_train_step` (with its host-side label check) and the step
`fit` compiles once per optimizer and augmentation setting."""

from __future__ import annotations

import functools
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from .. import data as edata
from .._misc import at_least_float32
from ._config import TrainConfig, precision_dtype
from ._report import _count


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


def _forward(model, state, x, compute_dtype):
    """Logits in float32 whatever the compute dtype (the loss and argmax stay accurate)."""
    if compute_dtype is not None:
        x = x.astype(compute_dtype)
    logits, state = model(x, state)
    return logits.astype(at_least_float32(logits.dtype)), state


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
    compute_dtype = precision_dtype(precision)
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
    compute_dtype = precision_dtype(precision)

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
