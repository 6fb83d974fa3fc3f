"""Numerical decomposition of a representation into irreps (numpy, float64).

Given the matrices of a real orthogonal representation on enough group elements, find its
irreps and an orthogonal change of basis Q with ``rho(g) = Q (+)_i psi_i(g) Q^T``.

Averages over the group are exact: over all elements of a finite group, and for SO(2)/O(2)
over a finite subgroup C_M / D_M with M larger than the highest frequency in the integrand
(the matrices are trigonometric polynomials of known degree).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ._element import TWO_PI, GroupElement
from ._group import Group

# A squared residual below this is numerical zero: legitimate values are O(1 / size).
_ZERO_TOL = 1e-8


def quadrature_elements(group: Group, bandwidth: int) -> list[GroupElement]:
    """Elements over which averaging a trigonometric polynomial of degree <= `bandwidth`
    gives its exact group mean."""
    if not group.continuous:
        return list(group.elements)
    M = bandwidth + 1
    M += M % 2  # keep the rotation by pi in the grid
    flips = (0, 1) if group.has_flips else (0,)
    return [group._make(f, TWO_PI * i / M) for f in flips for i in range(M)]


def decompose(
    group: Group,
    matrices: Callable[[Sequence[GroupElement]], np.ndarray],
    bandwidth: int,
) -> tuple[tuple[tuple, ...], np.ndarray]:
    """Decompose the representation whose matrices on a list of elements `matrices` returns.

    **Arguments:**

    - `group`: the group.
    - `matrices`: maps a list of n elements to an array ``(n, d, d)`` of orthogonal matrices.
    - `bandwidth`: the highest frequency in the representation (ignored for finite groups).

    **Returns:** ``(irrep_ids, Q)``, irreps sorted as in `Group.irreps`.

    **Raises:** `RuntimeError` if the matrices are not those of an orthogonal representation.
    """
    candidates = group.irreps(maximum_frequency=bandwidth if group.continuous else None)
    elements = quadrature_elements(group, 2 * bandwidth)
    rho = np.asarray(matrices(elements), dtype=np.float64)
    n_el, size = rho.shape[0], rho.shape[1]
    chi = np.trace(rho, axis1=1, axis2=2)

    ids: list[tuple] = []
    columns: list[np.ndarray] = []
    found = np.zeros((size, 0))
    for psi in candidates:
        psi_m = psi.matrices(elements)
        mult = float(np.mean(chi * np.trace(psi_m, axis1=1, axis2=2))) / psi.endomorphism_dim
        m = int(round(mult))
        if abs(mult - m) > 1e-6:
            raise RuntimeError(f"non-integer multiplicity {mult} of {psi.name}: not a representation of {group.name}")
        if m == 0:
            continue
        # candidate intertwiners Pi(E_a0) = mean_g rho(g)[:, a] psi(g)[:, 0]^T, one per a
        cands = np.einsum("gia,gj->aij", rho, psi_m[:, :, 0]) / n_el
        copies = 0
        for X in cands:
            X = X - found @ (found.T @ X)
            c = float(np.trace(X.T @ X)) / psi.size
            if c <= _ZERO_TOL:
                continue
            X = X / np.sqrt(c)
            found = np.concatenate([found, X], axis=1)
            columns.append(X)
            ids += [psi.id]
            copies += 1
            if copies == m:
                break
        if copies != m:
            raise RuntimeError(f"found {copies} of {m} copies of {psi.name}")
    if found.shape[1] != size:
        raise RuntimeError(f"the irreps found span {found.shape[1]} of {size} dimensions")
    Q = np.concatenate(columns, axis=1)
    # polish: the nearest orthogonal matrix (removes Gram-Schmidt round-off)
    u, _, vt = np.linalg.svd(Q)
    Q = u @ vt
    blocks = block_diagonal([group.irrep(*i) for i in ids], elements)
    err = np.max(np.abs(np.einsum("ij,gjk,lk->gil", Q, blocks, Q) - rho))
    if err > 1e-8:
        raise RuntimeError(f"decomposition error {err:.2e}: not an orthogonal representation of {group.name}")
    return tuple(ids), Q


def block_diagonal(irreps, elements) -> np.ndarray:
    """``(n, d, d)``: the direct sum of `irreps` evaluated on `elements`."""
    size = sum(p.size for p in irreps)
    out = np.zeros((len(elements), size, size))
    cache: dict = {}
    start = 0
    for p in irreps:
        if p.id not in cache:
            cache[p.id] = p.matrices(elements)
        out[:, start : start + p.size, start : start + p.size] = cache[p.id]
        start += p.size
    return out
