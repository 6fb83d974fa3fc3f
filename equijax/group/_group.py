"""The subgroups of O(2): cyclic C_N, dihedral D_N, SO(2), O(2) and the trivial group.

Every group here is realised inside O(2). An element is a pair ``(flip, rotation)``
standing for the planar map "reflect (if ``flip``), then rotate": ``r^rotation f^flip``.
For finite groups ``rotation`` is an integer step (one step is ``2*pi/N``); for SO(2) and
O(2) it is an angle in radians in ``[0, 2*pi)``. The group law is the one of O(2):

    (f1, r1) @ (f2, r2) = (f1 + f2 mod 2, r1 + (-1)^f1 * r2)

Groups are immutable values: equal when their parameters are equal, hashable, and built
once per process by the cached factories (`cyclic_group`, `dihedral_group`, ...).
"""

from __future__ import annotations

import functools
import math
import numbers
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from ._representation import IrreducibleRepresentation, Representation

TWO_PI = 2.0 * math.pi
#: Two angles closer than this (modulo 2*pi) name the same element of SO(2)/O(2).
ANGLE_ATOL = 1e-9


def _is_int(x: Any) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def _is_real(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


# angles within ~1e-12 rad of a multiple of 2*pi/_ANGLE_GRID (every k*pi/N, N <= 16, and
# more) are snapped onto it, so that the same axis computed two ways is the same float
_ANGLE_GRID = 2 * 720720


def canonical_angle(theta: float) -> float:
    """`theta` wrapped into ``[0, 2*pi)``; snapped to the exact multiple of
    ``2*pi / 1441440`` when within round-off of one (e.g. ``k*pi/N`` for N <= 16)."""
    t = float(theta) % TWO_PI
    q = t / TWO_PI * _ANGLE_GRID
    if abs(q - round(q)) < 1e-7:
        t = (round(q) % _ANGLE_GRID) / _ANGLE_GRID * TWO_PI
    return t


def angle_key(theta: float) -> int:
    """A hashable key equal for angles that agree to ~1e-12 rad (modulo 2*pi)."""
    return round(float(theta) % TWO_PI / TWO_PI * 2**40) % 2**40


def _wrap_angle(theta: float) -> float:
    theta = float(theta) % TWO_PI
    # fold angles that are numerically 2*pi onto 0 so that equal elements compare equal
    if TWO_PI - theta < ANGLE_ATOL:
        theta = 0.0
    return theta


class GroupElement:
    """An element ``r^rotation f^flip`` of a subgroup of O(2).

    Build elements with `Group.element`, `Group.identity`, `Group.elements`, or by
    composing others: ``g @ h`` (composition), ``~g`` (inverse).

    **Attributes:**

    - `group`: the group the element belongs to.
    - `flip`: 0 or 1, whether the element contains a reflection.
    - `rotation`: the integer rotation step (finite groups) or the angle in radians in
      ``[0, 2*pi)`` (SO(2), O(2)).
    """

    __slots__ = ("group", "flip", "rotation")

    def __init__(self, group: Group, flip: int, rotation: int | float):
        object.__setattr__(self, "group", group)
        object.__setattr__(self, "flip", flip)
        object.__setattr__(self, "rotation", rotation)

    def __setattr__(self, name, value):
        raise AttributeError("GroupElement is immutable")

    @property
    def angle(self) -> float:
        """The rotation angle in radians, in ``[0, 2*pi)``."""
        if self.group.continuous:
            return float(self.rotation)
        return TWO_PI * self.rotation / self.group.rotation_order

    @property
    def value(self):
        """escnn's parametrisation: ``r`` (C_N), ``(f, r)`` (D_N), ``theta`` (SO(2)),
        ``(f, theta)`` (O(2))."""
        if self.group.has_flips:
            return (self.flip, self.rotation)
        return self.rotation

    def __matmul__(self, other: GroupElement) -> GroupElement:
        if not isinstance(other, GroupElement):
            return NotImplemented
        if other.group != self.group:
            raise ValueError(f"cannot compose elements of different groups: {self.group.name} and {other.group.name}")
        sign = -1 if self.flip else 1
        return self.group._make(self.flip ^ other.flip, self.rotation + sign * other.rotation)

    def __invert__(self) -> GroupElement:
        if self.flip:
            return self
        return self.group._make(0, -self.rotation)

    def is_identity(self) -> bool:
        return self == self.group.identity

    def __eq__(self, other) -> bool:
        if not isinstance(other, GroupElement):
            return NotImplemented
        if other.group != self.group or other.flip != self.flip:
            return False
        if self.group.continuous:
            d = abs(self.rotation - other.rotation) % TWO_PI
            return min(d, TWO_PI - d) < ANGLE_ATOL
        return self.rotation == other.rotation

    def __hash__(self) -> int:
        # continuous groups compare angles with a tolerance: hash only what is exact
        if self.group.continuous:
            return hash((self.group, self.flip))
        return hash((self.group, self.flip, self.rotation))

    def __repr__(self) -> str:
        if self.group.continuous:
            rot = f"{self.rotation:.6g}"
        else:
            rot = str(self.rotation)
        return f"{self.group.name}[{'f' if self.flip else '+'},{rot}]"

    def __reduce__(self):
        return (self.group._make, (self.flip, self.rotation))


class Embedding(NamedTuple):
    """How a subgroup sits in its parent: ``(f, r) -> (f, scale * r + f * offset)``.

    ``scale`` and ``offset`` are in the parent's rotation units (integer steps for a
    finite parent, radians for a continuous one).
    """

    scale: float
    offset: float


class Inclusion:
    """Maps an element of a subgroup to the same element of its parent group."""

    def __init__(self, subgroup: Group, parent: Group, embedding: Embedding):
        self.subgroup, self.parent, self.embedding = subgroup, parent, embedding

    def __call__(self, h: GroupElement) -> GroupElement:
        if not isinstance(h, GroupElement) or h.group != self.subgroup:
            raise ValueError(f"`h` (={h!r}) must be an element of {self.subgroup.name}")
        s, o = self.embedding
        return self.parent._make(h.flip, s * h.rotation + h.flip * o)

    def params(self, flips: np.ndarray, rotations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Vectorised: subgroup ``(flips, rotations)`` to parent ``(flips, angles)``."""
        s, o = self.embedding
        r = s * rotations + flips * o
        if not self.parent.continuous:
            r = r * (TWO_PI / self.parent.rotation_order)
        return flips, r

    def __eq__(self, other):
        return isinstance(other, Inclusion) and (
            self.subgroup,
            self.parent,
            self.embedding,
        ) == (other.subgroup, other.parent, other.embedding)

    def __hash__(self):
        return hash((self.subgroup, self.parent, self.embedding))


class Restriction:
    """Maps an element of a parent group to the subgroup, or to ``None`` if outside it."""

    def __init__(self, subgroup: Group, parent: Group, embedding: Embedding):
        self.subgroup, self.parent, self.embedding = subgroup, parent, embedding

    def __call__(self, g: GroupElement) -> GroupElement | None:
        if not isinstance(g, GroupElement) or g.group != self.parent:
            raise ValueError(f"`g` (={g!r}) must be an element of {self.parent.name}")
        s, o = self.embedding
        if g.flip and not self.subgroup.has_flips:
            return None
        r = (g.rotation - g.flip * o) / s
        if self.subgroup.continuous:
            return self.subgroup._make(g.flip, r)
        if self.parent.continuous:
            # the angle must be (numerically) a whole number of the subgroup's steps
            k = round(r)
            if abs(r - k) * s > ANGLE_ATOL:
                return None
            return self.subgroup._make(g.flip, k)
        n = self.parent.rotation_order
        num = (g.rotation - g.flip * o) % n
        if num % s:
            return None
        return self.subgroup._make(g.flip, num // s)

    def __eq__(self, other):
        return isinstance(other, Restriction) and (
            self.subgroup,
            self.parent,
            self.embedding,
        ) == (other.subgroup, other.parent, other.embedding)

    def __hash__(self):
        return hash((self.subgroup, self.parent, self.embedding))


class Group:
    """A subgroup of O(2): the common interface of `CyclicGroup`, `DihedralGroup`, `SO2`, `O2`.

    Do not instantiate directly; use the factories `cyclic_group`, `dihedral_group`,
    `so2_group`, `o2_group` and `trivial_group`.

    **Attributes:**

    - `name`: e.g. ``"C8"``, ``"D4"``, ``"SO(2)"``, ``"O(2)"``.
    - `rotation_order`: N for C_N and D_N, -1 for SO(2) and O(2).
    - `has_flips`: whether the group contains reflections.
    - `continuous`: whether the group is SO(2) or O(2).
    - `maximum_frequency`: for SO(2)/O(2), the band limit used by band-limited constructions
      (`bl_regular_representation`, `irreps`); ``None`` for finite groups.
    """

    rotation_order: int
    has_flips: bool
    maximum_frequency: int | None

    def __init__(self, rotation_order: int, has_flips: bool, maximum_frequency: int | None):
        object.__setattr__(self, "rotation_order", rotation_order)
        object.__setattr__(self, "has_flips", has_flips)
        object.__setattr__(self, "maximum_frequency", maximum_frequency)

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is immutable")

    # -- value semantics -------------------------------------------------------------
    @property
    def _key(self):
        return (type(self).__name__, self.rotation_order, self.has_flips, self.maximum_frequency)

    def __eq__(self, other) -> bool:
        return isinstance(other, Group) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __repr__(self) -> str:
        return self.name

    def __reduce__(self): ...

    # -- elements --------------------------------------------------------------------
    @property
    def continuous(self) -> bool:
        return self.rotation_order == -1

    def order(self) -> int:
        """Number of elements; -1 for continuous groups (escnn convention)."""
        if self.continuous:
            return -1
        return self.rotation_order * (2 if self.has_flips else 1)

    def _make(self, flip: int, rotation) -> GroupElement:
        if self.continuous:
            return GroupElement(self, int(flip), _wrap_angle(rotation))
        return GroupElement(self, int(flip), int(rotation) % self.rotation_order)

    @functools.cached_property
    def identity(self) -> GroupElement:
        return self._make(0, 0)

    @functools.cached_property
    def _elements(self) -> tuple[GroupElement, ...] | None:
        if self.continuous:
            return None
        flips = (0, 1) if self.has_flips else (0,)
        return tuple(self._make(f, r) for f in flips for r in range(self.rotation_order))

    @property
    def elements(self) -> list[GroupElement] | None:
        """All elements of a finite group, rotations first (a new list each call); ``None``
        for continuous groups."""
        return None if self._elements is None else list(self._elements)

    def element(self, value) -> GroupElement:
        """The element with escnn's parametrisation `value` (see `GroupElement.value`).

        **Raises:** `ValueError` if `value` does not name an element of this group.
        """
        if self.has_flips:
            ok = isinstance(value, tuple) and len(value) == 2 and _is_int(value[0]) and value[0] in (0, 1)
            flip, rot = value if ok else (None, None)
        else:
            ok, flip, rot = True, 0, value
        ok = ok and (_is_real(rot) if self.continuous else _is_int(rot))
        if not ok:
            raise ValueError(f"`value` (={value!r}) is not an element of {self.name}: expected {self._value_format}")
        return self._make(flip, rot)

    @property
    def _value_format(self) -> str:
        rot = "an angle in radians" if self.continuous else "an integer rotation step"
        if self.has_flips:
            return f"a pair (flip in {{0, 1}}, {rot})"
        return rot

    def sample(self, seed: int | np.random.Generator | None = None) -> GroupElement:
        """One element drawn uniformly (Haar measure) from the group, reproducible from `seed`."""
        return self.random_elements(1, seed)[0]

    def random_elements(self, n: int, seed: int | np.random.Generator | None = None) -> list[GroupElement]:
        """`n` elements drawn uniformly from the group, reproducible from `seed`."""
        if not _is_int(n) or n < 0:
            raise ValueError(f"`n` (={n!r}) must be a non-negative integer")
        rng = np.random.default_rng(seed)
        flips = rng.integers(0, 2, size=n) if self.has_flips else np.zeros(n, dtype=int)
        if self.continuous:
            rots = rng.uniform(0.0, TWO_PI, size=n)
        else:
            rots = rng.integers(0, self.rotation_order, size=n)
        return [self._make(int(f), r) for f, r in zip(flips, rots)]

    def testing_elements(self) -> list[GroupElement]:
        """All elements of a finite group; a fixed grid of 52 rotations (and as many
        reflections, for O(2)) for a continuous one. The grid contains the multiples of 90
        degrees."""
        if not self.continuous:
            return list(self.elements)
        n = 52
        flips = (0, 1) if self.has_flips else (0,)
        return [self._make(f, TWO_PI * i / n) for f in flips for i in range(n)]

    def element_params(self, elements) -> tuple[np.ndarray, np.ndarray]:
        """``(flips, angles)`` arrays for a sequence of elements of this group."""
        elements = list(elements)
        for g in elements:
            if not isinstance(g, GroupElement) or g.group != self:
                raise ValueError(f"`elements` contains {g!r}, which is not an element of {self.name}")
        flips = np.array([g.flip for g in elements], dtype=np.int64)
        angles = np.array([g.angle for g in elements], dtype=np.float64)
        return flips, angles

    # -- representations -----------------------------------------------------------------
    def irrep(self, *id) -> IrreducibleRepresentation:
        """The irreducible representation with escnn's id: ``irrep(k)`` for C_N and SO(2),
        ``irrep(j, k)`` for D_N and O(2).

        **Raises:** `ValueError` if `id` names no irrep of this group.
        """
        from ._representation import build_irrep

        return build_irrep(self, self._check_irrep_id(id))

    def _check_irrep_id(self, id: tuple) -> tuple: ...

    def irreps(self, maximum_frequency: int | None = None) -> list[IrreducibleRepresentation]:
        """All irreps of a finite group; those of frequency <= `maximum_frequency` (default:
        the group's) of a continuous one. Sorted by frequency."""
        if maximum_frequency is None:
            maximum_frequency = self.maximum_frequency if self.continuous else self.rotation_order // 2
        if not _is_int(maximum_frequency) or maximum_frequency < 0:
            raise ValueError(f"`maximum_frequency` (={maximum_frequency!r}) must be a non-negative integer")
        return [self.irrep(*i) for i in self._irrep_ids(maximum_frequency)]

    def _irrep_ids(self, maximum_frequency: int) -> list[tuple]:
        kmax = maximum_frequency if self.continuous else min(maximum_frequency, self.rotation_order // 2)
        ids = []
        for k in range(kmax + 1):
            one_dim = k == 0 or (not self.continuous and 2 * k == self.rotation_order)
            if self.has_flips:
                ids += [(0, k), (1, k)] if one_dim else [(1, k)]
            else:
                ids.append((k,))
        return ids

    @property
    def trivial_representation(self) -> IrreducibleRepresentation:
        return self.irrep(*self._irrep_ids(0)[0])

    @property
    def regular_representation(self) -> Representation:
        """The regular representation ``rho(g) e_h = e_{gh}`` of a finite group (basis
        ordered as `elements`).

        **Raises:** `ValueError` for continuous groups: use `bl_regular_representation`.
        """
        from ._representation import regular_representation

        return regular_representation(self)

    def bl_regular_representation(self, L: int | None = None) -> Representation:
        """The band-limited regular representation: every irrep of frequency <= `L` (default:
        `maximum_frequency`), each as often as it appears in the regular representation, in
        the Fourier (irreps) basis."""
        from ._representation import bl_regular_representation

        if L is None:
            L = self.maximum_frequency if self.continuous else self.rotation_order // 2
        return bl_regular_representation(self, L)

    def quotient_representation(self, subgroup_id) -> Representation:
        """The permutation representation on the cosets G/H of the subgroup `subgroup_id`
        (finite G), or its band-limited version up to `maximum_frequency` (continuous G)."""
        from ._representation import quotient_representation

        return quotient_representation(self, self._check_subgroup_id(subgroup_id))

    def induced_representation(self, subgroup_id, repr: Representation) -> Representation:
        """The representation of G induced from the representation `repr` of the subgroup
        `subgroup_id` (which must have finite index)."""
        from ._representation import induced_representation

        return induced_representation(self, self._check_subgroup_id(subgroup_id), repr)

    # -- subgroups -------------------------------------------------------------------------
    def subgroup(self, id) -> tuple[Group, Inclusion, Restriction]:
        """The subgroup `id` (escnn's ids), with the maps between the two groups.

        **Returns:** ``(H, inclusion, restriction)``: ``inclusion(h)`` is ``h`` as an element
        of this group, ``restriction(g)`` is ``g`` as an element of H, or ``None``.

        **Raises:** `ValueError` if `id` names no subgroup of this group.
        """
        return _subgroup(self, self._check_subgroup_id(id))

    def _check_subgroup_id(self, id): ...

    def _subgroup_spec(self, id) -> tuple[Group, Embedding]: ...

    @property
    def subgroup_trivial_id(self): ...

    @property
    def subgroup_self_id(self): ...

    def _subgroup_error(self, id, expected: str) -> ValueError:
        return ValueError(f"`subgroup_id` (={id!r}) names no subgroup of {self.name}: expected {expected}")


@functools.cache
def _subgroup(group: Group, id) -> tuple[Group, Inclusion, Restriction]:
    sub, emb = group._subgroup_spec(id)
    return sub, Inclusion(sub, group, emb), Restriction(sub, group, emb)


def _check_positive_int(name: str, value, allow_minus_one: bool = False) -> int:
    if not _is_int(value) or not (value >= 1 or (allow_minus_one and value == -1)):
        extra = " or -1" if allow_minus_one else ""
        raise ValueError(f"`{name}` (={value!r}) must be a positive integer{extra}")
    return int(value)


class CyclicGroup(Group):
    """C_N: the N rotations by multiples of 2*pi/N. Irreps ``irrep(k)``, k = 0..N//2.
    Subgroups: ``M`` (C_M, M divides N)."""

    def __init__(self, N: int):
        super().__init__(N, False, None)

    @property
    def name(self) -> str:
        return f"C{self.rotation_order}"

    @property
    def N(self) -> int:
        return self.rotation_order

    def __reduce__(self):
        return (cyclic_group, (self.rotation_order,))

    def _check_irrep_id(self, id):
        N = self.rotation_order
        if len(id) != 1 or not _is_int(id[0]) or not 0 <= id[0] <= N // 2:
            raise ValueError(
                f"irrep id (={id!r}) names no irrep of {self.name}: expected irrep(k) with k in 0..{N // 2}"
            )
        return (int(id[0]),)

    def _check_subgroup_id(self, id):
        N = self.rotation_order
        if not _is_int(id) or id < 1 or N % id:
            raise self._subgroup_error(id, f"an integer M >= 1 dividing {N}")
        return int(id)

    def _subgroup_spec(self, id):
        return cyclic_group(id), Embedding(self.rotation_order // id, 0)

    @property
    def subgroup_trivial_id(self):
        return 1

    @property
    def subgroup_self_id(self):
        return self.rotation_order


class DihedralGroup(Group):
    """D_N: N rotations and N reflections (order 2N); D_1 is the reflection group.

    Irreps ``irrep(j, k)``: (0, 0) trivial, (1, 0) the sign of the reflection, (0, N/2) and
    (1, N/2) for even N (1-dimensional), and the 2-dimensional (1, k) for 0 < k < N/2.
    Subgroups: ``(None, M)`` is C_M, ``(k, M)`` is D_M generated by the rotation by 2*pi/M
    and the reflection ``r^k f`` (0 <= k < N/M); ``(k, 1)`` is the reflection group of
    ``r^k f``. M must divide N.
    """

    def __init__(self, N: int):
        super().__init__(N, True, None)

    @property
    def name(self) -> str:
        return f"D{self.rotation_order}"

    @property
    def N(self) -> int:
        return self.rotation_order

    def __reduce__(self):
        return (dihedral_group, (self.rotation_order,))

    def _check_irrep_id(self, id):
        N = self.rotation_order
        ok = len(id) == 2 and all(_is_int(i) for i in id)
        if ok:
            j, k = id
            ok = j in (0, 1) and 0 <= k <= N // 2 and (j == 1 or k == 0 or 2 * k == N)
        if not ok:
            raise ValueError(
                f"irrep id (={id!r}) names no irrep of {self.name}: expected irrep(j, k) with k in "
                f"0..{N // 2}, j in {{0, 1}} for k == 0 or k == N/2, and j == 1 otherwise"
            )
        return (int(id[0]), int(id[1]))

    def _check_subgroup_id(self, id):
        N = self.rotation_order
        expected = f"a pair (k, M) with M >= 1 dividing {N} and k either None or an integer in [0, {N}/M)"
        if not (isinstance(id, tuple) and len(id) == 2):
            raise self._subgroup_error(id, expected)
        k, M = id
        if not _is_int(M) or M < 1 or N % M:
            raise self._subgroup_error(id, expected)
        if k is not None and (not _is_int(k) or not 0 <= k < N // M):
            raise self._subgroup_error(id, expected)
        return (None if k is None else int(k), int(M))

    def _subgroup_spec(self, id):
        k, M = id
        scale = self.rotation_order // M
        if k is None:
            return cyclic_group(M), Embedding(scale, 0)
        return dihedral_group(M), Embedding(scale, k)

    @property
    def subgroup_trivial_id(self):
        return (None, 1)

    @property
    def subgroup_self_id(self):
        return (0, self.rotation_order)


class SO2(Group):
    """SO(2): all planar rotations. Irreps ``irrep(k)`` for every integer k >= 0.
    Subgroups: ``M`` (C_M) and ``-1`` (SO(2) itself)."""

    def __init__(self, maximum_frequency: int):
        super().__init__(-1, False, maximum_frequency)

    name = "SO(2)"

    def __reduce__(self):
        return (so2_group, (self.maximum_frequency,))

    def _check_irrep_id(self, id):
        if len(id) != 1 or not _is_int(id[0]) or id[0] < 0:
            raise ValueError(f"irrep id (={id!r}) names no irrep of SO(2): expected irrep(k) with an integer k >= 0")
        return (int(id[0]),)

    def _check_subgroup_id(self, id):
        if not _is_int(id) or not (id >= 1 or id == -1):
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
    k >= 1. Subgroups ``(theta, M)``: ``(None, M)`` C_M, ``(None, -1)`` SO(2), ``(theta, M)``
    D_M containing the reflection ``r_theta f`` (the axis at angle theta/2), ``(theta, 1)``
    the reflection group, ``(theta, -1)`` O(2) conjugated by the rotation by theta/2.
    """

    def __init__(self, maximum_frequency: int):
        super().__init__(-1, True, maximum_frequency)

    name = "O(2)"

    def __reduce__(self):
        return (o2_group, (self.maximum_frequency,))

    def _check_irrep_id(self, id):
        ok = len(id) == 2 and all(_is_int(i) for i in id)
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
        if not _is_int(M) or not (M >= 1 or M == -1):
            raise self._subgroup_error(id, expected)
        if theta is not None and (not _is_real(theta) or not 0.0 <= theta <= TWO_PI):
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
        return dihedral_group(M), Embedding(TWO_PI / M, theta)

    subgroup_trivial_id = (None, 1)
    subgroup_self_id = (0.0, -1)


@functools.cache
def _cyclic(N: int) -> CyclicGroup:
    return CyclicGroup(N)


def cyclic_group(N: int) -> CyclicGroup:
    """The cyclic group C_N of N rotations (N >= 1).

    **Raises:** `ValueError` if `N` is not a positive integer.
    """
    return _cyclic(_check_positive_int("N", N))


@functools.cache
def _dihedral(N: int) -> DihedralGroup:
    return DihedralGroup(N)


def dihedral_group(N: int) -> DihedralGroup:
    """The dihedral group D_N of N rotations and N reflections (N >= 1; D_1 is the
    reflection group).

    **Raises:** `ValueError` if `N` is not a positive integer.
    """
    return _dihedral(_check_positive_int("N", N))


def _check_frequency(value) -> int:
    if not _is_int(value) or value < 0:
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


def trivial_group() -> CyclicGroup:
    """The trivial group, C_1 (as in escnn)."""
    return cyclic_group(1)
