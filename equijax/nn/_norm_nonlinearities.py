"""Norm nonlinearities: each field keeps its direction and gets a new norm, a function of its
(biased) norm, which is equivariant for any orthogonal representation.

- `NormNonLinearity`: on whole fields (escnn's).
- The field-norm helpers shared with the norm pools and normalisations: `field_membership`,
  `field_norms`, `broadcast_fields`, and the safe square root and rescaling of norms.

The norm nonlinearity of induced fields (`InducedNormNonLinearity`) lives in
`_induced_nonlinearities`.
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._field_type import FieldType
from ._geometric_tensor import GeometricTensor
from ._misc import check_field_type
from ._module import EquivariantModule, array_function, check_input, resolve_bias


def field_membership(ftype: FieldType) -> np.ndarray:
    """``(C, n_fields)`` 0/1 matrix: channel c belongs to field f."""
    M = np.zeros((ftype.size, len(ftype)))
    for f, (s, e) in enumerate(zip(ftype.fields_start, ftype.fields_end)):
        M[s:e, f] = 1.0
    return M


def field_norms(ftype: FieldType, t: jnp.ndarray) -> jnp.ndarray:
    """Euclidean norm of every field: ``(*batch, n_fields, *spatial)`` (safe gradient at 0)."""
    ax = ftype.channel_axis
    M = jnp.asarray(field_membership(ftype), t.dtype)
    return safe_sqrt(jnp.moveaxis(jnp.moveaxis(t * t, ax, -1) @ M, -1, ax))


def safe_sqrt(sq: jnp.ndarray) -> jnp.ndarray:
    """``sqrt(sq)`` for squared norms, 0 where ``sq == 0`` with a finite (zero) gradient there."""
    return jnp.where(sq > 0, jnp.sqrt(jnp.where(sq > 0, sq, 1.0)), 0.0)


def broadcast_fields(ftype: FieldType, v: jnp.ndarray) -> jnp.ndarray:
    """Per-field values ``(*batch, n_fields, *spatial)`` repeated over each field's channels."""
    ax = ftype.channel_axis
    M = jnp.asarray(field_membership(ftype).T, v.dtype)
    return jnp.moveaxis(jnp.moveaxis(v, ax, -1) @ M, -1, ax)


def squash(t):
    return t / (1.0 + t)


_NORM_FUNCTIONS: dict[str, Callable] = {
    "n_relu": jax.nn.relu,
    "n_sigmoid": jax.nn.sigmoid,
    "n_softplus": jax.nn.softplus,
    "squash": squash,
}
_NORM_EPS = 1e-10


def norm_scale(new: jnp.ndarray, norms: jnp.ndarray) -> jnp.ndarray:
    """The factor ``new / norms`` that gives a vector of norm `norms` the norm `new`; 0 where
    ``norms <= 1e-10`` (such vectors are set to zero)."""
    big = norms > _NORM_EPS
    return jnp.where(big, new / jnp.where(big, norms, 1.0), 0.0)


class NormNonLinearity(EquivariantModule):
    """Sets the norm of each field to a function of its (biased) norm, keeping its direction:
    equivariant for any orthogonal representation (escnn's ``NormNonLinearity``).

    A field v becomes ``v * f(|v| - b) / |v|`` (0 where ``|v| <= 1e-10``), with a learned
    bias per field kept positive as ``b = exp(log_bias)`` (``log_bias`` starts at 0):

    - ``'n_relu'``: f = relu; ``'n_sigmoid'``: f = sigmoid; ``'n_softplus'``: f = softplus;
    - ``'squash'``: ``f(t) = t / (1 + t)``, without bias.

    **Arguments:**

    - `in_type`: the field type (output type is the same).
    - `function`: one of ``'n_relu'`` (default), ``'n_sigmoid'``, ``'n_softplus'``, ``'squash'``.
    - `bias` (escnn's name) or `use_bias` (keyword only, Equinox's name): learn the norm bias
      (default True, as in escnn; must be False for ``'squash'``). Give either; both is
      allowed if they agree.

    **Raises:** `TypeError` if `in_type` is not a FieldType or a bias flag is not a bool;
    `ValueError` for an unknown `function`, a bias with ``'squash'``, `bias` and `use_bias`
    that disagree, or fields that do not support norm nonlinearities.
    """

    log_bias: jax.Array | None
    in_type: FieldType = eqx.field(static=True)
    out_type: FieldType = eqx.field(static=True)
    function: str = eqx.field(static=True)

    def __init__(
        self, in_type: FieldType, function: str = "n_relu", bias: bool | None = None, *, use_bias: bool | None = None
    ):
        check_field_type(in_type)
        if not isinstance(function, str) or function not in _NORM_FUNCTIONS:
            raise ValueError(f"`function` (={function!r}) must be one of {list(_NORM_FUNCTIONS)}")
        bias = resolve_bias(bias, use_bias, default=True)
        if function == "squash" and bias:
            raise ValueError("`bias` must be False with function='squash' (the squash takes no norm bias)")
        bad = [r for r in in_type.representations if "norm" not in r.supported_nonlinearities]
        if bad:
            raise ValueError(
                f"NormNonLinearity needs fields supporting norm nonlinearities; `in_type` contains {bad[0]!r}"
            )
        self.in_type = self.out_type = in_type
        self.function = function
        dtype = np.dtype(jnp.result_type(float))
        self.log_bias = jax.device_put(np.zeros(len(in_type), dtype)) if bias else None

    def __call__(self, x: GeometricTensor, *, key=None) -> GeometricTensor:
        del key
        check_input(self, x)
        t = x.tensor
        n = field_norms(self.in_type, t)
        ax = t.ndim + self.in_type.channel_axis
        if self.log_bias is not None:
            shape = [1] * t.ndim
            shape[ax] = len(self.in_type)
            n_biased = n - jnp.exp(self.log_bias.astype(t.dtype)).reshape(shape)
        else:
            n_biased = n
        scale = norm_scale(_NORM_FUNCTIONS[self.function](n_biased), n)
        return GeometricTensor(t * broadcast_fields(self.in_type, scale), self.out_type)

    def export(self):
        """A function on arrays ``(*batch, C, ...)`` computing the same map."""
        return array_function(self)
