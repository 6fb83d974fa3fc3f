"""Real orthogonal representations of the subgroups of O(2).

A `Representation` is a group, a list of irreps and an orthogonal change of basis Q:
``rho(g) = Q (psi_1(g) (+) ... (+) psi_n(g)) Q^T``. Representations are immutable values,
compared and hashed by content; the constructions below are cached by value.
The irreps are in `_irreps`; the regular, quotient and induced representations of a group
in `_induced`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ._decompose import block_diagonal, decompose
from ._element import GroupElement
from ._group import Group
from ._subgroups import _subgroup
from ._value import HashedValue

if TYPE_CHECKING:
    from ._irreps import IrreducibleRepresentation

_ORTHO_TOL = 1e-8

POINTWISE = frozenset({"pointwise", "norm", "gated", "concatenated"})
NORM = frozenset({"norm", "gated"})


def _freeze(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=np.float64) + 0.0  # copy; -0.0 -> 0.0 so equal arrays hash equally
    a.setflags(write=False)
    return a


class Representation(HashedValue):
    """A real orthogonal representation ``rho(g) = Q (+)_i psi_i(g) Q^T``.

    **Arguments:**

    - `group`: the `Group`.
    - `irreps`: the ids of the irreps, in order (e.g. ``[(0,), (1,), (1,)]``).
    - `change_of_basis`: an orthogonal ``(d, d)`` matrix Q; identity if ``None``.
    - `name`: a name for printing and for field types.
    - `supported_nonlinearities`: tags such as ``"pointwise"`` or ``"norm"`` telling which
      nonlinearities commute with this representation.

    **Raises:** `TypeError` if `group` is not a group; `ValueError` if an irrep id is
    invalid or `change_of_basis` has the wrong shape or is not orthogonal.
    """

    def __init__(
        self,
        group: Group,
        irreps: Sequence[tuple],
        change_of_basis: np.ndarray | None = None,
        name: str | None = None,
        supported_nonlinearities: Iterable[str] = (),
    ):
        if not isinstance(group, Group):
            raise TypeError(f"`group` (={group!r}) must be an equijax Group")
        irreps = tuple(group._check_irrep_id(tuple(i) if isinstance(i, tuple) else (i,)) for i in irreps)
        if not irreps:
            raise ValueError("`irreps` must contain at least one irrep id")
        size = sum(group.irrep(*i).size for i in irreps)
        if change_of_basis is None:
            change_of_basis = np.eye(size)
        Q = _check_change_of_basis(change_of_basis, size)
        if name is None:
            name = "[" + ",".join(group.irrep(*i).name for i in irreps) + "]"
        if not isinstance(name, str):
            raise TypeError(f"`name` (={name!r}) must be a string")
        tags = () if isinstance(supported_nonlinearities, str) else tuple(supported_nonlinearities)
        if isinstance(supported_nonlinearities, str) or not all(isinstance(t, str) for t in tags):
            raise TypeError(
                f"`supported_nonlinearities` (={supported_nonlinearities!r}) must be a collection of tags such as "
                "('pointwise', 'norm')"
            )
        self._init(group, irreps, Q, name, frozenset(tags))

    # value semantics (`HashedValue`): equal when all of these are
    _IMMUTABLE = "representations are immutable"
    _VALUE_FIELDS = ("group", "irreps", "name", "supported_nonlinearities", "change_of_basis")

    def _init(self, group, irreps, Q, name, nonlinearities):
        d = self.__dict__
        d["group"] = group
        d["irreps"] = irreps
        d["change_of_basis"] = _freeze(Q)
        d["name"] = name
        d["supported_nonlinearities"] = nonlinearities
        d["_hash"] = hash((group, irreps, name, nonlinearities, d["change_of_basis"].tobytes()))

    def __repr__(self) -> str:
        return f"{self.group.name}|{self.name}:{self.size}"

    def __reduce__(self):
        return (
            _rebuild,
            (
                self.group,
                self.irreps,
                np.array(self.change_of_basis),
                self.name,
                tuple(sorted(self.supported_nonlinearities)),
            ),
        )

    # -- basic properties ----------------------------------------------------------------
    @functools.cached_property
    def size(self) -> int:
        """The dimension d of the representation."""
        return sum(self.group.irrep(*i).size for i in self.irreps)

    @property
    def change_of_basis_inv(self) -> np.ndarray:
        return self.change_of_basis.T

    @functools.cached_property
    def bandwidth(self) -> int:
        """The highest frequency among the irreps."""
        return max(self.group.irrep(*i).frequency for i in self.irreps)

    def is_trivial(self) -> bool:
        """Whether every element acts as the identity."""
        triv = self.group.trivial_representation.id
        return all(i == triv for i in self.irreps)

    def contains_trivial(self) -> bool:
        """Whether the trivial irrep appears in the decomposition."""
        return self.group.trivial_representation.id in self.irreps

    def multiplicities(self) -> dict[tuple, int]:
        """``{irrep id: number of copies}``."""
        out: dict[tuple, int] = {}
        for i in self.irreps:
            out[i] = out.get(i, 0) + 1
        return out

    def multiplicity(self, irrep_id) -> int:
        """How many copies of the irrep `irrep_id` the representation contains."""
        if not isinstance(irrep_id, tuple):
            irrep_id = (irrep_id,)
        return self.multiplicities().get(self.group._check_irrep_id(irrep_id), 0)

    # -- evaluation ----------------------------------------------------------------------
    def _check_element(self, g) -> None:
        if not isinstance(g, GroupElement) or g.group != self.group:
            raise ValueError(f"`g` (={g!r}) must be an element of {self.group.name}")

    def __call__(self, g: GroupElement) -> np.ndarray:
        """The matrix rho(g), shape ``(d, d)``."""
        self._check_element(g)
        return self.matrices([g])[0]

    @property
    def representation(self):
        """The map ``g -> rho(g)`` (escnn's attribute name): ``rho.representation(g)`` is
        ``rho(g)``."""
        return self.__call__

    @property
    def attributes(self) -> dict:
        """escnn's ``attributes``: ``{'frequency': k}`` for the irreps of C_N and SO(2),
        ``{'frequency': k, 'flip_frequency': j}`` for those of D_N and O(2); empty for other
        representations."""
        return {}

    def matrices(self, elements: Sequence[GroupElement]) -> np.ndarray:
        """The matrices of many elements at once, shape ``(n, d, d)``."""
        elements = list(elements)
        for g in elements:
            self._check_element(g)
        blocks = block_diagonal([self.group.irrep(*i) for i in self.irreps], elements)
        Q = self.change_of_basis
        return np.einsum("ij,gjk,lk->gil", Q, blocks, Q)

    def character(self, g: GroupElement) -> float:
        """The trace of rho(g)."""
        self._check_element(g)
        return float(sum(self.group.irrep(*i).character(g) for i in self.irreps))

    # -- constructions -------------------------------------------------------------------
    def __add__(self, other: Representation) -> Representation:
        return directsum([self, other])

    def change_basis(self, change_of_basis: np.ndarray, name: str | None = None) -> Representation:
        """``g -> C rho(g) C^T`` for an orthogonal `change_of_basis` C."""
        return change_basis(self, change_of_basis, name)

    def restrict(self, subgroup_id) -> Representation:
        """The restriction to the subgroup `subgroup_id`, decomposed into its irreps."""
        return _restrict(self, self.group._check_subgroup_id(subgroup_id))

    @property
    def induced_from(self) -> tuple | None:
        """``(subgroup_id, repr of the subgroup)`` if this representation was built by
        `Group.induced_representation`, else ``None``. An induced field of size ``n * d``
        is ``n`` blocks of the subgroup's ``d``-dimensional representation, which the group
        permutes (and transforms within)."""
        return _INDUCED_FROM.get(self)

    def tensor(self, other: Representation) -> Representation:
        """The tensor product ``rho(g) kron other(g)``, decomposed into irreps."""
        if not isinstance(other, Representation):
            raise TypeError(f"`other` (={other!r}) must be a Representation")
        if other.group != self.group:
            raise ValueError(f"`other` is a representation of {other.group.name}, not of {self.group.name}")
        return _tensor(self, other)


def _rebuild(group, irreps, Q, name, nonlinearities):
    if len(irreps) == 1 and name == group.irrep(*irreps[0]).name and np.array_equal(Q, np.eye(len(Q))):
        return group.irrep(*irreps[0])
    return Representation(group, irreps, Q, name, nonlinearities)


def _check_reprs(reprs, argname: str = "reprs") -> list[Representation]:
    reprs = list(reprs)
    if not reprs:
        raise ValueError(f"`{argname}` must contain at least one representation")
    for r in reprs:
        if not isinstance(r, Representation):
            raise TypeError(f"`{argname}` contains {r!r}, which is not a Representation")
    groups = {r.group for r in reprs}
    if len(groups) > 1:
        raise ValueError(f"`{argname}` mixes representations of different groups: {sorted(g.name for g in groups)}")
    return reprs


def directsum(
    reprs: Sequence[Representation], change_of_basis: np.ndarray | None = None, name: str | None = None
) -> Representation:
    """The direct sum of `reprs` (block-diagonal), optionally followed by an orthogonal
    `change_of_basis`.

    **Raises:** `ValueError` if `reprs` is empty or mixes groups.
    """
    reprs = _check_reprs(reprs)
    size = sum(r.size for r in reprs)
    Q = np.zeros((size, size))
    start = 0
    for r in reprs:
        Q[start : start + r.size, start : start + r.size] = r.change_of_basis
        start += r.size
    if change_of_basis is not None:
        C = _check_change_of_basis(change_of_basis, size)
        Q = C @ Q
    if name is None:
        name = "+".join(r.name for r in reprs)
    nl = frozenset.intersection(*(r.supported_nonlinearities for r in reprs))
    if change_of_basis is not None:
        nl = nl & NORM
    irreps = tuple(i for r in reprs for i in r.irreps)
    return Representation(reprs[0].group, irreps, Q, name, nl)


def _check_change_of_basis(C, size: int) -> np.ndarray:
    C = np.asarray(C, dtype=np.float64)
    if C.shape != (size, size):
        raise ValueError(f"`change_of_basis` has shape {C.shape}; expected ({size}, {size})")
    err = np.max(np.abs(C.T @ C - np.eye(size)))
    if not err <= _ORTHO_TOL:
        raise ValueError(f"`change_of_basis` must be orthogonal (C^T C = I), but |C^T C - I| = {err:.2e}")
    return C


def change_basis(repr: Representation, change_of_basis: np.ndarray, name: str | None = None) -> Representation:
    """``g -> C rho(g) C^T`` for an orthogonal `change_of_basis` C.

    **Raises:** `ValueError` if C has the wrong shape or is not orthogonal.
    """
    if not isinstance(repr, Representation):
        raise TypeError(f"`repr` (={repr!r}) must be a Representation")
    C = _check_change_of_basis(change_of_basis, repr.size)
    if name is None:
        name = f"{repr.name}_cb"
    return Representation(repr.group, repr.irreps, C @ repr.change_of_basis, name, repr.supported_nonlinearities & NORM)


def _from_matrices(group: Group, mats_fn, bandwidth: int, name: str, nonlinearities) -> Representation:
    ids, Q = decompose(group, mats_fn, bandwidth)
    return Representation(group, ids, Q, name, nonlinearities)


# induced representation -> (subgroup id, representation of the subgroup); filled by _induced.
# Representations are values, so an equal (e.g. unpickled) representation finds its entry too.
_INDUCED_FROM: dict = {}


@functools.cache
def _restrict_irrep(psi: IrreducibleRepresentation, subgroup_id) -> tuple[tuple, np.ndarray]:
    H, inclusion, _ = _subgroup(psi.group, subgroup_id)

    def mats(hs):
        flips, rots = H.element_params(hs)
        if not H.continuous:
            rots = np.array([h.rotation for h in hs], dtype=np.float64)
        return psi.matrices_from_params(*inclusion.params(flips, rots))

    return decompose(H, mats, psi.frequency)


@functools.cache
def _restrict(repr: Representation, subgroup_id) -> Representation:
    H, _, _ = _subgroup(repr.group, subgroup_id)
    ids, blocks = [], []
    for i in repr.irreps:
        sub_ids, Qi = _restrict_irrep(repr.group.irrep(*i), subgroup_id)
        ids += sub_ids
        blocks.append(Qi)
    size = repr.size
    B = np.zeros((size, size))
    start = 0
    for Qi in blocks:
        B[start : start + len(Qi), start : start + len(Qi)] = Qi
        start += len(Qi)
    nl = repr.supported_nonlinearities
    return Representation(H, ids, repr.change_of_basis @ B, f"{repr.name}|{subgroup_id}", nl)


@functools.cache
def _tensor(a: Representation, b: Representation) -> Representation:
    def mats(gs):
        A, B = a.matrices(gs), b.matrices(gs)
        return np.einsum("gij,gkl->gikjl", A, B).reshape(len(gs), a.size * b.size, a.size * b.size)

    nl = POINTWISE if {"pointwise"} <= (a.supported_nonlinearities & b.supported_nonlinearities) else NORM
    return _from_matrices(a.group, mats, a.bandwidth + b.bandwidth, f"({a.name})x({b.name})", nl)
