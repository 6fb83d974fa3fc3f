"""From a flat vector of basis coefficients to a filter (and bias), per pair of field types.

Fields are gathered by representation: for every pair (output representation, input
representation) the filter block of all those fields is a product of the weights with the
pair's basis. Everything here except `expand_filter` / `expand_bias` is numpy, computed once
per (types, basis parameters) and cached: the constants of the expansion never become
pytree leaves.

Two ways to compute the filter, chosen per plan (`ExpansionPlan.gather_tables`):

- a small expansion with several pairs (fields of several irreps, the usual SO(2) / O(2)
  case) is one gather-multiply-sum over precomputed index and value tables, whose program
  size does not grow with the number of pairs: XLA:CPU compiles every einsum, concatenation
  and transpose of the per-pair form on its own (measured: 0.75 s of compile time for the 14
  pairs of a 14 -> 28 channel SO(2) convolution with fields of the irreps 0..3, against
  about 0.1 s gathered);
- a large one, or one with a single pair (regular fields), is one einsum per pair: the fastest
  to run, and cheap to compile when there are few pairs.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from .._misc import at_least_float32
from ..kernels import EmptyBasisError, KernelBasis
from ._field_type import FieldType


class _Pair(NamedTuple):
    out_index: int  # index among the distinct output representations
    in_index: int
    basis: np.ndarray  # (b, d_out, d_in, *S)
    offset: int  # first weight of this pair
    n_out: int  # fields of the output representation
    n_in: int


class ExpansionPlan:
    """Static constants of a basis expansion between two field types."""

    def __init__(self, in_type: FieldType, out_type: FieldType, basis_fn: Callable, sample_shape: tuple):
        in_groups = _group_fields(in_type)
        out_groups = _group_fields(out_type)
        self.in_reps = [r for r, _ in in_groups]
        self.out_reps = [r for r, _ in out_groups]
        self.n_in = [len(f) for _, f in in_groups]
        self.n_out = [len(f) for _, f in out_groups]
        self.sample_shape = sample_shape
        self.in_size, self.out_size = in_type.size, out_type.size
        pairs, offset = [], 0
        bases: dict = {}
        for io, ro in enumerate(self.out_reps):
            for ii, ri in enumerate(self.in_reps):
                try:
                    basis = basis_fn(ri, ro)
                except EmptyBasisError:
                    continue
                bases[(io, ii)] = basis
                pairs.append(_Pair(io, ii, basis.array, offset, self.n_out[io], self.n_in[ii]))
                offset += self.n_out[io] * self.n_in[ii] * basis.dim
        self.pairs = pairs
        self.num_weights = offset
        self.he_std = _he_std(self, bases)
        self.out_inverse = _inverse_permutation(out_type, out_groups)
        self.in_inverse = _inverse_permutation(in_type, in_groups)
        self.bias_matrix = _bias_matrix(out_type)
        self.bias_tables = None if self.bias_matrix is None else _row_tables(self.bias_matrix)

    @functools.cached_property
    def gather_tables(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(index, value)``, both ``(C_out * C_in * prod(S), b_max)``: filter entry ``f`` is
        ``sum_j weights[index[f, j]] * value[f, j]`` (index `num_weights` is a zero pad), or
        None where the per-pair einsums are used (one pair, or tables over
        `GATHER_LIMIT` entries)."""
        if len(self.pairs) < 2:
            return None
        b_max = max(p.basis.shape[0] for p in self.pairs)
        n_entries = self.out_size * self.in_size * math.prod(self.sample_shape)
        if n_entries * b_max > GATHER_LIMIT:
            return None
        return _gather_tables(self, b_max, n_entries)


# Largest gather tables (entries of the filter x largest basis) expanded by one gather: 2^18
# entries are 2 MiB of constants (int32 indices and float64 values, cast to the weights' dtype).
GATHER_LIMIT = 2**18


def _positions(inverse: np.ndarray | None, size: int) -> np.ndarray:
    """Final channel of each grouped channel (the inverse of the gather `inverse`)."""
    return np.arange(size) if inverse is None else np.argsort(inverse)


