"""`Group`: the common interface of the subgroups of O(2) (C_N, D_N, SO(2), O(2)).

Every group here is realised inside O(2); its elements are `GroupElement` pairs
``(flip, rotation)`` (see `_element`). The final groups are in `_cyclic_dihedral` and
`_so2_o2`, how subgroups sit in their parent in `_subgroups`.

Groups are immutable values: equal when their parameters are equal, hashable, and built
once per process by the cached factories (`cyclic_group`, `dihedral_group`, ...).
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING

import numpy as np

from .._misc import is_int, is_real
from ._element import TWO_PI, GroupElement, _wrap_angle
from ._subgroups import Embedding, Inclusion, Restriction, _subgroup

if TYPE_CHECKING:
    from ._irreps import IrreducibleRepresentation
    from ._representation import Representation


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

    @property
    def PARAM(self) -> str:
        """The default parametrisation of elements (escnn's): ``'int'`` for C_N and D_N,
        ``'radians'`` for SO(2) and O(2)."""
        return "radians" if self.continuous else "int"

    @property
    def PARAMETRIZATIONS(self) -> list[str]:
        """The parametrisations `element` and `GroupElement.to` accept (escnn's names)."""
        return ["radians", "MAT"] if self.continuous else ["int", "radians", "MAT"]

    def _check_param(self, param) -> str:
        if param is None:
            return self.PARAM
        if not isinstance(param, str) or param not in self.PARAMETRIZATIONS:
            raise ValueError(
                f"`param` (={param!r}) is not a parametrisation of {self.name}: expected one of {self.PARAMETRIZATIONS}"
            )
        return param

    def element(self, element, param: str | None = None) -> GroupElement:
        """The element named by `element` in the parametrisation `param` (escnn's
        ``Group.element(element, param)``; default `PARAM`, see `GroupElement.to`).

        `element` is ``r`` (C_N, ``'int'``), ``(f, r)`` (D_N), ``theta`` (SO(2),
        ``'radians'``), ``(f, theta)`` (O(2)); with ``param='radians'`` the rotation is an angle
        (for C_N and D_N a multiple of ``2*pi/N``), with ``param='MAT'`` a ``2 x 2`` rotation
        matrix.

        **Raises:** `ValueError` if `param` is not one of `PARAMETRIZATIONS` or `element` does
        not name an element of this group in that parametrisation.
        """
        param = self._check_param(param)
        value = element
        if self.has_flips:
            ok = isinstance(value, tuple) and len(value) == 2 and is_int(value[0]) and value[0] in (0, 1)
            flip, rot = value if ok else (None, None)
        else:
            ok, flip, rot = True, 0, value
        rot = self._rotation_from(rot, param) if ok else None
        if rot is None:
            raise ValueError(
                f"`element` (={value!r}) is not an element of {self.name}: expected {self._value_format(param)}"
            )
        return self._make(flip, rot)

    def _rotation_from(self, rot, param: str):
        """The rotation (step or angle) named by `rot` in `param`, or ``None``."""
        if param == "int":
            return int(rot) if is_int(rot) else None
        if param == "MAT":
            try:
                M = np.asarray(rot, dtype=np.float64)
            except (TypeError, ValueError):
                return None
            if M.shape != (2, 2) or not np.all(np.isfinite(M)):
                return None
            if not np.allclose(M @ M.T, np.eye(2), atol=1e-6) or not math.isclose(np.linalg.det(M), 1.0, abs_tol=1e-6):
                return None
            rot = math.atan2((M[1, 0] - M[0, 1]) / 2, (M[0, 0] + M[1, 1]) / 2)
        elif not is_real(rot) or not math.isfinite(rot):
            return None
        if self.continuous:
            return float(rot)
        steps = float(rot) % TWO_PI * self.rotation_order / TWO_PI
        k = round(steps)
        if abs(steps - k) * TWO_PI / self.rotation_order > 1e-9:
            return None
        return k

    def _value_format(self, param: str | None = None) -> str:
        param = param or self.PARAM
        if param == "int":
            rot = "an integer rotation step"
        elif param == "MAT":
            rot = "a 2x2 rotation matrix"
        elif self.continuous:
            rot = "an angle in radians"
        else:
            rot = f"an angle in radians, a multiple of 2*pi/{self.rotation_order}"
        if self.has_flips:
            return f"a pair (flip in {{0, 1}}, {rot})"
        return rot

    def sample(self, seed: int | np.random.Generator | None = None) -> GroupElement:
        """One element drawn uniformly (Haar measure) from the group, reproducible from `seed`."""
        return self.random_elements(1, seed)[0]

    def random_elements(
        self, n: int, seed: int | np.random.Generator | np.random.RandomState | None = None
    ) -> list[GroupElement]:
        """`n` elements drawn uniformly from the group, reproducible from `seed` (an integer,
        a numpy ``Generator`` or ``RandomState``, or ``None`` for fresh entropy)."""
        if not is_int(n) or n < 0:
            raise ValueError(f"`n` (={n!r}) must be a non-negative integer")
        if isinstance(seed, np.random.RandomState):  # escnn's grids take one
            flips = seed.randint(0, 2, size=n) if self.has_flips else np.zeros(n, dtype=int)
            rots = seed.uniform(0.0, TWO_PI, size=n) if self.continuous else seed.randint(0, self.rotation_order, n)
        else:
            rng = np.random.default_rng(seed)
            flips = rng.integers(0, 2, size=n) if self.has_flips else np.zeros(n, dtype=int)
            if self.continuous:
                rots = rng.uniform(0.0, TWO_PI, size=n)
            else:
                rots = rng.integers(0, self.rotation_order, size=n)
        return [self._make(int(f), r) for f, r in zip(flips, rots)]

    def testing_elements(self, n: int = 52) -> list[GroupElement]:
        """All elements of a finite group; a fixed grid of `n` rotations (and as many
        reflections, for O(2)) for a continuous one (escnn's default n = 52, a multiple of 4,
        so the grid contains the multiples of 90 degrees). A method, as in escnn (the gspace's
        `testing_elements` is a property)."""
        if not self.continuous:
            return list(self.elements)
        if not is_int(n) or n < 1:
            raise ValueError(f"`n` (={n!r}) must be a positive integer")
        flips = (0, 1) if self.has_flips else (0,)
        return [self._make(f, TWO_PI * i / n) for f in flips for i in range(n)]

    @property
    def generators(self) -> list[GroupElement]:
        """escnn's generators of a finite group: ``[r]`` for C_N (none for C_1); ``[r, f]``
        for D_N (``[f]`` for D_1).

        **Raises:** `ValueError` for SO(2) and O(2), whose generators are infinitesimal.
        """
        if self.continuous:
            raise ValueError(f"{self.name} is continuous: its generators are infinitesimal, which is not supported")
        gens = [self._make(0, 1)] if self.rotation_order > 1 else []
        return gens + ([self._make(1, 0)] if self.has_flips else [])

    def _grid(self, type, N, seed) -> list[GroupElement]:
        if not isinstance(type, str) or type not in ("regular", "rand"):
            raise ValueError(f"`type` (={type!r}) must be 'regular' or 'rand'")
        if N is not None and (not is_int(N) or N < 1):
            raise ValueError(f"`N` (={N!r}) must be a positive integer")
        missing_N = f"`N` (=None) is required for {self.name}: the number of rotations of the grid"
        return self._grid_elements(type, N, seed, missing_N)

    def _grid_elements(self, type: str, N: int | None, seed, missing_N: str) -> list[GroupElement]:
        """The grid of an already checked `type` (``'regular'`` or ``'rand'``) and `N` (a
        positive integer or None): `N` random elements, or the `N` regular rotations (all of
        a finite group's by default) times the flips. `missing_N` is the message when a
        continuous group's regular grid has no `N` (the callers word it differently)."""
        if type == "rand":
            if N is None:
                raise ValueError("`N` (=None) is required with type='rand': the number of random samples")
            return self.random_elements(int(N), seed)
        flips = (0, 1) if self.has_flips else (0,)
        if self.continuous:
            if N is None:
                raise ValueError(missing_N)
            return [self._make(f, TWO_PI * i / N) for f in flips for i in range(N)]
        n = self.rotation_order
        N = n if N is None else int(N)
        if n % N:
            raise ValueError(f"`N` (={N}) must divide the number of rotations of {self.name} ({n})")
        return [self._make(f, i * (n // N)) for f in flips for i in range(N)]

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
        from ._irreps import build_irrep

        return build_irrep(self, self._check_irrep_id(id))

    def _check_irrep_id(self, id: tuple) -> tuple: ...

    def irreps(self, maximum_frequency: int | None = None) -> list[IrreducibleRepresentation]:
        """All irreps of a finite group; those of frequency <= `maximum_frequency` (default:
        the group's) of a continuous one. Sorted by frequency."""
        if maximum_frequency is None:
            maximum_frequency = self.maximum_frequency if self.continuous else self.rotation_order // 2
        if not is_int(maximum_frequency) or maximum_frequency < 0:
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

    def bl_irreps(self, L: int) -> list[tuple]:
        """escnn's ids of the irreps of (rotational) frequency at most `L`, in escnn's order:
        ``[(0,), ..., (L,)]`` for C_N and SO(2); ``[(0, 0), (1, 0), ..., (1, L)]`` for O(2)
        and D_N, D_N adding ``(0, N/2)`` when N is even and ``L == N/2``.

        **Raises:** `ValueError` if `L` is negative or, for C_N and D_N, above ``N // 2``.
        """
        top = None if self.continuous else self.rotation_order // 2
        if not is_int(L) or L < 0 or (top is not None and L > top):
            bound = "" if top is None else f" and at most {top} (N // 2 for {self.name})"
            raise ValueError(f"`L` (={L!r}) must be a non-negative integer{bound}")
        L = int(L)
        if not self.has_flips:
            return [(k,) for k in range(L + 1)]
        ids = [(0, 0)] + [(1, k) for k in range(L + 1)]
        if not self.continuous and self.rotation_order % 2 == 0 and L == top:
            ids.append((0, L))
        return ids

    def standard_representation(self) -> Representation:
        """The 2-dimensional representation by which the group rotates (and reflects) the
        plane, as escnn's ``standard_representation()``: ``irrep(1)`` for SO(2),
        ``irrep(1, 1)`` for O(2); likewise for C_N and D_N with N >= 3 (an equijax extension:
        escnn defines it for SO(2) and O(2) only). For C_1, C_2, D_1, D_2, whose action on the
        plane is reducible, the direct sum of irreps with matrices ``R(theta) diag(1, -1)^f``,
        named ``"standard"``.
        """
        if self.continuous or self.rotation_order >= 3:
            return self.irrep(*((1, 1) if self.has_flips else (1,)))
        return _small_standard(self)

    @property
    def trivial_representation(self) -> IrreducibleRepresentation:
        return self.irrep(*self._irrep_ids(0)[0])

    @property
    def regular_representation(self) -> Representation:
        """The regular representation ``rho(g) e_h = e_{gh}`` of a finite group (basis
        ordered as `elements`).

        **Raises:** `ValueError` for continuous groups: use `bl_regular_representation`.
        """
        from ._induced import regular_representation

        return regular_representation(self)

    def bl_regular_representation(self, L: int | None = None) -> Representation:
        """The band-limited regular representation: every irrep of frequency <= `L` (default:
        `maximum_frequency`), each as often as it appears in the regular representation, in
        the Fourier (irreps) basis."""
        from ._induced import bl_regular_representation

        if L is None:
            L = self.maximum_frequency if self.continuous else self.rotation_order // 2
        return bl_regular_representation(self, L)

    def quotient_representation(self, subgroup_id) -> Representation:
        """The permutation representation on the cosets G/H of the subgroup `subgroup_id`
        (finite G), or its band-limited version up to `maximum_frequency` (continuous G)."""
        from ._induced import quotient_representation

        return quotient_representation(self, self._check_subgroup_id(subgroup_id))

    def induced_representation(self, subgroup_id, repr: Representation) -> Representation:
        """The representation of G induced from the representation `repr` of the subgroup
        `subgroup_id` (which must have finite index)."""
        from ._induced import induced_representation

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


def _grid_args(args: tuple, kwargs: dict, order: tuple) -> tuple:
    """``(type, N, seed)`` from ``grid``'s arguments. escnn's C_N and D_N take
    ``grid(type, N)``, its SO(2) and O(2) ``grid(N, type='regular', seed=None)``; `order` is
    the group's own, and a first positional argument of the other kind (a string where N is
    expected, or a number where the type is) selects the other order."""
    if args and isinstance(args[0], str) != (order[0] == "type"):
        order = ("type", "N", "seed") if order[0] == "N" else ("N", "type", "seed")
    if len(args) > 3:
        raise TypeError(f"grid() takes at most 3 arguments ({', '.join(order)}), got {len(args)}")
    values = dict(zip(order, args))
    for name, v in kwargs.items():
        if name not in order:
            raise TypeError(f"grid() got an unexpected keyword argument {name!r}")
        if name in values:
            raise TypeError(f"grid() got multiple values for argument {name!r}")
        values[name] = v
    return values.get("type", "regular"), values.get("N"), values.get("seed")


@functools.cache
def _small_standard(group: Group) -> Representation:
    """The action on the plane of C_1, C_2, D_1 or D_2 (standard embedding: reflections
    along the x axis), a direct sum of 1-dimensional irreps."""
    from ._decompose import decompose
    from ._representation import Representation

    def mats(elements):
        flips, angles = group.element_params(elements)
        c, s = np.cos(angles), np.sin(angles)
        sign = np.where(flips == 1, -1.0, 1.0)
        return np.stack([np.stack([c, -sign * s], -1), np.stack([s, sign * c], -1)], -2)

    ids, Q = decompose(group, mats, 1)
    return Representation(group, ids, Q, "standard", ("norm", "gated"))
