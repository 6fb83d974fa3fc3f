"""Steerable kernel bases sampled on points, on a convolution grid, or with no base space.

A basis element is ``b(x) = exp(-(|x| - radius)^2 / (2 sigma^2)) * sum_i Y_i(angle(x)) W_i``:
a Gaussian ring times one angular solution at one frequency (see `_solutions`). Blocks are
solved per pair of irreps and combined through the representations' changes of basis:
``K = Q_out K_irreps Q_in^T``. Everything is numpy float64, built once per process and
cached.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from ..group import Representation
from ..internal import is_int, is_real
from ._solutions import angular_solutions, circular_harmonics


class EmptyBasisError(ValueError):
    """No non-zero equivariant kernel exists for the requested representations and sampling."""


class BasisElement(NamedTuple):
    """What one basis element is: a ring, a frequency and a pair of irreps.

    `in_irrep_index` / `out_irrep_index` locate the irreps in the representations' irreps
    lists; `solution` numbers the angular solutions of that (irreps, frequency) block.

    A `basis_filter` receives one `BasisElement` per element. It reads as a named tuple
    (``e.radius``, ``e[0]``) and also as escnn's attribute dict (``e['radius']``,
    ``'radius' in e``, ``e.get(key)``, ``e.keys()``, ``dict(e)``), so escnn filters such as
    ``lambda d: d['radius'] < 1.5`` work unchanged. The string keys are the field names and
    escnn's names for them:

    - ``'radius'``, ``'sigma'``: the ring;
    - ``'irrep:frequency'`` (also ``'frequency'``): the angular frequency m of the harmonic;
    - ``'irrep:flip_frequency'`` and ``'j'``: escnn's id ``(int(m > 0), m)`` of that harmonic
      as an irrep of O(2), and its first entry;
    - ``'in_irrep'``, ``'out_irrep'``: the irrep ids; ``'in_irrep_idx'``, ``'out_irrep_idx'``
      (also the field names ``'in_irrep_index'``, ``'out_irrep_index'``): their positions;
    - ``'solution'``: the field of the same name.
    """

    radius: float
    sigma: float
    frequency: int
    in_irrep: tuple
    out_irrep: tuple
    in_irrep_index: int
    out_irrep_index: int
    solution: int

    def __getitem__(self, key):
        if isinstance(key, str):
            try:
                get = _BASIS_KEYS[key]
            except KeyError:
                raise KeyError(
                    f"{key!r} is not an attribute of a basis element: expected one of {list(_BASIS_KEYS)}"
                ) from None
            return get(self)
        return tuple.__getitem__(self, key)

    def __contains__(self, key) -> bool:
        if isinstance(key, str):
            return key in _BASIS_KEYS
        return tuple.__contains__(self, key)

    def keys(self) -> list[str]:
        """escnn's attribute names (with the field names), as for a dict."""
        return list(_BASIS_KEYS)

    def get(self, key: str, default=None):
        """``self[key]``, or `default` if `key` is not an attribute name (as ``dict.get``)."""
        return self[key] if isinstance(key, str) and key in _BASIS_KEYS else default

    def items(self) -> list[tuple[str, Any]]:
        return [(k, self[k]) for k in _BASIS_KEYS]


# escnn's attribute names (escnn.kernels' basis attribute dicts, as `basis_filter` sees them)
# and the field names -> how to read them from a BasisElement
_BASIS_KEYS: dict[str, Callable[[BasisElement], Any]] = {
    "radius": lambda e: e.radius,
    "sigma": lambda e: e.sigma,
    "irrep:frequency": lambda e: e.frequency,
    "frequency": lambda e: e.frequency,
    "irrep:flip_frequency": lambda e: int(e.frequency > 0),
    "j": lambda e: (int(e.frequency > 0), e.frequency),
    "in_irrep": lambda e: e.in_irrep,
    "out_irrep": lambda e: e.out_irrep,
    "in_irrep_idx": lambda e: e.in_irrep_index,
    "out_irrep_idx": lambda e: e.out_irrep_index,
    "in_irrep_index": lambda e: e.in_irrep_index,
    "out_irrep_index": lambda e: e.out_irrep_index,
    "solution": lambda e: e.solution,
}


