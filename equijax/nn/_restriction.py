"""Modules that re-read or reorder the channels of a tensor, with no parameters:
`RestrictionModule` (the same data seen by a subgroup), `DisentangleModule` (fields split
into the smallest blocks the group never mixes, by `disentangle`) and `ReshuffleModule` (a
permutation of the fields).

Their index maps are numpy constants computed from the field types when the module is
built (static configuration, never array leaves).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from ..group import Representation, decompose
from ..internal import is_int, quadrature_elements
from ._field_type import FieldType
from ._geometric_tensor import GeometricTensor
from ._misc import channel_index, check_field_type, take_channels
from ._module import EquivariantModule, array_function, check_input, default_key

# -- RestrictionModule ---------------------------------------------------------------------


class RestrictionModule(EquivariantModule):
    """Sees the input's fields as fields of the subgroup `id` of the gspace's group
    (escnn's ``RestrictionModule``).

    The data are unchanged: only the type changes, to ``in_type.restrict(id)``, whose
    representations are the restrictions (the same matrices on the subgroup's elements,
    written with the subgroup's irreps). Follow it with a `DisentangleModule` to split the
    restricted fields into smaller ones.

    **Arguments:**

    - `in_type`: the input `FieldType`.
    - `id`: the subgroup id, as in `gspace.restrict` (e.g. ``(0, 4)`` for D4 in D8, ``4``
      for C4 in C8, ``(None, 4)`` for C4 in D4).

    **Raises:** `TypeError` if `in_type` is not a field type; `ValueError` if `id` names no
    subgroup of the group.
    """

    in_type: FieldType = eqx.field(static=True)
    out_type: FieldType = eqx.field(static=True)
    id: object = eqx.field(static=True)

    def __init__(self, in_type: FieldType, id):
        check_field_type(in_type)
        G = in_type.fibergroup
        try:
            out_type = in_type.restrict(id)
        except (ValueError, TypeError) as e:
            raise ValueError(f"`id` (={id!r}) is not a subgroup id of {G.name}: {e}") from None
        self.in_type, self.out_type, self.id = in_type, out_type, id

    def __call__(self, x: GeometricTensor, *, key=None) -> GeometricTensor:
        """**Returns:** the same array as a `GeometricTensor` of `out_type`."""
        del key
        check_input(self, x)
        return GeometricTensor(x.tensor, self.out_type)

    def check_equivariance(
        self, atol: float = 1e-5, rtol: float = 1e-5, *, key=None, elements=None, input_size=None, batch: int = 2,
        state=None,
    ):  # fmt: skip
        """Check ``f(h x) = h f(x)`` for the subgroup's elements h (default: those moving the
        pixel grid onto itself), h acting on the input as the parent group's element."""
        from .testing import grid_exact_elements, random_input

        del state
        _, inclusion, _ = self.in_type.fibergroup.subgroup(self.id)
        x = random_input(self.in_type, key=default_key(key), batch=batch, size=input_size or self._testing_input_size())
        if elements is None:
            square = self.in_type.gspace.dimensionality == 0 or x.shape[-1] == x.shape[-2]
            elements = grid_exact_elements(self.out_type.gspace, square=square)
        y = self(x)
        scale = float(jnp.max(jnp.abs(y.tensor)))
        out = []
        for h in elements:
            err = float(jnp.max(jnp.abs(self(x.transform(inclusion(h))).tensor - y.transform(h).tensor)))
            if not err <= atol + rtol * scale:
                raise AssertionError(f"not equivariant: max |f(h x) - h f(x)| = {err:.3g} for h = {h}")
            out.append((h, err))
        return out

    def export(self):
        """`eqx.nn.Identity()`: the data do not change."""
        return eqx.nn.Identity()


# -- DisentangleModule ---------------------------------------------------------------------


def _sample_elements(rep: Representation) -> list:
    G = rep.group
    if not G.continuous:
        return list(G.elements)
    # a trigonometric polynomial of degree <= 2 * bandwidth that vanishes on these vanishes
    return quadrature_elements(G, 4 * max(rep.bandwidth, 1))


def _components(M: np.ndarray) -> list[list[int]]:
    """Connected components of the channels coupled by any of the matrices ``M (n, d, d)``,
    each sorted, ordered by their first channel."""
    d = M.shape[1]
    coupled = (np.abs(M) > 1e-9).any(axis=0)
    coupled = coupled | coupled.T
    label = -np.ones(d, dtype=np.int64)
    comps = []
    for start in range(d):
        if label[start] >= 0:
            continue
        stack, comp = [start], []
        label[start] = len(comps)
        while stack:
            i = stack.pop()
            comp.append(i)
            for j in np.nonzero(coupled[i])[0]:
                if label[j] < 0:
                    label[j] = len(comps)
                    stack.append(int(j))
        comps.append(sorted(comp))
    return comps


def _as_regular(G, rows: list[int], mats: np.ndarray, elements: list) -> list[int] | None:
    """If the block `rows` is a copy of G's regular representation up to the order of its
    channels, the channels in G's element order; else None."""
    if G.continuous or len(rows) != G.order():
        return None
    B = mats[:, rows][:, :, rows]
    if not np.allclose(np.abs(B).sum(axis=1), 1.0, atol=1e-8) or not np.allclose(np.abs(B).max(axis=1), 1.0):
        return None  # not permutation matrices
    index = {g: i for i, g in enumerate(elements)}
    order = []
    for h in G.elements:
        column = B[index[h], :, 0]  # where h sends the first channel
        order.append(int(np.argmax(column)))
    if sorted(order) != list(range(len(rows))):
        return None
    reordered = B[:, order][:, :, order]
    if not np.allclose(reordered, G.regular_representation.matrices(elements), atol=1e-8):
        return None
    return [rows[i] for i in order]


@functools.lru_cache(maxsize=512)
def disentangle(rep: Representation) -> tuple[tuple[int, ...], tuple[Representation, ...]]:
    """Split `rep` into the smallest blocks of channels that no group element mixes.

    **Returns:** ``(permutation, representations)``: reading the channels in the order
    `permutation` gives the direct sum of `representations`. A block that is a copy of an
    irrep or of the regular representation (up to the order of its channels) becomes that
    representation; other blocks get a representation named ``f"{rep.name}_{i}"``. A
    representation that does not split is returned unchanged.
    """
    G = rep.group
    elements = _sample_elements(rep)
    mats = rep.matrices(elements)
    comps = _components(mats)
    perm: list[int] = []
    reprs: list[Representation] = []
    for b, rows in enumerate(comps):
        block = mats[:, rows][:, :, rows]
        candidates = [G.irrep(*i) for i in dict.fromkeys(rep.irreps) if G.irrep(*i).size == len(rows)]
        match = next((p for p in candidates if np.allclose(block, p.matrices(elements), atol=1e-8)), None)
        if match is not None:
            perm += rows
            reprs.append(match)
            continue
        ordered = _as_regular(G, rows, mats, elements)
        if ordered is not None:
            perm += ordered
            reprs.append(G.regular_representation)
            continue
        if len(comps) == 1:
            return tuple(range(rep.size)), (rep,)
        ids, Q = decompose(G, lambda gs, rows=rows: rep.matrices(gs)[:, rows][:, :, rows], rep.bandwidth)
        perm += rows
        reprs.append(Representation(G, ids, Q, f"{rep.name}_{b}", rep.supported_nonlinearities))
    return tuple(perm), tuple(reprs)


class _AbstractChannelPermutation(EquivariantModule):
    """A module whose output is the input's channels `index`, in that order, as `out_type`
    (the shared call and export of `DisentangleModule` and `ReshuffleModule`).

    Subclasses declare the static fields `in_type`, `out_type` and `index` (a tuple of
    channel indices). The base declares none, so that each subclass keeps its own field
    order (equinox does not read `eqx.AbstractVar` from the string annotations this file's
    ``from __future__ import annotations`` makes).
    """

    def __call__(self, x: GeometricTensor, *, key=None) -> GeometricTensor:
        """**Returns:** the channels `index` of `x`, as `out_type`."""
        del key
        check_input(self, x)
        return GeometricTensor(take_channels(x.tensor, self.index, self.in_type.channel_axis), self.out_type)

    def export(self):
        """The same gather on plain arrays."""
        return array_function(self)


class DisentangleModule(_AbstractChannelPermutation):
    """Splits every field into the smallest blocks of channels that the group never mixes,
    by a permutation of its channels (escnn's ``DisentangleModule``).

    Typical use: after a `RestrictionModule`, a regular field of D8 seen by D4 splits into
    two regular fields of D4 (one per coset). Blocks that are copies of an irrep or of the
    regular representation become exactly that representation (so that
    ``out_type.representations`` compare equal to ``gspace.regular_repr``); others get a
    representation named after the field's. Fields that do not split are unchanged.

    Where escnn looks for the blocks in the sparsity of the change of basis, this looks at
    the representation's matrices, which finds the finest split whatever basis the
    representation was written in.

    **Arguments:** `in_type`, the input `FieldType`.
    """

    in_type: FieldType = eqx.field(static=True)
    out_type: FieldType = eqx.field(static=True)
    index: tuple[int, ...] = eqx.field(static=True)

    def __init__(self, in_type: FieldType):
        check_field_type(in_type)
        index, out_reprs = [], []
        for r, start in zip(in_type.representations, in_type.fields_start):
            perm, reprs = disentangle(r)
            index += [int(start) + p for p in perm]
            out_reprs += reprs
        self.in_type = in_type
        self.out_type = FieldType(in_type.gspace, out_reprs)
        self.index = tuple(index)


# -- ReshuffleModule -----------------------------------------------------------------------


class ReshuffleModule(_AbstractChannelPermutation):
    """Permutes the fields (escnn's ``ReshuffleModule``): output field i is input field
    ``permutation[i]``.

    **Arguments:**

    - `in_type`: the input `FieldType`.
    - `permutation`: a permutation of ``0, ..., len(in_type) - 1``.

    **Raises:** `ValueError` if `permutation` is not a permutation of the field indices.
    """

    in_type: FieldType = eqx.field(static=True)
    out_type: FieldType = eqx.field(static=True)
    permutation: tuple[int, ...] = eqx.field(static=True)
    index: tuple[int, ...] = eqx.field(static=True)

    def __init__(self, in_type: FieldType, permutation: Sequence[int]):
        check_field_type(in_type)
        n = len(in_type)
        try:
            perm = list(permutation)
        except TypeError:
            perm = None
        ok = perm is not None and not isinstance(permutation, str)
        ok = ok and all(is_int(p) for p in perm)
        if not ok or sorted(int(p) for p in perm) != list(range(n)):
            raise ValueError(
                f"`permutation` (={permutation!r}) must be a permutation of the {n} field indices 0..{n - 1}"
            )
        self.in_type = in_type
        self.permutation = tuple(int(p) for p in perm)
        self.out_type = in_type.index_select(self.permutation)
        self.index = tuple(int(i) for i in channel_index(in_type, self.permutation))