def _gather_tables(plan: ExpansionPlan, b_max: int, n_entries: int) -> tuple[np.ndarray, np.ndarray]:
    S = math.prod(plan.sample_shape)
    out_pos, in_pos = _positions(plan.out_inverse, plan.out_size), _positions(plan.in_inverse, plan.in_size)
    out_start = np.cumsum([0] + [n * r.size for n, r in zip(plan.n_out, plan.out_reps)])
    in_start = np.cumsum([0] + [n * r.size for n, r in zip(plan.n_in, plan.in_reps)])
    index = np.full((n_entries, b_max), plan.num_weights, dtype=np.int32)
    value = np.zeros((n_entries, b_max))
    for p in plan.pairs:
        b, do, di = p.basis.shape[:3]
        # grouped channels of the block (x, o) x (y, i), then their final positions
        rows = out_pos[out_start[p.out_index] + np.arange(p.n_out * do)]
        cols = in_pos[in_start[p.in_index] + np.arange(p.n_in * di)]
        f = (rows[:, None, None] * plan.in_size + cols[None, :, None]) * S + np.arange(S)  # (x o, y i, S)
        f = f.reshape(p.n_out, do, p.n_in, di, S)
        w = p.offset + np.arange(p.n_out * p.n_in * b).reshape(p.n_out, 1, p.n_in, 1, 1, b)
        v = np.moveaxis(p.basis.reshape(b, do, di, S), 0, -1)[None, :, None]  # (1, do, 1, di, S, b)
        index[f.ravel(), :b] = np.broadcast_to(w, f.shape + (b,)).reshape(-1, b)
        value[f.ravel(), :b] = np.broadcast_to(v, f.shape + (b,)).reshape(-1, b)
    return index, value


