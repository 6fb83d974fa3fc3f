"""Dropout of whole field vectors (`FieldDropout`) or of single channels of fields acting by
permutations (`PointwiseDropout`), following `eqx.nn.Dropout`'s conventions."""

from __future__ import annotations

import numbers

import equinox as eqx
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jax import lax

from ._field_type import FieldType
from ._geometric_tensor import GeometricTensor
from ._misc import check_bool, check_field_type
from ._module import EquivariantModule, check_input
from ._pointwise import check_pointwise


def _check_p(p) -> float:
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p < 1:
        raise ValueError(f"`p` (={p!r}) must be a dropout probability in [0, 1)")
    return float(p)


class _Dropout(EquivariantModule):
    # Like eqx.nn.Dropout, `p` and `inference` are ordinary (non-static) fields, so that
    # eqx.tree_at and eqx.nn.inference_mode can change them. Neither is an array.
    p: float
    inference: bool
    in_type: FieldType = eqx.field(static=True)
    out_type: FieldType = eqx.field(static=True)

    _pointwise = False

    def __init__(self, in_type: FieldType, p: float = 0.5, inference: bool = False):
        if self._pointwise:
            check_pointwise(in_type, type(self).__name__)
        else:
            check_field_type(in_type)
        self.inference = check_bool(inference, "inference")
        self.p = _check_p(p)
        self.in_type = self.out_type = in_type

    def __call__(self, x: GeometricTensor, *, key=None, inference: bool | None = None) -> GeometricTensor:
        """**Arguments:**

        - `x`: a `GeometricTensor` of `in_type`.
        - `key`: a PRNG key, needed in training mode (keyword only).
        - `inference`: overrides the module's mode; in inference mode the input is returned.

        **Returns:** the `GeometricTensor` with dropped entries set to zero and the kept
        ones scaled by ``1 / (1 - p)``.

        **Raises:** `ValueError` in training mode without a `key`.
        """
        check_input(self, x)
        if inference is None:
            inference = self.inference
        if isinstance(self.p, (int, float)) and self.p == 0:
            inference = True
        if inference:
            return x
        if key is None:
            raise ValueError(
                f"{type(self).__name__} in training mode needs a PRNG key: call it with `key=`, or switch to "
                "inference mode (`module.eval()`, `eqx.nn.inference_mode` or `inference=True`)"
            )
        t = x.tensor
        q = 1 - lax.stop_gradient(jnp.asarray(self.p, t.dtype))
        keep = self._mask(key, q, t.shape)
        return GeometricTensor(jnp.where(keep, t / q, jnp.zeros((), t.dtype)), self.out_type)

    def export(self):
        """The inference-mode map: the identity."""
        return eqx.nn.Identity()

    def check_equivariance(self, atol: float = 1e-5, rtol: float = 1e-5, **kwargs):
        """Checks the inference-mode module (dropout in training mode is random); arguments
        as `EquivariantModule.check_equivariance`."""
        return EquivariantModule.check_equivariance(self.eval(), atol, rtol, **kwargs)


class FieldDropout(_Dropout):
    """Dropout of whole field vectors (escnn's ``FieldDropout``): in training mode, each
    field of each sample at each pixel is zeroed with probability `p`, all its channels
    together, and the kept ones are scaled by ``1 / (1 - p)``. Any field type.

    The mask is drawn independently at every pixel (as in escnn), so the module is
    equivariant in distribution; with a fixed key it commutes exactly with the action on
    the fibres (the group acting on each field's channels).

    **Arguments:**

    - `in_type`: the field type (output type is the same).
    - `p`: the dropout probability, in [0, 1).
    - `inference`: start in inference mode (the identity); toggled by `eval()`,
      `train()` or `eqx.nn.inference_mode`.

    **Raises:** `TypeError` if `in_type` is not a FieldType; `ValueError` if `p` is not in
    [0, 1).
    """

    def _mask(self, key, q, shape):
        ax = len(shape) + self.in_type.channel_axis
        mask_shape = shape[:ax] + (len(self.in_type),) + shape[ax + 1 :]
        keep = jr.bernoulli(key, q, mask_shape)
        field_of_channel = np.repeat(np.arange(len(self.in_type)), [r.size for r in self.in_type.representations])
        return jnp.take(keep, jnp.asarray(field_of_channel), axis=ax)


class PointwiseDropout(_Dropout):
    """Dropout of single channels (escnn's ``PointwiseDropout``, a plain dropout): only for
    fields whose representations act by permuting channels (trivial, regular, quotient),
    for which it is equivariant in distribution. In inference mode, the identity.

    **Arguments:**

    - `in_type`: the field type (output type is the same).
    - `p`: the dropout probability, in [0, 1).
    - `inference`: start in inference mode.

    **Raises:** `ValueError` if a field does not act by permutations or `p` is not in
    [0, 1).
    """

    _pointwise = True

    def _mask(self, key, q, shape):
        return jr.bernoulli(key, q, shape)
