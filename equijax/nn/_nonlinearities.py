"""Equivariant nonlinearities: pointwise (on permutation-like fields) and norm-based."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._field_type import FieldType
from ._geometric_tensor import GeometricTensor
from ._module import EquivariantModule, array_function, check_input, resolve_bias

_POINTWISE_FUNCTIONS: dict[str, Callable] = {
    "p_relu": jax.nn.relu,
    "p_elu": jax.nn.elu,
    "p_sigmoid": jax.nn.sigmoid,
    "p_tanh": jnp.tanh,
    "p_gelu": jax.nn.gelu,
    "p_silu": jax.nn.silu,
}


def check_pointwise(ftype, module: str) -> None:
    """Pointwise maps commute only with representations acting by permutations."""
    if not isinstance(ftype, FieldType):
        raise TypeError(f"`in_type` (={ftype!r}) must be a FieldType")
    bad = [r for r in ftype.representations if "pointwise" not in r.supported_nonlinearities]
    if bad:
        raise ValueError(
            f"{module} needs fields whose representations act by permuting channels (trivial, regular, "
            f"quotient, ...), but `in_type` contains {bad[0]!r}: a pointwise map would break equivariance "
            "(use NormNonLinearity for such fields)"
        )


class PointwiseNonLinearity(EquivariantModule):
    """Applies `function` to every channel. Equivariant for fields whose representations
    permute channels (trivial, regular, quotient).

    **Arguments:**

    - `in_type`: the field type (output type is the same).
    - `function`: a callable on arrays, or one of ``'p_relu'``, ``'p_elu'``, ``'p_sigmoid'``,
      ``'p_tanh'``, ``'p_gelu'``, ``'p_silu'``.

    **Raises:** `ValueError` if a field does not support pointwise maps or `function` is unknown.
    """

    in_type: FieldType = eqx.field(static=True)
    out_type: FieldType = eqx.field(static=True)
    function: Callable = eqx.field(static=True)

    def __init__(self, in_type: FieldType, function: str | Callable = "p_relu"):
        check_pointwise(in_type, type(self).__name__)
        if isinstance(function, str):
            if function not in _POINTWISE_FUNCTIONS:
                raise ValueError(
                    f"`function` (={function!r}) must be a callable or one of {sorted(_POINTWISE_FUNCTIONS)}"
                )
            function = _POINTWISE_FUNCTIONS[function]
        elif not callable(function):
            raise ValueError(f"`function` (={function!r}) must be a callable or a name")
        self.in_type = self.out_type = in_type
        self.function = function

    def __call__(self, x: GeometricTensor, *, key=None) -> GeometricTensor:
        del key
        check_input(self, x)
        return GeometricTensor(self.function(x.tensor), self.out_type)

    def export(self):
        """The plain function on arrays."""
        return self.function


class _ScaledELU(NamedTuple):
    alpha: float

    def __call__(self, x):
        return jax.nn.elu(x, self.alpha)


class _LeakyReLU(NamedTuple):
    negative_slope: float

    def __call__(self, x):
        return jax.nn.leaky_relu(x, self.negative_slope)


def _check_inplace(inplace) -> None:
    """escnn's `inplace` flag: accepted (a bool) without effect, JAX arrays being immutable."""
    if not isinstance(inplace, (bool, np.bool_)):
        raise TypeError(f"`inplace` (={inplace!r}) must be a bool (it has no effect: JAX arrays are immutable)")


def _real_parameter(name: str, value) -> float:
    """A finite real number given as a Python/numpy scalar or a 0-d concrete array.

    **Raises:** `TypeError` for anything else (bools included); `ValueError` for nan / inf.
    """
    ok = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
    if not ok and isinstance(value, (np.ndarray, jax.Array)) and not isinstance(value, jax.core.Tracer):
        ok = value.ndim == 0 and (jnp.issubdtype(value.dtype, jnp.floating) or jnp.issubdtype(value.dtype, jnp.integer))
    if not ok:
        raise TypeError(f"`{name}` (={value!r}) must be a real number")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"`{name}` (={value!r}) must be finite")
    return value


