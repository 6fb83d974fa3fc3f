"""`FieldType`: the representations of the feature fields of a `GeometricTensor`."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..group import ElementList, GroupElement, Representation, directsum
from ..gspaces import GSpace, GSpace2D
from ..internal import HashedValue


class FieldType(HashedValue):
    """A list of feature fields over a gspace, each transforming by a representation.

    A `GeometricTensor` of this type has ``size`` channels: the fields' channels one after
    the other. Field types are immutable values (hashable, compared by content), so they can
    be static fields of Equinox modules.

    **Arguments:**

    - `gspace`: the `GSpace` (e.g. ``gspaces.rot2dOnR2(8)``).
    - `representations`: one representation of ``gspace.fibergroup`` per field.

    **Raises:** `TypeError` if `gspace` is not a gspace or an entry of `representations` is
    not a representation; `ValueError` if a representation belongs to another group.
    """

    def __init__(self, gspace: GSpace, representations: Sequence[Representation]):
        if not isinstance(gspace, GSpace):
            raise TypeError(f"`gspace` (={gspace!r}) must be an equijax GSpace")
        if isinstance(representations, Representation) or not isinstance(representations, (list, tuple)):
            raise TypeError(
                f"`representations` must be a list of representations, got {type(representations).__name__}"
            )
        if not representations:
            raise ValueError("`representations` must contain at least one representation (a field type needs fields)")
        for r in representations:
            if not isinstance(r, Representation):
                raise TypeError(f"`representations` contains {r!r}, which is not a Representation")
            if r.group != gspace.fibergroup:
                raise ValueError(
                    f"`representations` contains {r!r}, a representation of {describe_group(r.group)}, "
                    f"but the gspace's group is {describe_group(gspace.fibergroup)}"
                )
        d = self.__dict__
        d["gspace"] = gspace
        d["representations"] = tuple(representations)
        d["_hash"] = hash((gspace, d["representations"]))

    # value semantics (`HashedValue`): equal when the gspaces and the representations are
    _IMMUTABLE = "FieldType is immutable"
    _VALUE_FIELDS = ("gspace", "representations")

    def __repr__(self) -> str:
        names = [r.name for r in self.representations]
        if len(set(names)) == 1 and len(names) > 1:
            body = f"{len(names)}x{names[0]}"
        else:
            body = ", ".join(names)
        return f"FieldType({self.gspace.name}: [{body}], size={self.size})"

    def __reduce__(self):
        return (FieldType, (self.gspace, list(self.representations)))

    def __len__(self) -> int:
        return len(self.representations)

    def __iter__(self):
        return iter(self.representations)

    # -- structure ---------------------------------------------------------------------
    @property
    def fibergroup(self):
        return self.gspace.fibergroup

    @functools.cached_property
    def size(self) -> int:
        """The number of channels."""
        return sum(r.size for r in self.representations)

    @functools.cached_property
    def fields_start(self) -> np.ndarray:
        """The first channel of each field."""
        a = np.cumsum([0] + [r.size for r in self.representations[:-1]]).astype(np.int64)
        a.setflags(write=False)
        return a

    @functools.cached_property
    def fields_end(self) -> np.ndarray:
        """One past the last channel of each field."""
        a = self.fields_start + np.array([r.size for r in self.representations], dtype=np.int64)
        a.setflags(write=False)
        return a

    @functools.cached_property
    def representation(self) -> Representation:
        """The direct sum of the fields' representations (the action on all channels)."""
        return directsum(list(self.representations), name=repr(self))

    @functools.cached_property
    def irreps(self) -> tuple:
        return tuple(i for r in self.representations for i in r.irreps)

    @property
    def testing_elements(self) -> ElementList:
        """The gspace's testing elements (escnn's ``field_type.testing_elements``): iterate
        it, ``for g in ftype.testing_elements:``. A list; calling it,
        ``ftype.testing_elements()``, gives the same list (the older equijax form)."""
        return ElementList(testing_elements_of(self.gspace))

    # -- escnn's conveniences ------------------------------------------------------------
    def fields_names(self) -> list[str]:
        """The name of each field's representation, in order."""
        return [r.name for r in self.representations]

    @property
    def uniform(self) -> bool:
        """Whether all fields have the same representation."""
        return all(r == self.representations[0] for r in self.representations[1:])

    @functools.cached_property
    def change_of_basis(self) -> np.ndarray:
        """The ``(size, size)`` block-diagonal change of basis from the irreps (`irreps`, in
        order) to the channels: the direct sum of the fields' ``change_of_basis``, so that
        ``fiber_matrix(g) = Q @ blockdiag(irreps(g)) @ Q.T``.

        A read-only dense numpy array (escnn returns a scipy sparse matrix); its
        ``todense()`` and ``toarray()`` return it as a plain array, as escnn's do.
        """
        return _block_diag([r.change_of_basis for r in self.representations])

    @functools.cached_property
    def change_of_basis_inv(self) -> np.ndarray:
        """The inverse (the transpose) of `change_of_basis`."""
        return _block_diag([r.change_of_basis_inv for r in self.representations])

    def get_dense_change_of_basis(self):
        """`change_of_basis` as a JAX array (escnn returns a torch tensor)."""
        import jax.numpy as jnp

        return jnp.asarray(np.asarray(self.change_of_basis), dtype=jnp.result_type(float))

    def get_dense_change_of_basis_inv(self):
        """`change_of_basis_inv` as a JAX array."""
        import jax.numpy as jnp

        return jnp.asarray(np.asarray(self.change_of_basis_inv), dtype=jnp.result_type(float))

    def fiber_representation(self, g: GroupElement):
        """The ``(size, size)`` matrix of g on the channels as a JAX array (escnn returns a
        torch tensor); `fiber_matrix` gives it as a numpy float64 array.

        **Raises:** `ValueError` if `g` is not an element of the field type's group.
        """
        import jax.numpy as jnp

        return jnp.asarray(self.fiber_matrix(g), dtype=jnp.result_type(float))

    def __add__(self, other: FieldType) -> FieldType:
        """The direct sum: the fields of `self` followed by those of `other`."""
        if not isinstance(other, FieldType):
            return NotImplemented
        if other.gspace != self.gspace:
            raise ValueError(
                f"cannot add field types of different gspaces: {describe_gspace(self.gspace)} and "
                f"{describe_gspace(other.gspace)}"
            )
        return FieldType(self.gspace, self.representations + other.representations)

    def index_select(self, indices: Sequence[int]) -> FieldType:
        """The field type made of the fields at `indices` (in that order)."""
        idx = _check_indices("indices", indices, len(self))
        return FieldType(self.gspace, [self.representations[i] for i in idx])

    def sorted(self) -> FieldType:
        """The same fields sorted by (size, name): fields of one representation become
        contiguous."""
        return self.index_select(self._sorting_permutation())

    def _sorting_permutation(self) -> list[int]:
        return sorted(range(len(self)), key=lambda i: (self.representations[i].size, self.representations[i].name, i))

    def group_by_labels(self, labels: Sequence[Any]) -> dict[Any, FieldType]:
        """Split the fields into one field type per label (`labels` has one label per field)."""
        labels = list(labels)
        if len(labels) != len(self):
            raise ValueError(f"`labels` has {len(labels)} entries but the type has {len(self)} fields")
        out: dict[Any, list[int]] = {}
        for i, lab in enumerate(labels):
            out.setdefault(lab, []).append(i)
        return {lab: self.index_select(idx) for lab, idx in out.items()}

    def restrict(self, subgroup_id) -> FieldType:
        """The same channels seen as fields of the subgroup `subgroup_id` (no data changes)."""
        gspace, _, _ = self.gspace.restrict(subgroup_id)
        return FieldType(gspace, [r.restrict(subgroup_id) for r in self.representations])

    @property
    def channel_axis(self) -> int:
        """-3 for fields on the plane ``(..., C, H, W)``, -1 with no base space ``(..., C)``."""
        return -1 - self.gspace.dimensionality

    # -- actions -------------------------------------------------------------------------
    def fiber_matrix(self, g: GroupElement) -> np.ndarray:
        """The ``(size, size)`` block-diagonal matrix of g on the channels."""
        return _fiber_matrix(self, g)

    def transform_fibers(self, array, g: GroupElement):
        """Apply g to every field's channels (no spatial motion). `array` is numpy or jax with
        the channel axis at `channel_axis`."""
        self._check_array(array)
        M = self.fiber_matrix(g)
        ax = self.channel_axis
        xp = _array_module(array)
        moved = xp.moveaxis(array, ax, -1)
        if not xp.issubdtype(moved.dtype, xp.inexact):
            moved = moved.astype(xp.result_type(float))
        out = moved @ xp.asarray(M.T, dtype=moved.dtype)
        return xp.moveaxis(out, -1, ax)

    def transform(self, array, g: GroupElement):
        """The full action of g: move the signal on the plane (exact for 90-degree rotations
        and grid-axis reflections, bilinear otherwise) and transform the fibres."""
        self._check_array(array)
        out = self.transform_fibers(array, g)
        if isinstance(self.gspace, GSpace2D):
            out = self.gspace.transform_grid(out, g)
        return out

    def _check_array(self, array) -> None:
        shape = getattr(array, "shape", None)
        need = 1 + self.gspace.dimensionality
        if shape is None or len(shape) < need or shape[self.channel_axis] != self.size:
            layout = "(..., C, H, W)" if need == 3 else "(..., C)"
            raise ValueError(
                f"`array` of shape {shape} does not match {self!r}: expected {layout} with C = {self.size}"
            )

    def __call__(self, array):
        """Wrap `array` as a `GeometricTensor` of this type."""
        from ._geometric_tensor import GeometricTensor

        return GeometricTensor(array, self)


