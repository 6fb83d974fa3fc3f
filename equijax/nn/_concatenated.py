"""Concatenated and vector-field nonlinearities (escnn's), whose output fields transform
differently from their input fields.

- `ConcatenatedNonLinearity`: ``[f(x), f(-x)]`` on fields acting by signed permutations;
  `concatenated_representation` is the representation of its output fields.
- `VectorFieldNonLinearity`: a C_N regular field becomes a vector (max over rotations).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..group import Representation, decompose
from ._field_type import FieldType, testing_elements_of
from ._geometric_tensor import GeometricTensor
from ._misc import check_field_type
from ._module import EquivariantModule, array_function, check_input

_CONCATENATED_FUNCTIONS: dict[str, Callable] = {"c_relu": jax.nn.relu, "c_sigmoid": jax.nn.sigmoid, "c_tanh": jnp.tanh}


@functools.cache
def concatenated_representation(rep: Representation) -> Representation:
    """The representation of ``[f(x_0), f(-x_0), f(x_1), f(-x_1), ...]`` for a field `rep`
    acting by signed permutations: a +1 entry becomes the 2x2 identity, a -1 entry the 2x2
    swap. The result permutes channels (supports pointwise nonlinearities).

    **Raises:** `ValueError` if `rep` is not a signed permutation representation.
    """
    G = rep.group
    R = rep.matrices(testing_elements_of(G))
    Rr = np.round(R)
    ok = np.allclose(R, Rr, atol=1e-9) and np.all(np.abs(Rr).sum(-1) == 1) and np.all(np.abs(Rr).sum(-2) == 1)
    if not ok:
        raise ValueError(
            f"{rep!r} does not act by signed permutations of its channels: concatenated nonlinearities need "
            "matrices with one entry +-1 per row and column"
        )

    def mats(elements):
        S = np.round(rep.matrices(elements))
        n, s = S.shape[0], S.shape[1]
        out = np.zeros((n, 2 * s, 2 * s))
        pos, neg = (S == 1).astype(float), (S == -1).astype(float)
        out[:, 0::2, 0::2] = pos
        out[:, 1::2, 1::2] = pos
        out[:, 0::2, 1::2] = neg
        out[:, 1::2, 0::2] = neg
        return out

    ids, Q = decompose(G, mats, rep.bandwidth)
    return Representation(G, ids, Q, f"concatenated_{rep.name}", rep.supported_nonlinearities | {"pointwise"})


class ConcatenatedNonLinearity(EquivariantModule):
    """Concatenated nonlinearity: every channel x becomes the two channels
    ``[f(x), f(-x)]`` (interleaved, so the output has twice the channels). Equivariant for
    fields whose representations act by signed permutations (tag ``'concatenated'``:
    trivial, regular, quotient fields); each output field transforms by
    `concatenated_representation` of its input field.

    **Arguments:**

    - `in_type`: the field type.
    - `function`: ``'c_relu'`` (default), ``'c_sigmoid'`` or ``'c_tanh'``.

    **Raises:** `TypeError` if `in_type` is not a FieldType; `ValueError` if a field does
    not support concatenated nonlinearities or `function` is unknown.
    """

    in_type: FieldType = eqx.field(static=True)
    out_type: FieldType = eqx.field(static=True)
    function: str = eqx.field(static=True)

    def __init__(self, in_type: FieldType, function: str = "c_relu"):
        check_field_type(in_type)
        if not isinstance(function, str) or function not in _CONCATENATED_FUNCTIONS:
            raise ValueError(f"`function` (={function!r}) must be one of {list(_CONCATENATED_FUNCTIONS)}")
        for i, r in enumerate(in_type.representations):
            if "concatenated" not in r.supported_nonlinearities:
                raise ValueError(
                    f"field {i} of `in_type` is {r!r}, which does not support concatenated nonlinearities (they need "
                    "fields acting by signed permutations: trivial, regular, quotient, ...)"
                )
        self.in_type = in_type
        self.out_type = FieldType(in_type.gspace, [concatenated_representation(r) for r in in_type.representations])
        self.function = function

    def __call__(self, x: GeometricTensor, *, key=None) -> GeometricTensor:
        """**Arguments:** `x`, a `GeometricTensor` of `in_type`; `key` (unused).

        **Returns:** a `GeometricTensor` of `out_type` (twice the channels).
        """
        del key
        check_input(self, x)
        t = x.tensor
        ax = t.ndim + self.in_type.channel_axis
        f = _CONCATENATED_FUNCTIONS[self.function]
        y = jnp.stack([f(t), f(-t)], axis=ax + 1)
        return GeometricTensor(y.reshape(t.shape[:ax] + (2 * t.shape[ax],) + t.shape[ax + 1 :]), self.out_type)

    def export(self):
        """A function on arrays ``(*batch, C, ...)`` computing the same map."""
        return array_function(self)


# -- VectorFieldNonLinearity ---------------------------------------------------------------------------
class VectorFieldNonLinearity(EquivariantModule):
    """Vector-field nonlinearity for regular fields of the cyclic group C_N: each field
    (N activations, one per rotation) becomes the vector of length ``relu(max)`` pointing
    at the angle ``2 pi argmax / N`` of its strongest rotation, a field of the
    frequency-1 irrep (for C_2, that irrep is 1-dimensional and the output is its cosine
    component). Not differentiable in the argmax; ties pick the first rotation.

    **Arguments:** `in_type`: a field type of regular fields of C_N (N >= 2).

    **Raises:** `TypeError` if `in_type` is not a FieldType; `ValueError` if its group is
    not a cyclic group C_N with N >= 2 or a field is not the regular representation.
    """

    in_type: FieldType = eqx.field(static=True)
    out_type: FieldType = eqx.field(static=True)

    def __init__(self, in_type: FieldType):
        check_field_type(in_type)
        G = in_type.fibergroup
        if G.continuous or G.has_flips or G.rotation_order < 2:
            raise ValueError(
                f"VectorFieldNonLinearity needs the fields of a cyclic group C_N with N >= 2, but `in_type` is "
                f"over {G.name}"
            )
        regular = G.regular_representation
        for i, r in enumerate(in_type.representations):
            if r != regular:
                raise ValueError(f"field {i} of `in_type` is {r!r}: VectorFieldNonLinearity needs regular fields")
        self.in_type = in_type
        self.out_type = FieldType(in_type.gspace, [G.irrep(1)] * len(in_type))

    def __call__(self, x: GeometricTensor, *, key=None) -> GeometricTensor:
        """**Arguments:** `x`, a `GeometricTensor` of `in_type`; `key` (unused).

        **Returns:** a `GeometricTensor` of `out_type` (one vector per field).
        """
        del key
        check_input(self, x)
        t = x.tensor
        ax = t.ndim + self.in_type.channel_axis
        N = self.in_type.fibergroup.rotation_order
        F = len(self.in_type)
        fields = t.reshape(t.shape[:ax] + (F, N) + t.shape[ax + 1 :])
        m = jax.nn.relu(jnp.max(fields, axis=ax + 1))
        k = jnp.argmax(fields, axis=ax + 1)
        angles = 2 * np.pi * np.arange(N) / N
        cos = jnp.asarray(np.cos(angles), t.dtype)[k] * m
        if self.out_type.representations[0].size == 1:
            return GeometricTensor(cos, self.out_type)
        sin = jnp.asarray(np.sin(angles), t.dtype)[k] * m
        y = jnp.stack([cos, sin], axis=ax + 1)
        return GeometricTensor(y.reshape(t.shape[:ax] + (2 * F,) + t.shape[ax + 1 :]), self.out_type)

    def export(self):
        """A function on arrays ``(*batch, C, ...)`` computing the same map."""
        return array_function(self)
