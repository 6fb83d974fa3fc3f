"""The continuous subgroups of O(2): SO(2), all planar rotations, and O(2), with reflections.

Build them with the cached factories `so2_group` and `o2_group`; `maximum_frequency` is the
default band limit of their band-limited constructions.
"""

from __future__ import annotations

import functools

from .._misc import is_int, is_real
from ._cyclic_dihedral import cyclic_group, dihedral_group
from ._element import TWO_PI, GroupElement, canonical_angle
from ._group import Group, _grid_args
from ._subgroups import Embedding


class SO2(Group):
    """SO(2): all planar rotations. Irreps ``irrep(k)`` for every integer k >= 0.
    Subgroups: ``M`` (C_M) and ``-1`` (SO(2) itself)."""

    def __init__(self, maximum_frequency: int):
        super().__init__(-1, False, maximum_frequency)

    name = "SO(2)"

    def __reduce__(self):
        return (so2_group, (self.maximum_frequency,))

    def grid(self, *args, **kwargs) -> list[GroupElement]:
        """escnn's ``grid(N, type='regular', seed=None)``: ``'regular'``, the `N` rotations by
        multiples of ``2*pi/N``; ``'rand'``, `N` uniform samples drawn with `seed` (an integer,
        a numpy ``Generator`` or ``RandomState``). C_N's order, e.g. ``grid('regular', N=8)``,
        is accepted too (told apart by the first argument being a string).

        **Raises:** `ValueError` for an unknown `type` or a bad `N`; `TypeError` for unknown
        or repeated arguments.
        """
        return self._grid(*_grid_args(args, kwargs, ("N", "type", "seed")))

    def _check_irrep_id(self, id):
        if len(id) != 1 or not is_int(id[0]) or id[0] < 0:
            raise ValueError(f"irrep id (={id!r}) names no irrep of SO(2): expected irrep(k) with an integer k >= 0")
        return (int(id[0]),)

    def _check_subgroup_id(self, id):
        if not is_int(id) or not (id >= 1 or id == -1):
            raise self._subgroup_error(id, "an integer M >= 1 (C_M) or -1 (SO(2))")
        return int(id)

    def _subgroup_spec(self, id):
        if id == -1:
            return self, Embedding(1.0, 0.0)
        return cyclic_group(id), Embedding(TWO_PI / id, 0.0)

    subgroup_trivial_id = 1
    subgroup_self_id = -1


class O2(Group):
    """O(2): all planar rotations and reflections.

    Irreps ``irrep(j, k)``: (0, 0) trivial, (1, 0) the determinant, (1, k) 2-dimensional for
    k >= 1. Subgroups ``(theta, M)`` (escnn's ids): ``(None, M)`` C_M, ``(None, -1)`` SO(2),
    ``(theta, M)`` with M > 1 D_M containing the reflection ``r_theta f`` (the axis at angle
    theta/2), ``(theta, 1)`` the reflection group ``{e, r_theta f}``, which is C_2 as in escnn,
    ``(theta, -1)`` O(2) conjugated by the rotation by theta/2.

    **Attributes:** `reflection`, the element ``f = (1, 0.0)`` (escnn's).
    """

    def __init__(self, maximum_frequency: int):
        super().__init__(-1, True, maximum_frequency)

    name = "O(2)"

    def __reduce__(self):
        return (o2_group, (self.maximum_frequency,))

    @property
    def reflection(self) -> GroupElement:
        return self._make(1, 0.0)

    def grid(self, *args, **kwargs) -> list[GroupElement]:
        """escnn's ``grid(N, type='regular', seed=None)``: ``'regular'``, the `N` rotations by
        multiples of ``2*pi/N`` and then the `N` reflections composed with them (2N elements);
        ``'rand'``, `N` uniform samples drawn with `seed`. C_N's order, e.g.
        ``grid('regular', N=8)``, is accepted too.

        **Raises:** `ValueError` for an unknown `type` or a bad `N`; `TypeError` for unknown
        or repeated arguments.
        """
        return self._grid(*_grid_args(args, kwargs, ("N", "type", "seed")))

    def grid_so2(self, *args, **kwargs) -> list[GroupElement]:
        """escnn's ``grid_so2(N, type='regular', seed=None)``: as `grid`, but rotations only."""
        type, N, seed = _grid_args(args, kwargs, ("N", "type", "seed"))
        return [self._make(0, g.rotation) for g in so2_group(self.maximum_frequency)._grid(type, N, seed)]

    def _check_irrep_id(self, id):
        ok = len(id) == 2 and all(is_int(i) for i in id)
        if ok:
            j, k = id
            ok = j in (0, 1) and k >= 0 and (j == 1 or k == 0)
        if not ok:
            raise ValueError(
                f"irrep id (={id!r}) names no irrep of O(2): expected irrep(0, 0), irrep(1, 0) or "
                "irrep(1, k) with an integer k >= 1"
            )
        return (int(id[0]), int(id[1]))

    def _check_subgroup_id(self, id):
        expected = "a pair (theta, M) with theta None or an angle in [0, 2*pi], and M >= 1 or -1"
        if not (isinstance(id, tuple) and len(id) == 2):
            raise self._subgroup_error(id, expected)
        theta, M = id
        if not is_int(M) or not (M >= 1 or M == -1):
            raise self._subgroup_error(id, expected)
        if theta is not None and (not is_real(theta) or not 0.0 <= theta <= TWO_PI):
            raise self._subgroup_error(id, expected)
        return (None if theta is None else canonical_angle(theta), int(M))

    def _subgroup_spec(self, id):
        theta, M = id
        F = self.maximum_frequency
        if theta is None:
            if M == -1:
                return so2_group(F), Embedding(1.0, 0.0)
            return cyclic_group(M), Embedding(TWO_PI / M, 0.0)
        if M == -1:
            return self, Embedding(1.0, theta)
        if M == 1:  # escnn: the group generated by one reflection is C_2
            return cyclic_group(2), Embedding(1.0, theta, True)
        return dihedral_group(M), Embedding(TWO_PI / M, theta)

    subgroup_trivial_id = (None, 1)
    subgroup_self_id = (0.0, -1)


def _check_frequency(value) -> int:
    if not is_int(value) or value < 0:
        raise ValueError(f"`maximum_frequency` (={value!r}) must be a non-negative integer")
    return int(value)


@functools.cache
def _so2(F: int) -> SO2:
    return SO2(F)


def so2_group(maximum_frequency: int = 6) -> SO2:
    """The group SO(2) of all planar rotations. `maximum_frequency` is the default band
    limit of its band-limited constructions; irreps of any frequency stay available."""
    return _so2(_check_frequency(maximum_frequency))


@functools.cache
def _o2(F: int) -> O2:
    return O2(F)


def o2_group(maximum_frequency: int = 6) -> O2:
    """The group O(2) of all planar rotations and reflections (see `so2_group`)."""
    return _o2(_check_frequency(maximum_frequency))