@functools.lru_cache(maxsize=4096)
def _fiber_matrix(ftype: FieldType, g: GroupElement) -> np.ndarray:
    if not isinstance(g, GroupElement) or g.group != ftype.fibergroup:
        raise ValueError(f"`g` (={g!r}) must be an element of {describe_group(ftype.fibergroup)}")
    M = np.zeros((ftype.size, ftype.size))
    cache: dict = {}
    for r, s, e in zip(ftype.representations, ftype.fields_start, ftype.fields_end):
        if r not in cache:
            cache[r] = r(g)
        M[s:e, s:e] = cache[r]
    M.setflags(write=False)
    return M


def testing_elements_of(obj) -> list[GroupElement]:
    """The testing elements of a gspace, group or field type, whether `testing_elements`
    is a method or an (iterable) property."""
    te = obj.testing_elements
    return list(te() if callable(te) else te)


class _DenseMatrix(np.ndarray):
    """A read-only numpy matrix with scipy.sparse's ``todense()`` / ``toarray()``, so escnn
    code reading `FieldType.change_of_basis` keeps working."""

    def todense(self) -> np.ndarray:
        return np.array(self)

    toarray = todense


def _block_diag(blocks) -> np.ndarray:
    n = sum(b.shape[0] for b in blocks)
    M = np.zeros((n, n))
    p = 0
    for b in blocks:
        M[p : p + b.shape[0], p : p + b.shape[1]] = b
        p += b.shape[0]
    M.setflags(write=False)
    return M.view(_DenseMatrix)