class KernelBasis:
    """A sampled basis of equivariant kernels from `in_repr` to `out_repr` (an immutable value).

    **Attributes:**

    - `array`: read-only numpy array ``(dim, out_repr.size, in_repr.size, *sample_shape)``;
      ``sample_shape`` is ``(k, k)`` on a grid, ``(n_points,)`` on points, ``()`` for an
      intertwiner (Linear) basis.
    - `attributes`: one `BasisElement` per basis element.
    - `in_repr`, `out_repr`: the representations.
    """

    def __init__(self, array: np.ndarray, attributes: Sequence[BasisElement], in_repr, out_repr):
        array = np.array(array, dtype=np.float64)
        array.setflags(write=False)
        d = self.__dict__
        d["array"], d["attributes"] = array, tuple(attributes)
        d["in_repr"], d["out_repr"] = in_repr, out_repr

    def __setattr__(self, name, value):
        raise AttributeError("KernelBasis is immutable")

    @property
    def dim(self) -> int:
        return self.array.shape[0]

    def __len__(self) -> int:
        return self.dim

    @property
    def shape(self) -> tuple[int, ...]:
        return self.array.shape

    def __repr__(self) -> str:
        return f"KernelBasis({self.in_repr!r} -> {self.out_repr!r}, dim={self.dim}, shape={self.shape})"


# -- parameters -------------------------------------------------------------------------


def _check_int(name: str, value, minimum: int) -> int:
    if not is_int(value) or value < minimum:
        raise ValueError(f"`{name}` (={value!r}) must be an integer >= {minimum}")
    return int(value)


def grid_points(kernel_size: int, dilation: int = 1) -> np.ndarray:
    """The ``(k*k, 2)`` coordinates ``(x, y)`` of a k x k filter's taps, row-major.

    Pixel ``(i, j)`` (row i, column j) sits at ``x = (j - c) * dilation``,
    ``y = (c - i) * dilation`` with ``c = (k - 1) / 2``: x points right along the last
    array axis, y points up (escnn's convention).
    """
    k = _check_int("kernel_size", kernel_size, 1)
    d = _check_int("dilation", dilation, 1)
    c = (k - 1) / 2
    i, j = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
    return np.stack([(j - c) * d, (c - i) * d], -1).reshape(-1, 2).astype(np.float64)


