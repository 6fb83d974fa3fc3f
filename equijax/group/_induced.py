"""Representations a group gets from its own structure: regular, quotient and induced.

The regular representation of a finite group (and the band-limited one of SO(2)/O(2)), the
permutation representation on the cosets G/H of a subgroup, and the representation induced
from one of a subgroup: each is decomposed into irreps once and cached by value. `Group`'s
methods (`regular_representation`, `quotient_representation`, ...) check their arguments and
call these.
"""

from __future__ import annotations

import functools

import numpy as np

from ._element import GroupElement
from ._group import Group
from ._representation import _INDUCED_FROM, NORM, POINTWISE, Representation, _from_matrices
from ._subgroups import Restriction, _subgroup


@functools.cache
def regular_representation(group: Group) -> Representation:
    if group.continuous:
        raise ValueError(
            f"{group.name} is continuous and has no finite regular representation: use bl_regular_representation(L)"
        )
    elements = group.elements
    index = {g: i for i, g in enumerate(elements)}
    n = len(elements)

    def mats(gs):
        out = np.zeros((len(gs), n, n))
        for a, g in enumerate(gs):
            for i, h in enumerate(elements):
                out[a, index[g @ h], i] = 1.0
        return out

    return _from_matrices(group, mats, 0, "regular", POINTWISE)


@functools.cache
def bl_regular_representation(group: Group, L: int) -> Representation:
    if not isinstance(L, int) or L < 0:
        raise ValueError(f"`L` (={L!r}) must be a non-negative integer")
    ids = [p.id for p in group.irreps(L) for _ in range(p.size // p.endomorphism_dim)]
    return Representation(group, ids, None, f"regular_{L}" if group.continuous else "regular_bl", NORM)


def _cosets(group: Group, subgroup_id) -> tuple[list[GroupElement], Restriction]:
    """Coset representatives of G/H (finite index), identity first."""
    H, inclusion, restriction = _subgroup(group, subgroup_id)
    if not group.continuous:
        reps, seen = [], set()
        Hel = [inclusion(h) for h in H.elements]
        for g in group.elements:
            if g in seen:
                continue
            reps.append(g)
            seen.update(g @ h for h in Hel)
        return reps, restriction
    if not H.continuous:
        raise ValueError(f"the subgroup {subgroup_id!r} ({H.name}) has infinite index in {group.name}")
    reps = [group.identity]
    if group.has_flips and not H.has_flips:
        reps.append(group._make(1, 0.0))
    return reps, restriction


@functools.cache
def quotient_representation(group: Group, subgroup_id) -> Representation:
    H, _, _ = _subgroup(group, subgroup_id)
    name = f"quotient[{subgroup_id}]"
    if group.continuous and not H.continuous:
        # band-limited: each irrep psi with frequency <= maximum_frequency appears
        # dim(psi^H) / dim End(psi) times
        ids = []
        for psi in group.irreps():
            fixed = psi.restrict(subgroup_id).multiplicity(H.trivial_representation.id)
            ids += [psi.id] * (fixed // psi.endomorphism_dim)
        return Representation(group, ids, None, name, NORM)
    reps, restriction = _cosets(group, subgroup_id)

    def mats(gs):
        out = np.zeros((len(gs), len(reps), len(reps)))
        for a, g in enumerate(gs):
            for j, t in enumerate(reps):
                gt = g @ t
                i = next(i for i, s in enumerate(reps) if restriction(~s @ gt) is not None)
                out[a, i, j] = 1.0
        return out

    return _from_matrices(group, mats, 0, name, POINTWISE)


def induced_representation(group: Group, subgroup_id, repr: Representation) -> Representation:
    H, _, _ = _subgroup(group, subgroup_id)
    if not isinstance(repr, Representation):
        raise TypeError(f"`repr` (={repr!r}) must be a Representation")
    if repr.group != H:
        raise ValueError(
            f"`repr` is a representation of {repr.group.name}, but the subgroup {subgroup_id!r} is {H.name}"
        )
    return _induced(group, subgroup_id, repr)


@functools.cache
def _induced(group: Group, subgroup_id, repr: Representation) -> Representation:
    reps, restriction = _cosets(group, subgroup_id)
    d, n = repr.size, len(reps)

    def mats(gs):
        out = np.zeros((len(gs), n * d, n * d))
        for a, g in enumerate(gs):
            for j, t in enumerate(reps):
                for i, s in enumerate(reps):
                    h = restriction(~s @ g @ t)
                    if h is not None:
                        out[a, i * d : (i + 1) * d, j * d : (j + 1) * d] = repr(h)
        return out

    name = f"induced[{subgroup_id}]({repr.name})"
    nl = POINTWISE if "pointwise" in repr.supported_nonlinearities else NORM
    nl = nl | {"induced_norm", "induced_gated"}
    induced = _from_matrices(group, mats, repr.bandwidth, name, nl)
    _INDUCED_FROM[induced] = (subgroup_id, repr)
    return induced