def describe_group(G) -> str:
    """The group's name, with its `maximum_frequency` for SO(2)/O(2) (two groups of the same
    name differ in it)."""
    mf = getattr(G, "maximum_frequency", None)
    if getattr(G, "continuous", False) and mf is not None:
        return f"{G.name} (maximum_frequency={mf})"
    return G.name


def describe_gspace(gspace) -> str:
    """The gspace's name, with its group's `maximum_frequency` for SO(2)/O(2)."""
    G = gspace.fibergroup
    mf = getattr(G, "maximum_frequency", None)
    if getattr(G, "continuous", False) and mf is not None:
        return f"{gspace.name} (maximum_frequency={mf})"
    return gspace.name


def explain_mismatch(a: FieldType, b: FieldType) -> str:
    """A clause saying how two unequal field types differ when their reprs look alike
    (``""`` when the reprs already show it)."""
    if a == b:
        return ""
    if a.gspace != b.gspace:
        da, db = describe_gspace(a.gspace), describe_gspace(b.gspace)
        if da != db:
            return f" (the gspaces differ: {da} and {db})"
        return " (the gspaces differ)" if repr(a) == repr(b) else ""
    if repr(a) == repr(b):
        diff = [i for i, (r, s) in enumerate(zip(a.representations, b.representations)) if r != s]
        return f" (same names, but the representations of fields {diff} differ)"
    return ""


def _array_module(x):
    if isinstance(x, np.ndarray):
        return np
    import jax.numpy as jnp

    return jnp


def _check_indices(name: str, indices, n: int) -> list[int]:
    try:
        idx = [int(i) for i in indices]
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` (={indices!r}) must be a sequence of integers") from None
    bad = [i for i in idx if not -n <= i < n]
    if bad:
        raise ValueError(f"`{name}` contains {bad}, outside the {n} fields")
    return [i % n for i in idx]