def default_rings(kernel_size: int, dilation: int = 1) -> tuple[float, ...]:
    """escnn's rings: ``linspace(0, (k-1)//2, ceil(k/2)) * dilation``."""
    k = _check_int("kernel_size", kernel_size, 1)
    d = _check_int("dilation", dilation, 1)
    return tuple(float(r) * d for r in np.linspace(0, (k - 1) // 2, math.ceil(k / 2)))


def default_sigma(rings: Sequence[float]) -> tuple[float, ...]:
    """escnn's widths: 0.6 for every ring but the last (0.4), 0.005 at radius 0."""
    sigma = [0.6] * (len(rings) - 1) + [0.4]
    return tuple(0.005 if r == 0 else s for r, s in zip(rings, sigma))


def default_frequencies_cutoff(kernel_size: int) -> Callable[[float], float]:
    """escnn's default band limit for a k x k grid: 0 at the origin, else
    ``min(2r, 2 if r == k//2 else 2r - (r+1) % 2)``."""
    max_radius = kernel_size // 2

    def cutoff(r: float) -> float:
        if r == 0:
            return 0
        return min(2 * r, 2 if r == max_radius else 2 * r - (r + 1) % 2)

    return cutoff


def _check_rings_sigma(rings, sigma, max_radius: float | None):
    try:
        rings = tuple(float(r) for r in rings)
    except TypeError:
        raise ValueError(f"`rings` (={rings!r}) must be a sequence of radii") from None
    if not rings:
        raise ValueError("`rings` must contain at least one radius")
    for r in rings:
        if not (r >= 0 and math.isfinite(r)):
            raise ValueError(f"`rings` (={rings!r}) must be finite, non-negative radii")
        if max_radius is not None and r > max_radius + 1e-9:
            raise ValueError(
                f"`rings` (={rings!r}) has a radius outside the grid: the farthest tap is at {max_radius:.4g}"
            )
    if is_real(sigma):
        sigma = (float(sigma),) * len(rings)
    else:
        try:
            sigma = tuple(float(s) for s in sigma)
        except TypeError:
            raise ValueError(f"`sigma` (={sigma!r}) must be a positive number or a sequence of them") from None
        if len(sigma) != len(rings):
            raise ValueError(f"`sigma` has {len(sigma)} entries but `rings` has {len(rings)}: give one width per ring")
    if not all(s > 0 and math.isfinite(s) for s in sigma):
        raise ValueError(f"`sigma` (={sigma!r}) must be positive")
    return rings, sigma


def _cutoffs(rings, frequencies_cutoff) -> tuple[int, ...]:
    if is_real(frequencies_cutoff):
        if frequencies_cutoff < 0:
            raise ValueError(f"`frequencies_cutoff` (={frequencies_cutoff!r}) must be non-negative")
        factor = float(frequencies_cutoff)
        values = [factor * r for r in rings]
    elif callable(frequencies_cutoff):
        values = [frequencies_cutoff(r) for r in rings]
        for r, v in zip(rings, values):
            if not is_real(v):
                raise ValueError(f"`frequencies_cutoff` returned {v!r} at radius {r}; expected a number")
    else:
        raise ValueError(
            f"`frequencies_cutoff` (={frequencies_cutoff!r}) must be a non-negative number (a factor of the radius) "
            "or a callable radius -> maximum frequency"
        )
    # the largest integer frequency allowed on each ring
    return tuple(max(-1, math.floor(v + 1e-9)) for v in values)


def _check_reprs(action, in_repr, out_repr):
    group = action.fibergroup
    for name, r in (("in_repr", in_repr), ("out_repr", out_repr)):
        if not isinstance(r, Representation):
            raise TypeError(f"`{name}` (={r!r}) must be a Representation")
        if r.group != group:
            raise ValueError(f"`{name}` is a representation of {r.group.name}, but the gspace's group is {group.name}")


def _check_filter(basis_filter):
    if basis_filter is not None and not callable(basis_filter):
        raise ValueError(f"`basis_filter` (={basis_filter!r}) must be None or a callable taking a BasisElement")


# -- sampling ---------------------------------------------------------------------------


class _Points:
    """A hashable, read-only ``(n, 2)`` array of points (cache key)."""

    def __init__(self, points: np.ndarray):
        self.array = np.array(points, dtype=np.float64)
        self.array.setflags(write=False)
        self._hash = hash(self.array.tobytes())

    def __eq__(self, other):
        return isinstance(other, _Points) and np.array_equal(self.array, other.array)

    def __hash__(self):
        return self._hash


@functools.lru_cache(maxsize=4096)
def _irreps_block(inclusion, in_irrep, out_irrep, points: _Points, rings, sigma, cutoffs):
    """All elements for one pair of irreps, unnormalised: ``(array (b, d_o, d_i, n), attrs)``
    with attrs ``(radius, sigma, frequency, solution)``."""
    x, y = points.array[:, 0], points.array[:, 1]
    radii = np.hypot(x, y)
    angles = np.arctan2(y, x)
    arrays, attrs = [], []
    for radius, s, top in zip(rings, sigma, cutoffs):
        profile = np.exp(-0.5 * ((radii - radius) / s) ** 2)
        for m in range(top + 1):
            sols = angular_solutions(inclusion, in_irrep, out_irrep, m)
            if not len(sols):
                continue
            Y = circular_harmonics(m, angles, radii) * profile
            arrays.append(np.einsum("shoi,hp->soip", sols, Y))
            attrs += [(radius, s, m, i) for i in range(len(sols))]
    if arrays:
        out = np.concatenate(arrays)
    else:
        out = np.zeros((0, out_irrep.size, in_irrep.size, len(radii)))
    out.setflags(write=False)
    return out, tuple(attrs)


def _normalise(block: np.ndarray, d_out: int) -> tuple[np.ndarray, np.ndarray]:
    """escnn's normalisation: scale each element to squared norm d_out; elements that are
    numerically zero on the samples stay unscaled and are reported as dropped."""
    if not len(block):
        return block, np.zeros(0, dtype=bool)
    n2 = (block**2).reshape(len(block), -1).sum(-1) / d_out
    n2[n2 < 1e-15] = 0.0
    n = np.sqrt(n2)
    n[n < 1e-6] = 1.0
    block = block / n.reshape(-1, *([1] * (block.ndim - 1)))
    keep = (block**2).reshape(len(block), -1).sum(-1) > 1e-2
    return block, keep


def _assemble(action, in_repr, out_repr, points, rings, sigma, cutoffs, basis_filter, normalise, sample_shape):
    inclusion = getattr(action, "o2_inclusion", None)
    G = action.fibergroup
    in_irreps = [G.irrep(*i) for i in in_repr.irreps]
    out_irreps = [G.irrep(*i) for i in out_repr.irreps]
    in_off = np.cumsum([0] + [p.size for p in in_irreps])
    out_off = np.cumsum([0] + [p.size for p in out_irreps])
    pieces, attributes = [], []
    for bo, po in enumerate(out_irreps):
        for bi, pi in enumerate(in_irreps):
            block, attrs = _irreps_block(inclusion, pi, po, points, rings, sigma, cutoffs)
            keep = np.ones(len(block), dtype=bool)
            if normalise:
                block, keep = _normalise(block, po.size)
            for e, (radius, s, m, sol) in enumerate(attrs):
                el = BasisElement(radius, s, m, pi.id, po.id, bi, bo, sol)
                if keep[e] and (basis_filter is None or basis_filter(el)):
                    pieces.append((bo, bi, block[e]))
                    attributes.append(el)
    n = len(points.array)
    K = np.zeros((len(pieces), out_repr.size, in_repr.size, n))
    for e, (bo, bi, b) in enumerate(pieces):
        K[e, out_off[bo] : out_off[bo + 1], in_off[bi] : in_off[bi + 1]] = b
    K = np.einsum("ab,ebcp,dc->eadp", out_repr.change_of_basis, K, in_repr.change_of_basis, optimize=True)
    return KernelBasis(
        K.reshape(len(pieces), out_repr.size, in_repr.size, *sample_shape), attributes, in_repr, out_repr
    )


def _empty_error(action, in_repr, out_repr, where: str) -> EmptyBasisError:
    return EmptyBasisError(
        f"no non-zero {action.fibergroup.name}-equivariant kernel maps {in_repr!r} to {out_repr!r} {where}: "
        "the constraint has no solution at these rings and frequencies (try a larger kernel or other representations)"
    )


# -- public builders --------------------------------------------------------------------


def kernel_basis_on_grid(
    action,
    in_repr: Representation,
    out_repr: Representation,
    kernel_size: int,
    dilation: int = 1,
    rings: Sequence[float] | None = None,
    sigma: float | Sequence[float] | None = None,
    frequencies_cutoff: float | Callable[[float], float] | None = None,
    basis_filter: Callable[[BasisElement], bool] | None = None,
) -> KernelBasis:
    """The basis of equivariant ``k x k`` filters, with escnn's defaults (same dimension as
    escnn's R2Conv).

    **Arguments:**

    - `action`: a 2D gspace (`equijax.gspaces`).
    - `in_repr`, `out_repr`: representations of the gspace's group.
    - `kernel_size`: k >= 1; `dilation` >= 1 spaces the taps.
    - `rings`: ring radii (default `default_rings`), within the grid.
    - `sigma`: ring widths, one number or one per ring (default `default_sigma`).
    - `frequencies_cutoff`: a factor (max frequency = factor * radius) or a callable
      radius -> max frequency (default `default_frequencies_cutoff`).
    - `basis_filter`: keeps an element iff ``basis_filter(BasisElement)`` is true.

    **Returns:** a `KernelBasis` with array ``(dim, d_out, d_in, k, k)``. Elements are
    normalised as in escnn (squared norm d_out of their block) and elements that vanish on
    the grid are dropped.

    **Raises:** `ValueError` for bad arguments; `EmptyBasisError` (a `ValueError`) if no
    element survives.
    """
    if getattr(action, "dimensionality", None) != 2:
        raise ValueError(f"`action` (={action!r}) must be a gspace acting on R^2")
    _check_reprs(action, in_repr, out_repr)
    k = _check_int("kernel_size", kernel_size, 1)
    d = _check_int("dilation", dilation, 1)
    _check_filter(basis_filter)
    if rings is None:
        rings = default_rings(k, d)
        if sigma is None:
            sigma = default_sigma(rings)
    elif sigma is None:
        rings, _ = _check_rings_sigma(rings, 1.0, None)
        sigma = default_sigma(rings)
    rings, sigma = _check_rings_sigma(rings, sigma, d * (k - 1) / 2 * math.sqrt(2))
    if frequencies_cutoff is None:
        frequencies_cutoff = default_frequencies_cutoff(k)
    cutoffs = _cutoffs(rings, frequencies_cutoff)
    return _grid_basis(action, in_repr, out_repr, k, d, rings, sigma, cutoffs, basis_filter)


@functools.lru_cache(maxsize=1024)
def _grid_basis(action, in_repr, out_repr, k, d, rings, sigma, cutoffs, basis_filter):
    points = _points_for_grid(k, d)
    basis = _assemble(action, in_repr, out_repr, points, rings, sigma, cutoffs, basis_filter, True, (k, k))
    if not basis.dim:
        raise _empty_error(action, in_repr, out_repr, f"on a {k}x{k} grid")
    return basis


@functools.cache
def _points_for_grid(k: int, d: int) -> _Points:
    return _Points(grid_points(k, d))


def kernel_basis_on_points(
    action,
    in_repr: Representation,
    out_repr: Representation,
    points: np.ndarray,
    rings: Sequence[float],
    sigma: float | Sequence[float],
    maximum_frequency: int,
    frequencies_cutoff: float | Callable[[float], float] | None = None,
    basis_filter: Callable[[BasisElement], bool] | None = None,
) -> KernelBasis:
    """The analytic basis sampled at arbitrary `points` (``(n, 2)`` array of ``(x, y)``),
    e.g. for point convolutions. Elements are not renormalised: each is a unit-norm angular
    solution times a Gaussian ring, so the basis is the same function whatever the points.

    Frequencies go up to `maximum_frequency`, and on each ring up to
    `frequencies_cutoff(radius)` if given.

    **Returns:** a `KernelBasis` with array ``(dim, d_out, d_in, n)``.

    **Raises:** `ValueError` for bad arguments; `EmptyBasisError` if the basis is empty.
    """
    if getattr(action, "dimensionality", None) != 2:
        raise ValueError(f"`action` (={action!r}) must be a gspace acting on R^2")
    _check_reprs(action, in_repr, out_repr)
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2 or not np.all(np.isfinite(pts)):
        raise ValueError(f"`points` must be a finite (n, 2) array of (x, y) coordinates, got shape {pts.shape}")
    F = _check_int("maximum_frequency", maximum_frequency, 0)
    _check_filter(basis_filter)
    rings, sigma = _check_rings_sigma(rings, sigma, None)
    cutoffs = (F,) * len(rings)
    if frequencies_cutoff is not None:
        cutoffs = tuple(min(F, c) for c in _cutoffs(rings, frequencies_cutoff))
    basis = _assemble(action, in_repr, out_repr, _Points(pts), rings, sigma, cutoffs, basis_filter, False, (len(pts),))
    if not basis.dim:
        raise _empty_error(action, in_repr, out_repr, "at these points")
    return basis


def intertwiner_basis(action, in_repr: Representation, out_repr: Representation) -> KernelBasis:
    """A basis of ``Hom_G(in_repr, out_repr)``: the matrices M with
    ``M in_repr(g) = out_repr(g) M`` (for equivariant Linear layers). Its dimension is
    ``sum over irreps psi of m_in(psi) * m_out(psi) * dim End(psi)``.

    `action` is a gspace (its base space is ignored) or a group.

    **Returns:** a `KernelBasis` with array ``(dim, d_out, d_in)``, normalised as in escnn.

    **Raises:** `EmptyBasisError` if the two representations share no irrep.
    """
    from ..group import Group

    if isinstance(action, Group):
        action = _GroupOnly(action)
    if not hasattr(action, "fibergroup"):
        raise ValueError(f"`action` (={action!r}) must be a gspace or a group")
    _check_reprs(action, in_repr, out_repr)
    return _intertwiner(_GroupOnly(action.fibergroup), in_repr, out_repr)


@functools.lru_cache(maxsize=1024)
def _intertwiner(action, in_repr, out_repr):
    origin = _Points(np.zeros((1, 2)))
    basis = _assemble(action, in_repr, out_repr, origin, (0.0,), (1.0,), (0,), None, True, ())
    if not basis.dim:
        raise _empty_error(action, in_repr, out_repr, "(they share no irrep)")
    return basis


class _GroupOnly(NamedTuple):
    fibergroup: Any
    o2_inclusion: Any = None
