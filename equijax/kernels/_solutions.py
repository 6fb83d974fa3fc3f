"""The angular part of steerable kernels, solved per pair of irreps and per frequency.

A kernel ``k: R^2 -> R^(d_out x d_in)`` restricted to a circle is expanded in circular
harmonics: ``k(phi) = sum_i Y_i(phi) W_i`` with ``Y = [1]`` at frequency 0 and
``Y = [cos(m phi), sin(m phi)]`` at frequency m > 0. The harmonics of one frequency span an
O(2)-invariant space, so the equivariance constraint

    k(g x) = psi_out(g) k(x) psi_in(g)^T   for every g in G

splits over frequencies. For a frequency m it says that the coefficients W (shape
``(n_harmonics, d_out, d_in)``) are fixed by the orthogonal representation
``T(g) = H(g)^T (x) psi_out(g) (x) psi_in(g)``, where ``Y(g^-1 x) = H(g) Y(x)``. We compute the
projector onto the fixed space by an exact group average and read off an orthonormal basis.

This is the subgroup's restriction of the O(2) (or SO(2)) harmonic basis: the harmonics are
O(2)'s, and every group element acts on them through its inclusion in O(2), so high
frequencies alias exactly as they do on the subgroup.
"""

from __future__ import annotations

import functools

import numpy as np

from ..group import Inclusion, IrreducibleRepresentation
from ..internal import quadrature_elements

_ZERO_TOL = 1e-8


def harmonic_action(m: int, flips: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """``H(g)`` with ``Y_m(g^-1 x) = H(g) Y_m(x)`` for the O(2) elements ``(flips, angles)``;
    shape ``(n, n_harmonics, n_harmonics)``."""
    if m == 0:
        return np.ones((len(angles), 1, 1))
    c, s = np.cos(m * angles), np.sin(m * angles)
    sign = np.where(flips % 2 == 1, -1.0, 1.0)
    # F^f R(-m theta), F = diag(1, -1)
    return np.stack([np.stack([c, s], -1), np.stack([-sign * s, sign * c], -1)], -2)


def circular_harmonics(m: int, angles: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """``Y_m`` at the given polar coordinates, shape ``(n_harmonics, n_points)``. Non-zero
    frequencies vanish at the origin, where the angle is undefined."""
    if m == 0:
        return np.ones((1, len(angles)))
    at_origin = radii < 1e-9
    Y = np.stack([np.cos(m * angles), np.sin(m * angles)])
    Y[:, at_origin] = 0.0
    return Y


@functools.cache
def angular_solutions(
    inclusion: Inclusion | None,
    in_irrep: IrreducibleRepresentation,
    out_irrep: IrreducibleRepresentation,
    frequency: int,
) -> np.ndarray:
    """An orthonormal basis of the equivariant angular coefficients at one frequency.

    **Arguments:**

    - `inclusion`: how the group sits in O(2) (its action on the plane); ``None`` for no
      base space, where only frequency 0 makes sense.
    - `in_irrep`, `out_irrep`: irreps of the same group.
    - `frequency`: the harmonic frequency m >= 0.

    **Returns:** an array ``(n_solutions, n_harmonics, d_out, d_in)``, read-only; the
    solutions are orthonormal in the Frobenius inner product. The basis is built by
    Gram-Schmidt on the projected coordinate vectors in a fixed order, so it is the same
    on every machine.
    """
    G = in_irrep.group
    bandwidth = frequency + in_irrep.frequency + out_irrep.frequency
    elements = quadrature_elements(G, bandwidth)
    if inclusion is None:
        H = np.ones((len(elements), 1, 1))
    else:
        flips, rots = G.element_params(elements)
        if not G.continuous:
            rots = np.array([g.rotation for g in elements], dtype=np.float64)
        H = harmonic_action(frequency, *inclusion.params(flips, rots))
    po, pi = out_irrep.matrices(elements), in_irrep.matrices(elements)
    nh, do, di = H.shape[1], out_irrep.size, in_irrep.size
    # T(g)[(j,o,n),(i,p,q)] = H[i,j] psi_out[o,p] psi_in[n,q]; P = mean_g T(g)
    P = np.einsum("gij,gop,gnq->jonipq", H, po, pi, optimize=True) / len(elements)
    P = P.reshape(nh * do * di, nh * do * di)
    B = np.zeros((0, P.shape[0]))
    for col in P.T:
        v = col - B.T @ (B @ col)
        v = v - B.T @ (B @ v)  # a second pass keeps the basis orthonormal to round-off
        norm = np.linalg.norm(v)
        if norm > _ZERO_TOL:
            B = np.concatenate([B, (v / norm)[None]])
    out = B.reshape(len(B), nh, do, di)
    out.setflags(write=False)
    return out