class ReLU(PointwiseNonLinearity):
    """``max(x, 0)`` on every channel (pointwise fields only; escnn's ``ReLU``).

    **Arguments:** `in_type`; `inplace` (escnn's flag, a bool, without effect).

    **Raises:** `TypeError` / `ValueError` for a bad argument or fields that do not act by
    permutations.
    """

    def __init__(self, in_type: FieldType, inplace: bool = False):
        _check_inplace(inplace)  # arrays are immutable in JAX; kept for escnn compatibility
        super().__init__(in_type, jax.nn.relu)


class ELU(PointwiseNonLinearity):
    """``elu(x, alpha)`` on every channel (pointwise fields only; escnn's ``ELU``).

    **Arguments:** `in_type`; `alpha` (a finite real number, default 1.0); `inplace` (escnn's
    flag, a bool, without effect).

    **Raises:** `TypeError` if `alpha` is not a real number; `ValueError` if it is nan or
    infinite, or the fields do not act by permutations.
    """

    alpha: float = eqx.field(static=True)

    def __init__(self, in_type: FieldType, alpha: float = 1.0, inplace: bool = False):
        self.alpha = _real_parameter("alpha", alpha)
        _check_inplace(inplace)
        super().__init__(in_type, _ScaledELU(self.alpha))  # hashable by value: no recompiles


class LeakyReLU(PointwiseNonLinearity):
    """``leaky_relu(x, negative_slope)`` on every channel (pointwise fields only; escnn's
    ``LeakyReLU``).

    **Arguments:** `in_type`; `negative_slope` (a finite real number, default 0.01);
    `inplace` (escnn's flag, a bool, without effect).

    **Raises:** `TypeError` if `negative_slope` is not a real number; `ValueError` if it is
    nan or infinite, or the fields do not act by permutations.
    """

    negative_slope: float = eqx.field(static=True)

    def __init__(self, in_type: FieldType, negative_slope: float = 0.01, inplace: bool = False):
        self.negative_slope = _real_parameter("negative_slope", negative_slope)
        _check_inplace(inplace)
        super().__init__(in_type, _LeakyReLU(self.negative_slope))


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
    sq = jnp.moveaxis(jnp.moveaxis(t * t, ax, -1) @ M, -1, ax)
    safe = jnp.where(sq > 0, sq, 1.0)
    return jnp.where(sq > 0, jnp.sqrt(safe), 0.0)


def broadcast_fields(ftype: FieldType, v: jnp.ndarray) -> jnp.ndarray:
    """Per-field values ``(*batch, n_fields, *spatial)`` repeated over each field's channels."""
    ax = ftype.channel_axis
    M = jnp.asarray(field_membership(ftype).T, v.dtype)
    return jnp.moveaxis(jnp.moveaxis(v, ax, -1) @ M, -1, ax)


def _squash(t):
    return t / (1.0 + t)


_NORM_FUNCTIONS: dict[str, Callable] = {
    "n_relu": jax.nn.relu,
    "n_sigmoid": jax.nn.sigmoid,
    "n_softplus": jax.nn.softplus,
    "squash": _squash,
}
_NORM_EPS = 1e-10


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
        if not isinstance(in_type, FieldType):
            raise TypeError(f"`in_type` (={in_type!r}) must be a FieldType")
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
        big = n > _NORM_EPS
        scale = jnp.where(big, _NORM_FUNCTIONS[self.function](n_biased) / jnp.where(big, n, 1.0), 0.0)
        return GeometricTensor(t * broadcast_fields(self.in_type, scale), self.out_type)

    def export(self):
        """A function on arrays ``(*batch, C, ...)`` computing the same map."""
        return array_function(self)
