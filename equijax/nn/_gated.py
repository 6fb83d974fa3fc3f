"""Gated nonlinearities (escnn's): invariant gates scale the gated fields.

- `GatedNonLinearity1`: trivial gate fields scale the other fields, one gate per field, in
  one tensor.
- `GatedNonLinearity2`: the same with gates and gated fields in two tensors.
- `GatedNonLinearityUniform`: every field carries its own gates (first half of its irreps).

The gated nonlinearity of induced fields (`InducedGatedNonLinearity1`) shares this file's
gate layout and lives in `_induced_nonlinearities`. Channel maps are tuples of integers
computed at construction (static, hashable); the only array leaves are the learned biases.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..group import Representation, directsum
from ._field_type import FieldType
from ._geometric_tensor import GeometricTensor
from ._misc import check_field_type
from ._module import (
    EquivariantModule,
    FieldTypeMismatchError,
    array_function,
    check_input,
    default_key,
    init_parameters,
)

GATES_ID = "gate"
GATED_ID = "gated"


# -- helpers ------------------------------------------------------------------------------
def _check_bool(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` (={value!r}) must be a bool")
    return bool(value)


def _init_bias(key, shape: tuple[int, ...]) -> jax.Array:
    """N(0, 1) biases from `key` (escnn's initialisation), zeros when `key` is None."""
    if key is None:
        return jax.device_put(np.zeros(shape, np.dtype(jnp.result_type(float))))
    weights, _ = init_parameters(key, np.ones(shape), None, None)
    return weights


def along(v: jax.Array, ndim: int, ax: int) -> jax.Array:
    """Reshape a vector of per-channel values to broadcast along axis `ax` of an
    `ndim`-dimensional array (explicit ranks: rank promotion may be disabled)."""
    shape = [1] * ndim
    shape[ax] = v.shape[0]
    return v.reshape(shape)


def take(t: jax.Array, idx: tuple[int, ...], ax: int) -> jax.Array:
    """The entries `idx` (a static tuple) of `t` along axis `ax`."""
    return jnp.take(t, np.asarray(idx, dtype=np.int32), axis=ax)


def _check_labels(gates, in_type: FieldType) -> tuple[str, ...]:
    """escnn's `gates`: one 'gate'/'gated' label per field; default first half gates."""
    if gates is None:
        if len(in_type) % 2:
            raise ValueError(
                f"`in_type` has {len(in_type)} fields: with `gates=None` the first half must be the gates and "
                "the second half the gated fields, so the number of fields must be even"
            )
        half = len(in_type) // 2
        return (GATES_ID,) * half + (GATED_ID,) * half
    if isinstance(gates, str) or not isinstance(gates, Sequence):
        raise TypeError(f"`gates` (={gates!r}) must be a list of 'gate' / 'gated' labels, one per field")
    gates = tuple(gates)
    if len(gates) != len(in_type):
        raise ValueError(f"`gates` has {len(gates)} labels but `in_type` has {len(in_type)} fields")
    bad = [g for g in gates if g not in (GATES_ID, GATED_ID)]
    if bad:
        raise ValueError(f"`gates` contains {bad[0]!r}: every label must be 'gate' or 'gated'")
    return gates


def _check_gate_repr(r: Representation, where: str) -> None:
    if not (r.size == 1 and r.is_trivial()):
        raise ValueError(f"{where} is {r!r}, but a gate must be a trivial field of size 1")


def _check_gated_repr(r: Representation, where: str) -> None:
    if GATED_ID not in r.supported_nonlinearities:
        raise ValueError(
            f"{where} is {r!r}, which does not support gated nonlinearities "
            f"(its supported_nonlinearities are {sorted(r.supported_nonlinearities)})"
        )


def stable_order(keys: Sequence) -> list[int]:
    """Indices sorted by key, ties in input order (escnn's grouping of fields)."""
    return sorted(range(len(keys)), key=lambda i: (keys[i], i))


class _GateLayout(NamedTuple):
    """Where the gates are and what each output channel is (all static).

    Gate channel ``c`` is input channel ``gate_channels[c]`` with bias ``gate_bias[c]``.
    Output channel ``o`` is ``sigma(gate o_gate) * input[o_source]``, or the transformed
    gate itself ``sigma(gate o_gate)`` where ``out_is_gate[o]``.
    """

    gate_channels: tuple[int, ...]
    gate_bias: tuple[int, ...]
    out_source: tuple[int, ...]
    out_gate: tuple[int, ...]
    out_is_gate: tuple[bool, ...]


def _gate_layout(
    in_type: FieldType, labels: tuple[str, ...], pairs: dict[int, int], sub_size: dict[int, int], drop_gates: bool
) -> _GateLayout:
    """`pairs`: gated field -> gate field; `sub_size`: gated field -> size of the block each
    gate channel scales (the whole field, or a sub-field of an induced field)."""
    starts, ends = in_type.fields_start, in_type.fields_end
    gate_fields = [i for i, lab in enumerate(labels) if lab == GATES_ID]
    gate_channels, gate_bias, first = [], [], {}
    for k, f in enumerate(gate_fields):
        first[f] = len(gate_channels)
        gate_channels += range(starts[f], ends[f])
        gate_bias += [k] * int(ends[f] - starts[f])
    src, gate, is_gate = [], [], []
    for f, lab in enumerate(labels):
        size = int(ends[f] - starts[f])
        if lab == GATES_ID:
            if drop_gates:
                continue
            src += range(starts[f], ends[f])
            gate += range(first[f], first[f] + size)
            is_gate += [True] * size
        else:
            g0, d = first[pairs[f]], sub_size[f]
            src += range(starts[f], ends[f])
            gate += [g0 + j // d for j in range(size)]
            is_gate += [False] * size
    return _GateLayout(_ints(gate_channels), _ints(gate_bias), _ints(src), _ints(gate), tuple(is_gate))


def _ints(seq) -> tuple[int, ...]:
    return tuple(int(i) for i in seq)


def _apply_gates(
    t: jax.Array, gates: jax.Array, ax: int, layout: _GateLayout, bias: jax.Array, function: Callable
) -> jax.Array:
    """``function(gate - bias)`` times the gated channels of `t` (gates read from `gates`)."""
    b = take(bias.astype(t.dtype), layout.gate_bias, 0)
    s = function(take(gates, layout.gate_channels, ax) - along(b, t.ndim, ax))
    scale = take(s, layout.out_gate, ax)
    y = take(t, layout.out_source, ax) * scale
    if any(layout.out_is_gate):
        mask = along(jnp.asarray(np.asarray(layout.out_is_gate)), t.ndim, ax)
        y = jnp.where(mask, scale, y)
    return y


def check_gate_arguments(in_type, gates, drop_gates) -> tuple[tuple[str, ...], bool]:
    """The checked `in_type`, `gates` labels and `drop_gates` flag of the one-tensor gated
    nonlinearities: ``(labels, drop_gates)``."""
    check_field_type(in_type)
    return _check_labels(gates, in_type), _check_bool(drop_gates, "drop_gates")


def pair_gates(labels: tuple[str, ...], reps: Sequence[Representation], sub_size: dict[int, int]) -> dict[int, int]:
    """escnn's matching of gates with gated fields: the k-th gate (in input order) gates the
    k-th gated field once these are sorted stably by (size, `sub_size`). Returns
    ``{gated field: gate field}``, the gated fields in sorted order.

    **Raises:** `ValueError` unless there are as many gates as gated fields, at least one.
    """
    gate_fields = [i for i, lab in enumerate(labels) if lab == GATES_ID]
    gated_fields = [i for i, lab in enumerate(labels) if lab == GATED_ID]
    if len(gate_fields) != len(gated_fields) or not gate_fields:
        raise ValueError(
            f"`gates` labels {len(gate_fields)} fields 'gate' and {len(gated_fields)} 'gated': a gated "
            "nonlinearity needs one gate per gated field and at least one of each"
        )
    order = [gated_fields[i] for i in stable_order([(reps[f].size, sub_size[f]) for f in gated_fields])]
    return dict(zip(order, gate_fields))


class AbstractGatedNonLinearity1(EquivariantModule):
    """The gated nonlinearities whose gates are fields of the input tensor
    (`GatedNonLinearity1`, `InducedGatedNonLinearity1`): their fields, the call and the
    export. A final class checks its fields, pairs the gates and calls `_set_gates`."""

    bias: jax.Array
    in_type: FieldType = eqx.field(static=True)
    out_type: FieldType = eqx.field(static=True)
    gates: tuple[str, ...] = eqx.field(static=True)
    drop_gates: bool = eqx.field(static=True)
    layout: _GateLayout = eqx.field(static=True)

    @abc.abstractmethod
    def __init__(self, in_type: FieldType, gates: Sequence[str] | None = None, drop_gates: bool = True, *, key=None):
        """Check `in_type`'s fields, pair the gates (`pair_gates`) and call `_set_gates`."""

    def _set_gates(self, in_type, labels, drop_gates, pairs: dict[int, int], sub_size: dict[int, int], key) -> None:
        """Set the fields from the checked arguments and the pairs of `pair_gates`; the
        biases are drawn from `key` (zeros when it is None)."""
        self.in_type = in_type
        self.out_type = in_type.index_select(sorted(pairs)) if drop_gates else in_type
        self.gates = labels
        self.drop_gates = drop_gates
        self.layout = _gate_layout(in_type, labels, pairs, sub_size, drop_gates)
        self.bias = _init_bias(key, (len(pairs),))

    def __call__(self, x: GeometricTensor, *, key=None) -> GeometricTensor:
        """**Arguments:** `x`, a `GeometricTensor` of `in_type`; `key` (unused).

        **Returns:** a `GeometricTensor` of `out_type`.
        """
        del key
        check_input(self, x)
        t = x.tensor
        ax = t.ndim + self.in_type.channel_axis
        return GeometricTensor(_apply_gates(t, t, ax, self.layout, self.bias, jax.nn.sigmoid), self.out_type)

    def export(self):
        """A function on arrays ``(*batch, C, ...)`` computing the same map."""
        return array_function(self)


# -- GatedNonLinearity1 -------------------------------------------------------------------------
class GatedNonLinearity1(AbstractGatedNonLinearity1):
    """Gated nonlinearity: each gated field is multiplied by ``sigmoid(gate - bias)``, the
    gate being a trivial (invariant) scalar field of the same tensor. Equivariant for any
    gated representation, since the scale is invariant.

    As in escnn, gates are matched with gated fields by size: the k-th gate (in input order)
    scales the k-th gated field once the gated fields are sorted stably by size (for fields
    of one size, the k-th gate scales the k-th field).

    **Arguments:**

    - `in_type`: the field type holding gates and gated fields.
    - `gates`: one label per field, ``'gate'`` or ``'gated'``; default (``None``): the first
      half of the fields are the gates, the second half the gated fields.
    - `drop_gates`: drop the gates from the output (default); with ``False`` the output
      keeps every field, the gates replaced by ``sigmoid(gate - bias)``.
    - `key`: a JAX PRNG key (keyword-only) drawing the gate biases from N(0, 1) as escnn
      does; ``None`` starts them at zero.

    **Raises:** `TypeError` if `in_type` is not a FieldType or `gates`/`drop_gates` have the
    wrong type; `ValueError` if a label is not ``'gate'``/``'gated'``, a gate is not a
    trivial size-1 field, a gated field does not support gated nonlinearities, or the
    numbers of gates and gated fields differ.
    """

    def __init__(self, in_type: FieldType, gates: Sequence[str] | None = None, drop_gates: bool = True, *, key=None):
        labels, drop_gates = check_gate_arguments(in_type, gates, drop_gates)
        reps = in_type.representations
        for i, (lab, r) in enumerate(zip(labels, reps)):
            check = _check_gate_repr if lab == GATES_ID else _check_gated_repr
            check(r, f"field {i} of `in_type` (labelled {lab!r})")
        sub_size = {f: r.size for f, (lab, r) in enumerate(zip(labels, reps)) if lab == GATED_ID}
        self._set_gates(in_type, labels, drop_gates, pair_gates(labels, reps, sub_size), sub_size, key)


# -- GatedNonLinearity2 -------------------------------------------------------------------------
class GatedNonLinearity2(EquivariantModule):
    """Gated nonlinearity with the gates in a separate tensor: called as
    ``module(gates, input)`` (escnn's order), it returns ``input``'s fields each multiplied
    by ``sigmoid(gate - bias)``.

    Gates are matched with gated fields as in `GatedNonLinearity1` (the k-th gate scales the
    k-th gated field once these are sorted stably by size).

    **Arguments:**

    - `in_type`: a pair ``(gates_type, gated_type)``: the type of the gates (trivial size-1
      fields) and that of the gated fields, with as many fields, on the same gspace.
    - `key`: a JAX PRNG key (keyword-only) drawing the biases from N(0, 1) as escnn does;
      ``None`` starts them at zero.

    **Raises:** `TypeError` if `in_type` is not a pair of FieldTypes; `ValueError` if the
    gspaces differ, a gate is not a trivial size-1 field, a gated field does not support
    gated nonlinearities, or the numbers of fields differ.
    """

    bias: jax.Array
    in_type: tuple[FieldType, FieldType] = eqx.field(static=True)
    out_type: FieldType = eqx.field(static=True)
    layout: _GateLayout = eqx.field(static=True)

    def __init__(self, in_type: tuple[FieldType, FieldType], *, key=None):
        if not (
            isinstance(in_type, (tuple, list)) and len(in_type) == 2 and all(isinstance(t, FieldType) for t in in_type)
        ):
            raise TypeError(f"`in_type` (={in_type!r}) must be a pair (gates_type, gated_type) of FieldTypes")
        gates_type, gated_type = in_type
        if gates_type.gspace != gated_type.gspace:
            raise ValueError(
                f"`in_type` pairs field types of different gspaces: {gates_type.gspace.name} and "
                f"{gated_type.gspace.name}"
            )
        for i, r in enumerate(gates_type.representations):
            _check_gate_repr(r, f"field {i} of the gates type `in_type[0]`")
        for i, r in enumerate(gated_type.representations):
            _check_gated_repr(r, f"field {i} of the gated type `in_type[1]`")
        if len(gates_type) != len(gated_type):
            raise ValueError(
                f"`in_type[0]` has {len(gates_type)} gates but `in_type[1]` has {len(gated_type)} gated fields: "
                "one gate per gated field is needed"
            )
        n = len(gated_type)
        order = stable_order([r.size for r in gated_type.representations])
        # one combined layout on the concatenation [gates, gated]: gates are fields 0..n-1
        joint = gates_type + gated_type
        labels = (GATES_ID,) * n + (GATED_ID,) * n
        pairs = {n + f: k for k, f in enumerate(order)}
        layout = _gate_layout(joint, labels, pairs, {n + f: r.size for f, r in enumerate(gated_type)}, True)
        shift = gates_type.size  # the gated channels, relative to the gated tensor
        self.layout = layout._replace(out_source=tuple(c - shift for c in layout.out_source))
        self.in_type = (gates_type, gated_type)
        self.out_type = gated_type
        self.bias = _init_bias(key, (n,))

    def __call__(self, gates: GeometricTensor, input: GeometricTensor, *, key=None) -> GeometricTensor:
        """**Arguments:** `gates`, a `GeometricTensor` of ``in_type[0]``; `input`, one of
        ``in_type[1]`` with the same batch and spatial shape; `key` (unused).

        **Returns:** a `GeometricTensor` of `out_type` (``in_type[1]``).

        **Raises:** `TypeError`/`ValueError` if the inputs have the wrong types or shapes.
        """
        del key
        for name, x, ftype in (("gates", gates, self.in_type[0]), ("input", input, self.in_type[1])):
            if not isinstance(x, GeometricTensor):
                raise TypeError(f"`{name}` must be a GeometricTensor of type {ftype!r}, got {type(x).__name__}")
            if x.type != ftype:
                raise FieldTypeMismatchError(f"`{name}` has type {x.type!r}, but GatedNonLinearity2 expects {ftype!r}")
        ax = input.ndim + self.out_type.channel_axis
        if gates.shape[:ax] + gates.shape[ax + 1 :] != input.shape[:ax] + input.shape[ax + 1 :]:
            raise ValueError(
                f"`gates` (shape {gates.shape}) and `input` (shape {input.shape}) must have the same batch and "
                "spatial shape"
            )
        t = input.tensor
        y = _apply_gates(t, gates.tensor.astype(t.dtype), ax, self.layout, self.bias, jax.nn.sigmoid)
        return GeometricTensor(y, self.out_type)

    def evaluate_output_shape(self, gates_shape: tuple[int, ...], input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The output shape for inputs of shapes `gates_shape` and `input_shape`."""

        def run(g, t):
            return self(GeometricTensor(g, self.in_type[0]), GeometricTensor(t, self.in_type[1])).tensor

        structs = [jax.ShapeDtypeStruct(tuple(s), jnp.float32) for s in (gates_shape, input_shape)]
        return tuple(jax.eval_shape(run, *structs).shape)

    def check_equivariance(self, atol: float = 1e-5, rtol: float = 1e-5, *, key=None, elements=None, input_size=None,
                           batch=2):  # fmt: skip
        """Check ``f(g gates, g input) = g f(gates, input)`` on random inputs (see
        `EquivariantModule.check_equivariance`)."""
        from .testing import assert_equivariant, random_input

        gates_type, gated_type = self.in_type
        x = random_input(
            gates_type + gated_type, key=default_key(key), batch=batch, size=input_size or self._testing_input_size()
        )
        return assert_equivariant(self._joint, x, elements=elements, atol=atol, rtol=rtol)

    def _joint(self, x: GeometricTensor) -> GeometricTensor:
        """The module on the direct sum ``gates (+) input`` (one tensor)."""
        gates, inputs = x.split([None, len(self.in_type[0]), None])
        return self(gates, inputs)

    def export(self):
        """A function ``(gates_array, input_array) -> output_array`` computing the same map."""

        def apply(g, t):
            return self(GeometricTensor(g, self.in_type[0]), GeometricTensor(t, self.in_type[1])).tensor

        apply.__name__ = "GatedNonLinearity2_exported"
        return apply


# -- GatedNonLinearityUniform ----------------------------------------------------------------------
class GatedNonLinearityUniform(EquivariantModule):
    """Gated nonlinearity for uniform field types whose fields carry their own gates.

    Every field has the same representation, a direct sum of irreps with no change of basis
    whose first half are trivial (the gates) and second half the gated irreps: the i-th gate
    scales the i-th gated irrep by ``gate(g_i - bias)``. The gates are dropped: each output
    field is the direct sum of the gated irreps.

    **Arguments:**

    - `in_type`: a uniform field type (all fields of one representation) as above.
    - `gate`: the function applied to ``gate - bias`` (default: the sigmoid).
    - `key`: a JAX PRNG key (keyword-only) drawing the biases (one per field and gate) from
      N(0, 1) as escnn does; ``None`` starts them at zero.

    **Raises:** `TypeError` if `in_type` is not a FieldType or `gate` is not callable;
    `ValueError` if the fields differ, the representation has a change of basis, an odd
    number of irreps, or a non-trivial irrep in its first half.
    """

    bias: jax.Array
    in_type: FieldType = eqx.field(static=True)
    out_type: FieldType = eqx.field(static=True)
    gate: Callable = eqx.field(static=True)
    expansion: tuple[int, ...] = eqx.field(static=True)

    def __init__(self, in_type: FieldType, gate: Callable = jax.nn.sigmoid, *, key=None):
        check_field_type(in_type)
        if not callable(gate):
            raise TypeError(f"`gate` (={gate!r}) must be a callable on arrays, e.g. jax.nn.sigmoid")
        rho = in_type.representations[0]
        other = [r for r in in_type.representations if r != rho]
        if other:
            raise ValueError(
                f"`in_type` must be uniform (every field of one representation), but it has {rho!r} and {other[0]!r}"
            )
        n = len(rho.irreps)
        if n % 2:
            raise ValueError(
                f"the fields of `in_type` ({rho!r}) have {n} irreps: a uniform gated field needs an even number, "
                "one trivial gate for each gated irrep"
            )
        if not np.allclose(rho.change_of_basis, np.eye(rho.size), atol=1e-9):
            raise ValueError(
                f"the fields of `in_type` ({rho!r}) have a change of basis: GatedNonLinearityUniform needs the "
                "representation to be a plain direct sum of irreps"
            )
        G = rho.group
        gates, gated = rho.irreps[: n // 2], rho.irreps[n // 2 :]
        bad = [i for i in gates if not G.irrep(*i).is_trivial()]
        if bad:
            raise ValueError(
                f"the first half of the irreps of {rho!r} must be trivial (the gates), but it contains irrep {bad[0]}"
            )
        irreps = [G.irrep(*i) for i in gated]
        out_rho = irreps[0] if len(irreps) == 1 else directsum(irreps)
        self.in_type = in_type
        self.out_type = FieldType(in_type.gspace, [out_rho] * len(in_type))
        self.gate = gate
        self.expansion = tuple(i for i, p in enumerate(irreps) for _ in range(p.size))
        self.bias = _init_bias(key, (len(in_type), n // 2))

    def __call__(self, x: GeometricTensor, *, key=None) -> GeometricTensor:
        """**Arguments:** `x`, a `GeometricTensor` of `in_type`; `key` (unused).

        **Returns:** a `GeometricTensor` of `out_type`.
        """
        del key
        check_input(self, x)
        t = x.tensor
        ax = t.ndim + self.in_type.channel_axis
        n_fields, n_gates = self.bias.shape
        fields = t.reshape(t.shape[:ax] + (n_fields, t.shape[ax] // n_fields) + t.shape[ax + 1 :])
        gates = jax.lax.slice_in_dim(fields, 0, n_gates, axis=ax + 1)
        features = jax.lax.slice_in_dim(fields, n_gates, fields.shape[ax + 1], axis=ax + 1)
        b = self.bias.astype(t.dtype).reshape((1,) * ax + (n_fields, n_gates) + (1,) * (t.ndim - ax - 1))
        scale = take(self.gate(gates - b), self.expansion, ax + 1)
        y = features * scale
        return GeometricTensor(y.reshape(t.shape[:ax] + (self.out_type.size,) + t.shape[ax + 1 :]), self.out_type)

    def export(self):
        """A function on arrays ``(*batch, C, ...)`` computing the same map."""
        return array_function(self)
