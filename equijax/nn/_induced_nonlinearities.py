"""Nonlinearities for induced fields ``Ind_H^G psi``, made of n = [G : H] sub-fields that G
permutes as it permutes the cosets G/H (escnn's).

- `InducedGatedNonLinearity1`: quotient gate fields scale the sub-fields of induced fields
  (the gated nonlinearity of `_gated`, with one gate channel per sub-field).
- `InducedNormNonLinearity`: a norm nonlinearity on every sub-field (that of
  `_norm_nonlinearities`, per sub-field).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..group import Representation
from ._field_type import FieldType, testing_elements_of
from ._gated import (
    GATED_ID,
    AbstractGatedNonLinearity1,
    along,
    check_gate_arguments,
    pair_gates,
    stable_order,
    take,
)
from ._geometric_tensor import GeometricTensor
from ._misc import check_field_type
from ._module import EquivariantModule, array_function, check_input, resolve_bias
from ._norm_nonlinearities import norm_scale, safe_sqrt, squash


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


@functools.cache
def _gates_blocks(gate: Representation, gated: Representation) -> bool:
    """Whether `gate` permutes its channels exactly as `gated` permutes its sub-fields
    (the quotient representation of the subgroup `gated` is induced from)."""
    sub = gated.induced_from[1]
    n = gated.size // sub.size
    if gate.size != n or gate.group != gated.group:
        return False
    els = testing_elements_of(gate.group)
    P = gate.matrices(els)
    Pr = np.round(P)
    if not np.allclose(P, Pr, atol=1e-6) or not (np.all((Pr == 0) | (Pr == 1)) and np.all(Pr.sum(-1) == 1)):
        return False
    d = sub.size
    M = gated.matrices(els).reshape(len(els), n, d, n, d)
    blocks = np.sqrt(np.einsum("gidje,gidje->gij", M, M))
    return bool(np.array_equal(blocks > 1e-6, Pr == 1))


class InducedGatedNonLinearity1(AbstractGatedNonLinearity1):
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

    def __init__(self, in_type: FieldType, gates: Sequence[str] | None = None, drop_gates: bool = True, *, key=None):
        labels, drop_gates = check_gate_arguments(in_type, gates, drop_gates)
        reps = in_type.representations
        sub_size = {
            i: _induced_parts(r, "induced_gated", f"field {i} of `in_type` (labelled 'gated')")[1].size
            for i, (lab, r) in enumerate(zip(labels, reps))
            if lab == GATED_ID
        }
        pairs = pair_gates(labels, reps, sub_size)
        for f, g in pairs.items():
            if not _gates_blocks(reps[g], reps[f]):
                sid, sub = reps[f].induced_from
                raise ValueError(
                    f"field {g} of `in_type` ({reps[g]!r}) gates field {f} ({reps[f]!r}, {reps[f].size // sub.size} "
                    f"sub-fields), but it does not permute its channels like those sub-fields: use "
                    f"`group.quotient_representation({sid!r})` as its gate"
                )
        self._set_gates(in_type, labels, drop_gates, pairs, sub_size, key)


_INDUCED_NORM_FUNCTIONS: dict[str, Callable] = {"n_relu": jax.nn.relu, "n_sigmoid": jax.nn.sigmoid, "squash": squash}


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
        check_field_type(in_type)
        if not isinstance(function, str) or function not in _INDUCED_NORM_FUNCTIONS:
            raise ValueError(f"`function` (={function!r}) must be one of {list(_INDUCED_NORM_FUNCTIONS)}")
        bias = resolve_bias(bias, use_bias)
        reps = in_type.representations
        subs = [_induced_parts(r, "induced_norm", f"field {i} of `in_type`")[1].size for i, r in enumerate(reps)]
        order = stable_order([(r.size, d) for r, d in zip(reps, subs)])
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
        norms = safe_sqrt(jnp.moveaxis(sq, 0, ax))
        f = _INDUCED_NORM_FUNCTIONS[self.function]
        if self.log_bias is not None:
            b = take(jnp.exp(self.log_bias.astype(t.dtype)), self.bias_of_block, 0)
            new = f(norms - along(b, t.ndim, ax))
        else:
            new = f(norms)
        return GeometricTensor(t * take(norm_scale(new, norms), self.block_of_channel, ax), self.out_type)

    def export(self):
        """A function on arrays ``(*batch, C, ...)`` computing the same map."""
        return array_function(self)
