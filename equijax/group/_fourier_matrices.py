"""The Fourier transforms of band-limited functions on a group G or on its cosets G/H, all in
numpy (float64), computed once from static configuration and cached: the sampling grid, the
representation of the coefficients and the matrices of `equijax.nn.FourierPointwise` (which
imports them through `equijax.internal`).

The coefficient layout follows escnn: every irrep ``psi`` in `irreps` appears
``dim(psi) / dim End(psi)`` times (``dim(psi^H) / dim End(psi)`` on G/H), with the identity
change of basis, and the function sampled at g is
``f(g) = sum_psi sqrt(dim psi) * sum_j <psi(g) v_j, x_{psi, j}>`` with ``v_j`` the unit
vectors (the H-invariant vectors on G/H), divided by the norm of the stacked ``v``'s when
``normalize=True``. The inverse Fourier transform ``A`` samples f on the grid; the
least-squares Fourier transform ``A^+`` projects samples back onto the coefficients.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np

from .._misc import is_int
from ._element import GroupElement
from ._group import Group
from ._representation import Representation

_GRID_TYPES = ("regular", "rand")
_EPS = 1e-8  # Tikhonov term of the least-squares Fourier transform (as escnn)


def sampling_grid(G: Group, grid, type: str, N, seed) -> tuple[GroupElement, ...]:
    """The elements the signal is sampled on: `grid` if given, else built from (type, N, seed).

    - ``type='regular'``: finite groups: the N rotations ``r^(i * order / N)`` (N must divide
      the number of rotations; default: all of them), times both flips for D_N (all
      elements by default). SO(2): the N rotations by ``2*pi*i/N``; O(2): those and the N
      reflections ``r_(2*pi*i/N) f`` (N is required).
    - ``type='rand'``: N elements drawn uniformly with `seed`.
    """
    if grid is not None:
        if isinstance(grid, GroupElement) or not isinstance(grid, Sequence) or len(grid) == 0:
            raise ValueError(f"`grid` (={grid!r}) must be a non-empty list of elements of {G.name}")
        for g in grid:
            if not isinstance(g, GroupElement) or g.group != G:
                raise ValueError(f"`grid` contains {g!r}, which is not an element of {G.name}")
        return tuple(grid)
    if type not in _GRID_TYPES:
        raise ValueError(f"`type` (={type!r}) must be one of {list(_GRID_TYPES)}")
    if N is not None and (not is_int(N) or N < 1):
        raise ValueError(f"`N` (={N!r}) must be a positive integer (the number of grid rotations or samples)")
    missing_N = (
        f"`N` (=None) is required for the continuous group {G.name}: the number of sampled rotations "
        "(e.g. N=16; a multiple of 4 keeps 90-degree rotations exact)"
    )
    return tuple(G._grid_elements(type, N, seed, missing_N))


@functools.cache
def _invariant_vectors(G: Group, subgroup_id, psi_id: tuple) -> np.ndarray:
    """``(d, m)``: orthonormal vectors of the irrep psi fixed by the subgroup, m of them
    (``dim psi^H / dim End psi``); the unit vectors ``e_0..e_{m-1}`` for the trivial subgroup."""
    psi = G.irrep(*psi_id)
    H, _, _ = G.subgroup(subgroup_id)
    if H.order() == 1:
        return np.eye(psi.size)[:, : psi.size // psi.endomorphism_dim]
    res = psi.restrict(subgroup_id)
    triv = H.trivial_representation.id
    cols, start = [], 0
    for i in res.irreps:
        size = H.irrep(*i).size
        if i == triv:
            cols.append(res.change_of_basis[:, start])
        start += size
    m = len(cols) // psi.endomorphism_dim
    return np.stack(cols[:m], axis=1) if m else np.zeros((psi.size, 0))


def fourier_layout(G: Group, subgroup_id, irreps: tuple) -> tuple[list, np.ndarray]:
    """The irrep ids of the coefficient vector (with multiplicities) and the (unnormalised)
    vector ``k`` such that the sample at g is ``<rho(g) k, x>``."""
    ids, kernel = [], []
    for i in irreps:
        V = _invariant_vectors(G, subgroup_id, i)
        d = V.shape[0]
        for j in range(V.shape[1]):
            ids.append(i)
            kernel.append(math.sqrt(d) * V[:, j])
    return ids, (np.concatenate(kernel) if kernel else np.zeros(0))


@functools.cache
def spectral_representation(G: Group, subgroup_id, irreps: tuple) -> Representation:
    """The band-limited regular (trivial subgroup) or quotient representation on the irreps
    `irreps`, in the Fourier basis. Reuses ``G.bl_regular_representation(L)`` /
    ``G.quotient_representation(subgroup_id)`` when they have exactly this layout."""
    ids, _ = fourier_layout(G, subgroup_id, irreps)
    H, _, _ = G.subgroup(subgroup_id)
    try:
        if H.order() == 1:
            L = max(G.irrep(*i).frequency for i in irreps)
            candidate = G.bl_regular_representation(L)
        elif G.continuous:
            candidate = G.quotient_representation(subgroup_id)
        else:
            candidate = None
    except ValueError:
        candidate = None
    if (
        candidate is not None
        and candidate.irreps == tuple(ids)
        and np.array_equal(candidate.change_of_basis, np.eye(candidate.size))
    ):
        return candidate
    body = "|".join(",".join(str(v) for v in i) for i in irreps)
    name = f"regular_[{body}]" if H.order() == 1 else f"quotient[{subgroup_id}]_[{body}]"
    return Representation(G, ids, None, name, ("norm", "gated"))


def _sampling_matrix(G: Group, subgroup_id, irreps: tuple, grid: tuple, normalize: bool) -> np.ndarray:
    """``A`` of shape ``(len(grid), D)``: row g is ``(rho(g) k)^T``."""
    _, kernel = fourier_layout(G, subgroup_id, irreps)
    if normalize:
        kernel = kernel / np.linalg.norm(kernel)
    blocks, start = [], 0
    for i in irreps:
        V = _invariant_vectors(G, subgroup_id, i)
        d, m = V.shape
        if not m:
            continue
        mats = G.irrep(*i).matrices(grid)  # (n, d, d)
        for _ in range(m):
            blocks.append(mats @ kernel[start : start + d])
            start += d
    return np.concatenate(blocks, axis=1)


def coset_representatives(G: Group, subgroup_id, grid: tuple) -> tuple[GroupElement, ...]:
    """`grid` with the elements whose coset gH is already represented removed."""
    H, _, restriction = G.subgroup(subgroup_id)
    if H.order() == 1:
        return grid
    reps: list[GroupElement] = []
    for g in grid:
        if not any(restriction(~r @ g) is not None for r in reps):
            reps.append(g)
    return tuple(reps)


@functools.lru_cache(maxsize=256)
def fourier_matrices(
    G: Group, subgroup_id, irreps: tuple, out_irreps: tuple, grid: tuple, normalize: bool
) -> tuple[np.ndarray, np.ndarray]:
    """``(A, A_inv)``: the inverse Fourier transform ``(n, D_in)`` onto the grid and the
    least-squares Fourier transform ``(D_out, n)`` back (escnn's construction: the output
    transform is solved on ``out_irreps`` plus the input irreps missing from them, then
    truncated to ``out_irreps``).

    **Raises:** `ValueError` if the grid cannot resolve the irreps (rank-deficient transform).
    """
    A = _sampling_matrix(G, subgroup_id, irreps, grid, normalize)
    extended = out_irreps + tuple(i for i in irreps if i not in out_irreps)
    A_out = _sampling_matrix(G, subgroup_id, extended, grid, normalize)
    D_out = spectral_representation(G, subgroup_id, out_irreps).size
    s = np.linalg.svd(A_out, compute_uv=False)
    rank = int(np.sum(s > 1e-6 * s[0]))
    if rank < A_out.shape[1]:
        raise ValueError(
            f"the sampling grid ({len(grid)} points) cannot resolve the irreps {list(extended)} of {G.name}: "
            f"the sampled Fourier basis has rank {rank} < {A_out.shape[1]}; use a finer grid (larger `N`)"
        )
    A_inv = np.linalg.solve(A_out.T @ A_out + _EPS * np.eye(A_out.shape[1]), A_out.T)[:D_out]
    A.setflags(write=False)
    A_inv.setflags(write=False)
    return A, A_inv
