"""Pointwise nonlinearities: one function applied to every channel, equivariant for fields
whose representations permute channels (trivial, regular, quotient).

- `PointwiseNonLinearity`: a named or given function.
- `ReLU`, `ELU`, `LeakyReLU`: escnn's named layers (its `inplace` flag accepted, without
  effect).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..internal import is_real
from ._field_type import FieldType
from ._geometric_tensor import GeometricTensor
from ._misc import check_field_type
from ._module import EquivariantModule, check_input

POINTWISE_FUNCTIONS: dict[str, Callable] = {
    "p_relu": jax.nn.relu,
    "p_elu": jax.nn.elu,
    "p_sigmoid": jax.nn.sigmoid,
    "p_tanh": jnp.tanh,
    "p_gelu": jax.nn.gelu,
    "p_silu": jax.nn.silu,
}


def check_pointwise(ftype, module: str) -> None:
    """Pointwise maps commute only with representations acting by permutations."""
    check_field_type(ftype)
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
            if function not in POINTWISE_FUNCTIONS:
                raise ValueError(
                    f"`function` (={function!r}) must be a callable or one of {sorted(POINTWISE_FUNCTIONS)}"
                )
            function = POINTWISE_FUNCTIONS[function]
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
    ok = is_real(value)
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
