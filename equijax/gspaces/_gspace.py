"""GSpaces: a group acting on the plane R^2 (or on no space), with escnn's factories.

A `GSpace2D` is identified by a subgroup id of O(2) (escnn's ``sg_id``): the group acts on
the plane through that inclusion. Points are ``(x, y)``; on a pixel grid the last array axis
is x (pointing right) and the second-to-last is -y (rows go down), as in escnn.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np

from .. import kernels
from ..group import (
    ElementList,
    Group,
    GroupElement,
    Inclusion,
    Representation,
    Restriction,
    o2_group,
)
from ..internal import angle_key, cached_subgroup, canonical_angle, is_int, is_real


class GSpace:
    """The common interface of `GSpace2D` and `GSpace0D`.

    **Attributes:** `fibergroup`, `dimensionality` (2 or 0), `name`.
    """

    fibergroup: Group
    dimensionality: int

    def __setattr__(self, name, value):
        raise AttributeError("gspaces are immutable")

    @property
    def trivial_repr(self) -> Representation:
        return self.fibergroup.trivial_representation

    @property
    def regular_repr(self) -> Representation:
        return self.fibergroup.regular_representation

    def irrep(self, *id) -> Representation:
        return self.fibergroup.irrep(*id)

    @property
    def irreps(self) -> list[Representation]:
        return self.fibergroup.irreps()

    def quotient_repr(self, subgroup_id) -> Representation:
        return self.fibergroup.quotient_representation(subgroup_id)

    def induced_repr(self, subgroup_id, repr: Representation) -> Representation:
        """The representation induced from `repr`, a representation of the subgroup
        `subgroup_id` of the fibre group (escnn's ``gspace.induced_repr``)."""
        return self.fibergroup.induced_representation(subgroup_id, repr)

    @property
    def testing_elements(self) -> ElementList:
        """The fibre group's testing elements (all elements of a finite group, a grid of a
        continuous one), an iterable property as in escnn: ``for g in gs.testing_elements:``.

        The value is an `equijax.group.ElementList`, a list that can also be called, so the
        older equijax form ``gs.testing_elements()`` gives the same list.
        """
        return ElementList(self.fibergroup.testing_elements())

    def type(self, *representations: Representation):
        """``nn.FieldType(self, list(representations))`` (escnn's shortcut):
        ``gs.type(gs.trivial_repr, gs.regular_repr)``.

        **Raises:** as `equijax.nn.FieldType`.
        """
        # function-local import: `nn` sits above `gspaces` in the package's layers, so the
        # module cannot import it at load time (nn imports gspaces)
        from ..nn import FieldType

        return FieldType(self, list(representations))

    def build_intertwiner_basis(self, in_repr: Representation, out_repr: Representation) -> kernels.KernelBasis:
        """The basis of equivariant linear maps (see `equijax.kernels.intertwiner_basis`)."""
        return kernels.intertwiner_basis(self, in_repr, out_repr)

    def __repr__(self) -> str:
        return self.name


class GSpace2D(GSpace):
    """A subgroup of O(2) acting on the plane. Build it with `rot2dOnR2`, `flipRot2dOnR2`,
    `flip2dOnR2` or `trivialOnR2`.

    **Attributes:**

    - `sg_id`: the subgroup of O(2), ``(axis_angle or None, N or -1)`` (escnn's id; a
      reflection ``(1, theta)`` mirrors along the line at angle theta/2).
    - `fibergroup`: the group, as in escnn: C_N for ``(None, N)``, D_N for ``(theta, N)``
      with N > 1, SO(2) / O(2) for N = -1, and C_2 for the reflection group ``(theta, 1)``
      (`flip2dOnR2`, ``flipRot2dOnR2(N=1)``), whose element 1 is the reflection and whose
      irreps are ``irrep(0)`` (trivial) and ``irrep(1)`` (the sign of the reflection).
    - `o2_inclusion`: maps an element of `fibergroup` to O(2).
    - `basespace_action`: the 2-dimensional representation by which the group moves points.
    - `maximum_frequency`: band limit of the continuous groups' band-limited constructions.
    """

    dimensionality = 2

    def __init__(self, sg_id: tuple, maximum_frequency: int = 6):
        if not (isinstance(sg_id, tuple) and len(sg_id) == 2):
            raise ValueError(f"`sg_id` (={sg_id!r}) must be a subgroup id (theta or None, N) of O(2)")
        theta, N = sg_id
        _check_N(N)
        _check_F(maximum_frequency)
        if theta is not None:
            if not is_real(theta) or not math.isfinite(theta):
                raise ValueError(f"`sg_id` (={sg_id!r}) must have an angle or None first")
            theta = canonical_angle(theta)
        F = int(maximum_frequency) if N == -1 else 0
        o2 = o2_group(F)
        group, inclusion, _ = cached_subgroup(o2, (theta, N))
        d = self.__dict__
        d["sg_id"], d["maximum_frequency"] = (theta, N), F
        d["fibergroup"], d["o2_inclusion"] = group, inclusion
        d["name"] = _gspace_name(group, theta)

    @property
    def _key(self):
        theta, N = self.sg_id
        return (None if theta is None else angle_key(theta), N, self.maximum_frequency)

    def __eq__(self, other):
        return isinstance(other, GSpace2D) and self._key == other._key

    def __hash__(self):
        return hash(("GSpace2D", self._key))

    def __reduce__(self):
        return (_gspace2d, (self.sg_id, self.maximum_frequency))

    @property
    def rotations_order(self) -> int:
        return self.sg_id[1]

    @property
    def flips_order(self) -> int:
        return 0 if self.sg_id[0] is None else 1

    @functools.cached_property
    def basespace_action(self) -> Representation:
        """O(2)'s irrep(1, 1) restricted to the group: g moves the point v to ``A(g) v``."""
        return o2_group(self.maximum_frequency).irrep(1, 1).restrict(self.sg_id)

    def action_matrices(self, elements: Sequence[GroupElement]) -> np.ndarray:
        """The ``(n, 2, 2)`` matrices ``A(g) = R(theta) diag(1, -1)^flip`` moving points."""
        G = self.fibergroup
        elements = list(elements)
        flips, _ = G.element_params(elements)
        rots = np.array([g.rotation for g in elements], dtype=np.float64)
        f, angles = self.o2_inclusion.params(flips, rots)
        return o2_group(self.maximum_frequency).irrep(1, 1).matrices_from_params(f, angles)

    def action_matrix(self, g: GroupElement) -> np.ndarray:
        return self.action_matrices([g])[0]

    def restrict(self, subgroup_id) -> tuple[GSpace2D, Inclusion, Restriction]:
        """The gspace of the subgroup `subgroup_id` of the fibre group.

        **Returns:** ``(gspace, inclusion, restriction)`` as in `Group.subgroup`.
        """
        sub, inclusion, restriction = self.fibergroup.subgroup(subgroup_id)
        gspace = _gspace2d(_combine_sg_ids(sub, inclusion, self.o2_inclusion), self.maximum_frequency)
        return gspace, inclusion, restriction

    def transform_grid(self, x, g: GroupElement):
        """The signal ``x`` (numpy or jax array ``(..., H, W)``) moved by g:
        ``(g x)(p) = x(A(g)^-1 p)`` on the pixel grid.

        Exact (a permutation of pixels) when A(g) maps the grid onto itself: rotations by
        multiples of 90 degrees (square grids only, for odd multiples) and reflections along
        the grid axes. Otherwise bilinear interpolation, with zeros outside the grid.

        **Raises:** `ValueError` if `g` is not an element of the fibre group or `x` has
        fewer than 2 dimensions.
        """
        if not isinstance(g, GroupElement) or g.group != self.fibergroup:
            raise ValueError(f"`g` (={g!r}) must be an element of {self.fibergroup.name}")
        return transform_grid(x, self.action_matrix(g))

    # the builders take the gspace as their first argument (`action`): bound here as methods,
    # with their signatures and docstrings
    build_kernel_basis = kernels.kernel_basis_on_grid
    build_point_basis = kernels.kernel_basis_on_points


def _combine_sg_ids(sub: Group, inclusion: Inclusion, o2_inclusion: Inclusion) -> tuple:
    """The O(2) subgroup id of `sub`, a subgroup of a gspace's fibre group: escnn's
    ``O2._combine_subgroups``. A subgroup with reflections gets the composite axis angle (the
    fibre's step-to-radian scale applied to the subgroup's offset, plus the fibre's own
    offset); the reflection group C_2 has id ``(theta, 1)``."""
    _, o1, refl1 = inclusion.embedding
    s2, o2, refl2 = o2_inclusion.embedding
    if refl2:  # the fibre is the reflection group {e, r_o2 f}: sub is itself or trivial
        return (o2, 1) if sub.order() == 2 else (None, 1)
    if refl1:  # sub is the reflection group of r^o1 f in the fibre
        return (canonical_angle(s2 * o1 + o2), 1)
    if sub.has_flips:
        return (canonical_angle(s2 * o1 + o2), sub.rotation_order)
    return (None, sub.rotation_order)


def _gspace_name(group: Group, theta) -> str:
    if theta is None or group.order() == 1:
        return f"{group.name}_on_R2"
    return f"{group.name}_on_R2[axis={theta / 2:.4g}]"


@functools.cache
def _gspace2d(sg_id: tuple, maximum_frequency: int) -> GSpace2D:
    return GSpace2D(sg_id, maximum_frequency)


class GSpace0D(GSpace):
    """A group acting on no space (a single point): for equivariant MLPs on feature vectors."""

    dimensionality = 0

    def __init__(self, group: Group):
        self.__dict__["fibergroup"] = group
        self.__dict__["o2_inclusion"] = None
        self.__dict__["name"] = f"{group.name}_on_R0"

    def __eq__(self, other):
        return isinstance(other, GSpace0D) and self.fibergroup == other.fibergroup

    def __hash__(self):
        return hash(("GSpace0D", self.fibergroup))

    def __reduce__(self):
        return (no_base_space, (self.fibergroup,))

    def restrict(self, subgroup_id) -> tuple[GSpace0D, Inclusion, Restriction]:
        sub, inclusion, restriction = self.fibergroup.subgroup(subgroup_id)
        return no_base_space(sub), inclusion, restriction


# -- grid transforms --------------------------------------------------------------------


def _array_module(x):
    if isinstance(x, np.ndarray):
        return np
    import jax.numpy as jnp

    return jnp


@functools.lru_cache(maxsize=256)
def _exact_indices(A: tuple, H: int, W: int):
    A = np.array(A).reshape(2, 2)
    swap = A[0, 0] == 0
    Ho, Wo = (W, H) if swap else (H, W)
    i, j = np.meshgrid(np.arange(Ho), np.arange(Wo), indexing="ij")
    # pixel -> (x, y) with doubled coordinates to stay in integers
    p = np.stack([2 * j - (Wo - 1), (Ho - 1) - 2 * i])
    src = np.einsum("ab,a...->b...", A, p)  # A^T p = A^-1 p
    js = (src[0] + (W - 1)) // 2
    is_ = ((H - 1) - src[1]) // 2
    return is_.astype(np.intp), js.astype(np.intp)


def transform_grid(x, A: np.ndarray):
    """Move the signal `x` (``(..., H, W)``, numpy or jax) by the orthogonal 2x2 matrix `A`
    acting on ``(x, y)`` coordinates. Exact for signed permutation matrices (square grids
    needed when A swaps the axes), bilinear otherwise."""
    xp = _array_module(x)
    x = xp.asarray(x)
    if x.ndim < 2:
        raise ValueError(f"`x` must have at least 2 dimensions (..., H, W), got shape {x.shape}")
    A = np.asarray(A, dtype=np.float64)
    H, W = x.shape[-2:]
    R = np.round(A)
    if np.allclose(A, R, atol=1e-9) and (R[0, 0] != 0 or H == W):
        i, j = _exact_indices(tuple(R.astype(int).ravel()), H, W)
        return x[..., i, j]
    # bilinear: source point of each output pixel
    if not xp.issubdtype(x.dtype, xp.inexact):
        x = x.astype(xp.result_type(float))
    i, j = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
    p = np.stack([j - (W - 1) / 2, (H - 1) / 2 - i])
    src = np.einsum("ab,a...->b...", A, p)
    fj = np.clip(src[0] + (W - 1) / 2 + 1, 0, W + 1)  # +1: padded coordinates
    fi = np.clip((H - 1) / 2 - src[1] + 1, 0, H + 1)
    i0, j0 = np.floor(fi).astype(np.intp), np.floor(fj).astype(np.intp)
    i1, j1 = np.minimum(i0 + 1, H + 1), np.minimum(j0 + 1, W + 1)
    wi, wj = fi - i0, fj - j0
    pad = [(0, 0)] * (x.ndim - 2) + [(1, 1), (1, 1)]
    xpad = xp.pad(x, pad)
    w = [(1 - wi) * (1 - wj), (1 - wi) * wj, wi * (1 - wj), wi * wj]
    idx = [(i0, j0), (i0, j1), (i1, j0), (i1, j1)]
    out = 0
    for wk, (ii, jj) in zip(w, idx):
        wk = xp.asarray(wk.reshape((1,) * (x.ndim - 2) + wk.shape), dtype=x.dtype)
        out = out + wk * xpad[..., ii, jj]
    return out


# -- factories --------------------------------------------------------------------------


def _check_N(N) -> int:
    if not is_int(N) or not (N >= 1 or N == -1):
        raise ValueError(f"`N` (={N!r}) must be a positive integer, or -1 for continuous rotations")
    return int(N)


def _check_F(F) -> int:
    if not is_int(F) or F < 0:
        raise ValueError(f"`maximum_frequency` (={F!r}) must be a non-negative integer")
    return int(F)


def _axis_to_theta(axis) -> float:
    if not is_real(axis) or not math.isfinite(axis):
        raise ValueError(f"`axis` (={axis!r}) must be a finite angle in radians")
    return canonical_angle(2.0 * float(axis))


def rot2dOnR2(N: int = -1, maximum_frequency: int = 6) -> GSpace2D:
    """Rotations of the plane: C_N (N >= 1) or, with ``N=-1``, SO(2) with irreps up to
    `maximum_frequency` for its band-limited constructions.

    **Raises:** `ValueError` if `N` or `maximum_frequency` is invalid.
    """
    return _gspace2d((None, _check_N(N)), _check_F(maximum_frequency))


def flipRot2dOnR2(N: int = -1, maximum_frequency: int = 6, axis: float = math.pi / 2) -> GSpace2D:
    """Rotations and reflections: D_N (N >= 2) or, with ``N=-1``, O(2); ``N=1`` is the
    reflection group, which is C_2 as in escnn (the same gspace as ``flip2dOnR2(axis)``).
    Reflections mirror along the line through the origin at angle `axis` (escnn's default
    pi/2: the vertical axis, x -> -x, a left-right flip of the image).

    **Raises:** `ValueError` if `N`, `maximum_frequency` or `axis` is invalid.
    """
    return _gspace2d((_axis_to_theta(axis), _check_N(N)), _check_F(maximum_frequency))


def flip2dOnR2(axis: float = math.pi / 2) -> GSpace2D:
    """Reflections along the line at angle `axis` (default pi/2, the vertical axis: a
    left-right mirror of the image), escnn's signature. As in escnn the group is C_2
    (``cyclic_group(2)``): ``element(1)`` is the reflection, ``irrep(0)`` the trivial and
    ``irrep(1)`` the sign representation; subgroup ids 1 (trivial) and 2 (itself).

    **Raises:** `ValueError` if `axis` is not a finite angle.
    """
    return _gspace2d((_axis_to_theta(axis), 1), 0)


def trivialOnR2() -> GSpace2D:
    """The plane with no symmetry but translations (the group C_1): a plain CNN."""
    return _gspace2d((None, 1), 0)


def no_base_space(group: Group) -> GSpace0D:
    """`group` acting on no space, for equivariant linear maps on feature vectors.

    **Raises:** `TypeError` if `group` is not an equijax group.
    """
    if not isinstance(group, Group):
        raise TypeError(f"`group` (={group!r}) must be an equijax Group")
    return _gspace0d(group)


@functools.cache
def _gspace0d(group: Group) -> GSpace0D:
    return GSpace0D(group)
