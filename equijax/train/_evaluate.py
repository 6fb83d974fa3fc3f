"""Evaluation of a trained model: mean loss and accuracy (`evaluate`) and the logits'
invariance under the grid's exact rotations and mirror (`invariance_error`)."""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from .. import data as edata
from ._config import precision_dtype
from ._step import _check_labels, _correct, _forward, _logit_size


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
    compute_dtype = precision_dtype(precision)
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
    dtype = precision_dtype(precision)
    xs = put(np.asarray(x))
    diff, scale, agree = _symmetry_deviation(model, state, xs, dtype, False)
    out = {"relative": float(diff) / max(float(scale), 1e-30), "prediction_agreement": float(agree)}
    if reflections:
        diff, scale, agree = _symmetry_deviation(model, state, xs, dtype, True)
        out.update(relative_flip=float(diff) / max(float(scale), 1e-30), prediction_agreement_flip=float(agree))
    return out
