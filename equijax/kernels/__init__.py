"""Steerable kernel bases: pure numpy functions of (action, in repr, out repr, points)."""

from ._basis import (
    BasisElement as BasisElement,
    EmptyBasisError as EmptyBasisError,
    KernelBasis as KernelBasis,
    default_frequencies_cutoff as default_frequencies_cutoff,
    default_rings as default_rings,
    default_sigma as default_sigma,
    grid_points as grid_points,
    intertwiner_basis as intertwiner_basis,
    kernel_basis_on_grid as kernel_basis_on_grid,
    kernel_basis_on_points as kernel_basis_on_points,
)
from ._solutions import angular_solutions as angular_solutions

__all__ = [
    "BasisElement",
    "EmptyBasisError",
    "KernelBasis",
    "angular_solutions",
    "default_frequencies_cutoff",
    "default_rings",
    "default_sigma",
    "grid_points",
    "intertwiner_basis",
    "kernel_basis_on_grid",
    "kernel_basis_on_points",
]
