"""Gated, induced, concatenated and vector-field nonlinearities (escnn's).

- `GatedNonLinearity1`: trivial gate fields scale the other fields, one gate per field, in
  one tensor.
- `GatedNonLinearity2`: the same with gates and gated fields in two tensors.
- `GatedNonLinearityUniform`: every field carries its own gates (first half of its irreps).
- `InducedGatedNonLinearity1`: quotient gate fields scale the sub-fields of induced fields.
- `InducedNormNonLinearity`: a norm nonlinearity on every sub-field of induced fields.
- `ConcatenatedNonLinearity`: ``[f(x), f(-x)]`` on fields acting by signed permutations.
- `VectorFieldNonLinearity`: a C_N regular field becomes a vector (max over rotations).

Channel maps are tuples of integers computed at construction (static, hashable); the only
array leaves are the learned biases.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..group import Representation, decompose, directsum
from ._field_type import FieldType, testing_elements_of
from ._geometric_tensor import GeometricTensor
from ._module import (
    EquivariantModule,
    FieldTypeMismatchError,
    array_function,
    check_input,
    default_key,
    init_parameters,
    resolve_bias,
)
from ._nonlinearities import _squash

GATES_ID = "gate"
GATED_ID = "gated"


# -- helpers ------------------------------------------------------------------------------
def _check_field_type(ftype, name: str = "in_type") -> FieldType:
    if not isinstance(ftype, FieldType):
        raise TypeError(f"`{name}` (={ftype!r}) must be a FieldType")
    return ftype


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


def _along(v: jax.Array, ndim: int, ax: int) -> jax.Array:
    """Reshape a vector of per-channel values to broadcast along axis `ax` of an
    `ndim`-dimensional array (explicit ranks: rank promotion may be disabled)."""
    shape = [1] * ndim
    shape[ax] = v.shape[0]
    return v.reshape(shape)


def _take(t: jax.Array, idx: tuple[int, ...], ax: int) -> jax.Array:
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


def _stable_order(keys: Sequence) -> list[int]:
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
    b = _take(bias.astype(t.dtype), layout.gate_bias, 0)
    s = function(_take(gates, layout.gate_channels, ax) - _along(b, t.ndim, ax))
    scale = _take(s, layout.out_gate, ax)
    y = _take(t, layout.out_source, ax) * scale
    if any(layout.out_is_gate):
        mask = _along(jnp.asarray(np.asarray(layout.out_is_gate)), t.ndim, ax)
        y = jnp.where(mask, scale, y)
    return y


# -- GatedNonLinearity1 -------------------------------------------------------------------------
class GatedNonLinearity1(EquivariantModule):
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

    bias: jax.Array
    in_type: FieldType = eqx.field(static=True)
    out_type: FieldType = eqx.field(static=True)
    gates: tuple[str, ...] = eqx.field(static=True)
    drop_gates: bool = eqx.field(static=True)
    layout: _GateLayout = eqx.field(static=True)

    def __init__(self, in_type: FieldType, gates: Sequence[str] | None = None, drop_gates: bool = True, *, key=None):
        _check_field_type(in_type)
        labels = _check_labels(gates, in_type)
        drop_gates = _check_bool(drop_gates, "drop_gates")
        reps = in_type.representations
        for i, (lab, r) in enumerate(zip(labels, reps)):
            check = _check_gate_repr if lab == GATES_ID else _check_gated_repr
            check(r, f"field {i} of `in_type` (labelled {lab!r})")
        gate_fields = [i for i, lab in enumerate(labels) if lab == GATES_ID]
        gated_fields = [i for i, lab in enumerate(labels) if lab == GATED_ID]
        if len(gate_fields) != len(gated_fields) or not gate_fields:
            raise ValueError(
                f"`gates` labels {len(gate_fields)} fields 'gate' and {len(gated_fields)} 'gated': a gated "
                "nonlinearity needs one gate per gated field and at least one of each"
            )
        order = [gated_fields[i] for i in _stable_order([reps[f].size for f in gated_fields])]
        pairs = dict(zip(order, gate_fields))
        self.in_type = in_type
        self.out_type = in_type.index_select(gated_fields) if drop_gates else in_type
        self.gates = labels
        self.drop_gates = drop_gates
        self.layout = _gate_layout(in_type, labels, pairs, {f: reps[f].size for f in gated_fields}, drop_gates)
        self.bias = _init_bias(key, (len(gate_fields),))

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
        order = _stable_order([r.size for r in gated_type.representations])
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
        from ..testing import assert_equivariant, random_input

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
        _check_field_type(in_type)
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
        scale = _take(self.gate(gates - b), self.expansion, ax + 1)
        y = features * scale
        return GeometricTensor(y.reshape(t.shape[:ax] + (self.out_type.size,) + t.shape[ax + 1 :]), self.out_type)

    def export(self):
        """A function on arrays ``(*batch, C, ...)`` computing the same map."""
        return array_function(self)


# -- induced fields -------------------------------------------------------------------------------
def _induced_parts(r: Representation, tag: str, where: str) -> tuple:
    """``(subgroup_id, sub_repr, n_blocks)`` of an induced field, or a clear error."""
    info = r.induced_from
    if tag not in r.supported_nonlinearities or info is None:
        raise ValueError(
            f"{where} is {r!r}, which is not an induced representation supporting {tag!r} nonlinearities "
            "(build induced fields with `group.induced_representation(subgroup_id, repr)`)"
        )
    sid, sub = info
    return sid, sub, r.size // sub.size


def _check_elements(group):
    return group.elements if not group.continuous else testing_elements_of(group)


@functools.cache
def _gates_blocks(gate: Representation, gated: Representation) -> bool:
    """Whether `gate` permutes its channels exactly as `gated` permutes its sub-fields
    (the quotient representation of the subgroup `gated` is induced from)."""
    sub = gated.induced_from[1]
    n = gated.size // sub.size
    if gate.size != n or gate.group != gated.group:
        return False
    els = _check_elements(gate.group)
    P = gate.matrices(els)
    Pr = np.round(P)
    if not np.allclose(P, Pr, atol=1e-6) or not (np.all((Pr == 0) | (Pr == 1)) and np.all(Pr.sum(-1) == 1)):
        return False
    d = sub.size
    M = gated.matrices(els).reshape(len(els), n, d, n, d)
    blocks = np.sqrt(np.einsum("gidje,gidje->gij", M, M))
    return bool(np.array_equal(blocks > 1e-6, Pr == 1))


class InducedGatedNonLinearity1(EquivariantModule):
    """Gated nonlinearity for induced fields: a gate field transforming by the quotient
    representation G/H scales each of the n sub-fields of an induced field
    ``Ind_H^G psi`` (n = [G : H] blocks of ``psi.size`` channels, which G permutes as it
    permutes the cosets) by ``sigmoid(gate_i - bias)``.

    As in escnn, gates are matched with gated fields by size: the k-th gate (in input order)
    scales the k-th gated field once the gated fields are sorted stably by (size, sub-field
    size). Each gate must transform like the cosets of its gated field's subgroup (e.g.
    ``group.quotient_representation(subgroup_id)``); one bias per gate field, shared by its
    channels.

    **Arguments:**

    - `in_type`: the field type holding gates and induced gated fields.
    - `gates`: one label per field, ``'gate'`` or ``'gated'``; default (``None``): the first
      half of the fields are the gates, the second half the gated fields.
    - `drop_gates`: drop the gates from the output (default); with ``False`` the gates are
      kept, replaced by ``sigmoid(gate - bias)``.
    - `key`: a JAX PRNG key (keyword-only) drawing the biases from N(0, 1) as escnn does;
      ``None`` starts them at zero.

    **Raises:** `TypeError` if `in_type` is not a FieldType or `gates`/`drop_gates` have the
    wrong type; `ValueError` if a label is not ``'gate'``/``'gated'``, a gated field is not
    induced, a gate does not permute like its gated field's sub-fields, or the numbers of
    gates and gated fields differ.
    """

    bias: jax.Array
    in_type: FieldType = eqx.field(static=True)
    out_type: FieldType = eqx.field(static=True)
    gates: tuple[str, ...] = eqx.field(static=True)
    drop_gates: bool = eqx.field(static=True)
    layout: _GateLayout = eqx.field(static=True)

    def __init__(self, in_type: FieldType, gates: Sequence[str] | None = None, drop_gates: bool = True, *, key=None):
        _check_field_type(in_type)
        labels = _check_labels(gates, in_type)
        drop_gates = _check_bool(drop_gates, "drop_gates")
        reps = in_type.representations
        sub_size = {}
        for i, (lab, r) in enumerate(zip(labels, reps)):
            if lab == GATED_ID:
                sub_size[i] = _induced_parts(r, "induced_gated", f"field {i} of `in_type` (labelled 'gated')")[1].size
        gate_fields = [i for i, lab in enumerate(labels) if lab == GATES_ID]
        gated_fields = [i for i, lab in enumerate(labels) if lab == GATED_ID]
        if len(gate_fields) != len(gated_fields) or not gate_fields:
            raise ValueError(
                f"`gates` labels {len(gate_fields)} fields 'gate' and {len(gated_fields)} 'gated': a gated "
                "nonlinearity needs one gate per gated field and at least one of each"
            )
        order = [gated_fields[i] for i in _stable_order([(reps[f].size, sub_size[f]) for f in gated_fields])]
        pairs = dict(zip(order, gate_fields))
        for f, g in pairs.items():
            if not _gates_blocks(reps[g], reps[f]):
                sid, sub = reps[f].induced_from
                raise ValueError(
                    f"field {g} of `in_type` ({reps[g]!r}) gates field {f} ({reps[f]!r}, {reps[f].size // sub.size} "
                    f"sub-fields), but it does not permute its channels like those sub-fields: use "
                    f"`group.quotient_representation({sid!r})` as its gate"
                )
        self.in_type = in_type
        self.out_type = in_type.index_select(gated_fields) if drop_gates else in_type
        self.gates = labels
        self.drop_gates = drop_gates
        self.layout = _gate_layout(in_type, labels, pairs, sub_size, drop_gates)
        self.bias = _init_bias(key, (len(gate_fields),))

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


_INDUCED_NORM_FUNCTIONS: dict[str, Callable] = {"n_relu": jax.nn.relu, "n_sigmoid": jax.nn.sigmoid, "squash": _squash}
_NORM_EPS = 1e-10


class InducedNormNonLinearity(EquivariantModule):
    """Norm nonlinearity on every sub-field of induced fields: each of the n blocks of an
    induced field ``Ind_H^G psi`` is rescaled to the norm ``f(|block| - b)``, where b is a
    learned bias per field (shared by its sub-fields) kept positive as ``b = exp(log_bias)``
    (escnn's parametrisation; ``log_bias`` starts at 0, i.e. b = 1).

    - ``'n_relu'``: f = relu; ``'n_sigmoid'``: f = sigmoid; ``'squash'``: f(t) = t / (1 + t).

    Blocks of norm below 1e-10 are set to zero. As in escnn, bias k belongs to the k-th
    field once the fields are sorted stably by (size, sub-field size).

    **Arguments:**

    - `in_type`: a field type of induced fields (from representations that preserve norms).
    - `function`: ``'n_relu'`` (default), ``'n_sigmoid'`` or ``'squash'``.
    - `bias` (escnn's name) or `use_bias` (keyword only, Equinox's): whether to subtract the
      learned bias from the norms (default ``True``); give either, both if they agree.

    **Raises:** `TypeError` if `in_type` is not a FieldType or a bias flag is not a bool;
    `ValueError` if a field is not an induced representation, `function` is unknown, or
    `bias` and `use_bias` disagree.
    """

    log_bias: jax.Array | None
    in_type: FieldType = eqx.field(static=True)
    out_type: FieldType = eqx.field(static=True)
    function: str = eqx.field(static=True)
    block_of_channel: tuple[int, ...] = eqx.field(static=True)
    bias_of_block: tuple[int, ...] = eqx.field(static=True)

    def __init__(
        self, in_type: FieldType, function: str = "n_relu", bias: bool | None = None, *, use_bias: bool | None = None
    ):
        _check_field_type(in_type)
        if not isinstance(function, str) or function not in _INDUCED_NORM_FUNCTIONS:
            raise ValueError(f"`function` (={function!r}) must be one of {list(_INDUCED_NORM_FUNCTIONS)}")
        bias = resolve_bias(bias, use_bias)
        reps = in_type.representations
        subs = [_induced_parts(r, "induced_norm", f"field {i} of `in_type`")[1].size for i, r in enumerate(reps)]
        order = _stable_order([(r.size, d) for r, d in zip(reps, subs)])
        bias_index = {f: k for k, f in enumerate(order)}
        block_of_channel, bias_of_block = [], []
        for f, (r, d) in enumerate(zip(reps, subs)):
            for _ in range(r.size // d):
                block_of_channel += [len(bias_of_block)] * d
                bias_of_block.append(bias_index[f])
        self.in_type = self.out_type = in_type
        self.function = function
        self.block_of_channel = tuple(block_of_channel)
        self.bias_of_block = tuple(bias_of_block)
        self.log_bias = jax.device_put(np.zeros(len(in_type), np.dtype(jnp.result_type(float)))) if bias else None

    def __call__(self, x: GeometricTensor, *, key=None) -> GeometricTensor:
        """**Arguments:** `x`, a `GeometricTensor` of `in_type`; `key` (unused).

        **Returns:** a `GeometricTensor` of `out_type` (= `in_type`).
        """
        del key
        check_input(self, x)
        t = x.tensor
        ax = t.ndim + self.in_type.channel_axis
        n_blocks = len(self.bias_of_block)
        sq = jax.ops.segment_sum(
            jnp.moveaxis(t * t, ax, 0),
            np.asarray(self.block_of_channel, np.int32),
            num_segments=n_blocks,
            indices_are_sorted=True,
        )
        sq = jnp.moveaxis(sq, 0, ax)
        norms = jnp.where(sq > 0, jnp.sqrt(jnp.where(sq > 0, sq, 1.0)), 0.0)
        f = _INDUCED_NORM_FUNCTIONS[self.function]
        if self.log_bias is not None:
            b = _take(jnp.exp(self.log_bias.astype(t.dtype)), self.bias_of_block, 0)
            new = f(norms - _along(b, t.ndim, ax))
        else:
            new = f(norms)
        big = norms > _NORM_EPS
        scale = jnp.where(big, new / jnp.where(big, norms, 1.0), 0.0)
        return GeometricTensor(t * _take(scale, self.block_of_channel, ax), self.out_type)

    def export(self):
        """A function on arrays ``(*batch, C, ...)`` computing the same map."""
        return array_function(self)


# -- ConcatenatedNonLinearity ------------------------------------------------------------------------
_CONCATENATED_FUNCTIONS: dict[str, Callable] = {"c_relu": jax.nn.relu, "c_sigmoid": jax.nn.sigmoid, "c_tanh": jnp.tanh}


@functools.cache
def concatenated_representation(rep: Representation) -> Representation:
    """The representation of ``[f(x_0), f(-x_0), f(x_1), f(-x_1), ...]`` for a field `rep`
    acting by signed permutations: a +1 entry becomes the 2x2 identity, a -1 entry the 2x2
    swap. The result permutes channels (supports pointwise nonlinearities).

    **Raises:** `ValueError` if `rep` is not a signed permutation representation.
    """
    G = rep.group
    R = rep.matrices(_check_elements(G))
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
        _check_field_type(in_type)
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
        _check_field_type(in_type)
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