def _row_tables(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(index, value)`` of the nonzeros of each row of `matrix` ``(m, n)``, padded with
    index `n` (a zero pad) and value 0: ``matrix @ v == sum(v_pad[index] * value, -1)``."""
    nnz = max(1, int((matrix != 0).sum(axis=1).max()))
    index = np.full((matrix.shape[0], nnz), matrix.shape[1], dtype=np.int32)
    value = np.zeros((matrix.shape[0], nnz))
    for r, row in enumerate(matrix):
        (cols,) = np.nonzero(row)
        index[r, : len(cols)], value[r, : len(cols)] = cols, row[cols]
    return index, value


def _gather_sum(v: jnp.ndarray, index: np.ndarray, value: np.ndarray) -> jnp.ndarray:
    """``sum_j v_pad[index[:, j]] * value[:, j]`` with ``v_pad = [v, 0]``, accumulated in at
    least float32."""
    acc = at_least_float32(v.dtype)
    v_pad = jnp.concatenate([v.astype(acc), jnp.zeros((1,), acc)])
    taken = v_pad.at[jnp.asarray(index)].get(mode="promise_in_bounds")
    return jnp.sum(taken * jnp.asarray(value, acc), axis=-1).astype(v.dtype)


def _group_fields(ftype: FieldType):
    """Distinct representations in order of first appearance, with their field indices."""
    groups: dict = {}
    for i, r in enumerate(ftype.representations):
        groups.setdefault(r, []).append(i)
    return list(groups.items())


def _inverse_permutation(ftype: FieldType, groups) -> np.ndarray | None:
    """Channel gather from grouped order back to the type's order (None if identity)."""
    channels = np.concatenate(
        [np.arange(ftype.fields_start[i], ftype.fields_end[i]) for _, fields in groups for i in fields]
    )
    if np.array_equal(channels, np.arange(ftype.size)):
        return None
    return np.argsort(channels)


def _he_std(plan: ExpansionPlan, bases: dict) -> np.ndarray:
    """escnn's generalised He init in closed form: a weight feeding output irrep copy o
    from input irreps of type psi has std ``1 / sqrt(T(o) * N(psi, o))``, where T(o) is the
    number of input irrep types reaching o and N(psi, o) the number of basis elements from
    psi to o summed over all input fields."""
    counts: dict = {}  # (out rep index, out irrep index) -> {in irrep id: count}
    for (io, ii), basis in bases.items():
        for e in basis.attributes:
            c = counts.setdefault((io, e.out_irrep_index), {})
            c[e.in_irrep] = c.get(e.in_irrep, 0) + plan.n_in[ii]
    std = np.zeros(plan.num_weights)
    for p in plan.pairs:
        basis = bases[(p.out_index, p.in_index)]
        per_element = np.array(
            [
                1.0
                / np.sqrt(
                    len(counts[(p.out_index, e.out_irrep_index)]) * counts[(p.out_index, e.out_irrep_index)][e.in_irrep]
                )
                for e in basis.attributes
            ]
        )
        n = p.n_out * p.n_in * len(per_element)
        std[p.offset : p.offset + n] = np.broadcast_to(per_element, (p.n_out, p.n_in, len(per_element))).ravel()
    return std


def _bias_matrix(out_type: FieldType) -> np.ndarray | None:
    """``(C_out, n_bias)``: one bias per trivial irrep copy, mapped through the change of
    basis of its field."""
    G = out_type.fibergroup
    trivial = G.trivial_representation.id
    columns = []
    for r, start in zip(out_type.representations, out_type.fields_start):
        offset = 0
        for i in r.irreps:
            size = G.irrep(*i).size
            if i == trivial:
                col = np.zeros(out_type.size)
                col[start : start + r.size] = r.change_of_basis[:, offset]
                columns.append(col)
            offset += size
    if not columns:
        return None
    return np.stack(columns, axis=1)


def expand_filter(plan: ExpansionPlan, weights: jnp.ndarray) -> jnp.ndarray:
    """``(C_out, C_in, *S)`` filter from the flat `weights`: one gather-multiply-sum for a
    small expansion of several pairs (`ExpansionPlan.gather_tables`), otherwise one einsum
    per pair of representations, then one gather back to the types' channel order."""
    dtype = weights.dtype
    S = plan.sample_shape
    tables = plan.gather_tables
    if tables is not None:
        return _gather_sum(weights, *tables).reshape(plan.out_size, plan.in_size, *S)
    blocks: dict = {}
    for p in plan.pairs:
        b, do, di = p.basis.shape[:3]
        W = weights[p.offset : p.offset + p.n_out * p.n_in * b].reshape(p.n_out, p.n_in, b)
        B = jnp.asarray(p.basis, dtype=dtype)
        blk = jnp.einsum("xyb,boi...->xoyi...", W, B)
        blocks[(p.out_index, p.in_index)] = blk.reshape(p.n_out * do, p.n_in * di, *S)
    rows = []
    for io, ro in enumerate(plan.out_reps):
        row = []
        for ii, ri in enumerate(plan.in_reps):
            blk = blocks.get((io, ii))
            if blk is None:
                blk = jnp.zeros((plan.n_out[io] * ro.size, plan.n_in[ii] * ri.size, *S), dtype)
            row.append(blk)
        rows.append(row[0] if len(row) == 1 else jnp.concatenate(row, axis=1))
    F = rows[0] if len(rows) == 1 else jnp.concatenate(rows, axis=0)
    if plan.out_inverse is not None:
        F = F[plan.out_inverse]
    if plan.in_inverse is not None:
        F = F[:, plan.in_inverse]
    return F


def expand_bias(plan: ExpansionPlan, bias: jnp.ndarray) -> jnp.ndarray:
    """``(C_out,)`` bias from the per-trivial-irrep parameters (``bias_matrix @ bias``, as a
    gather of the few nonzeros of each row: cheaper to compile than a matrix product)."""
    return _gather_sum(bias, *plan.bias_tables)


def split_groups(in_type: FieldType, out_type: FieldType, groups: int) -> tuple[FieldType, FieldType]:
    """The per-group field types of a grouped layer (escnn semantics: `groups` equal chunks).

    **Raises:** `ValueError` if the types do not split into `groups` identical chunks.
    """
    if not isinstance(groups, int) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"`groups` (={groups!r}) must be a positive integer")
    subs = []
    for name, t in (("in_type", in_type), ("out_type", out_type)):
        n = len(t)
        if n % groups:
            raise ValueError(f"`groups` (={groups}) must divide the number of fields of `{name}` ({n})")
        m = n // groups
        chunks = [t.representations[i * m : (i + 1) * m] for i in range(groups)]
        if any(c != chunks[0] for c in chunks):
            raise ValueError(f"with `groups` (={groups}), `{name}` must be {groups} identical chunks of fields")
        subs.append(FieldType(t.gspace, list(chunks[0])))
    return subs[0], subs[1]


@functools.lru_cache(maxsize=256)
def conv_plan(
    in_type, out_type, kernel_size, dilation, rings, sigma, frequencies_cutoff, basis_filter
) -> ExpansionPlan:
    gspace = in_type.gspace

    def basis_fn(ri, ro) -> KernelBasis:
        return gspace.build_kernel_basis(ri, ro, kernel_size, dilation, rings, sigma, frequencies_cutoff, basis_filter)

    plan = ExpansionPlan(in_type, out_type, basis_fn, (kernel_size, kernel_size))
    if not plan.pairs:
        raise EmptyBasisError(f"no equivariant {kernel_size}x{kernel_size} filter maps {in_type!r} to {out_type!r}")
    return plan


@functools.lru_cache(maxsize=256)
def linear_plan(in_type, out_type) -> ExpansionPlan:
    gspace = in_type.gspace
    plan = ExpansionPlan(in_type, out_type, gspace.build_intertwiner_basis, ())
    if not plan.pairs:
        raise EmptyBasisError(f"no equivariant linear map from {in_type!r} to {out_type!r}: they share no irrep")
    return plan
