"""Equivariance checks, public so users can test their own models (also importable as
`equijax.testing`, which re-exports this module).

from equijax.testing import assert_equivariant
assert_equivariant(model, x)          # x: a GeometricTensor
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..group import GroupElement
from ..gspaces import GSpace, GSpace2D
from ._field_type import FieldType, testing_elements_of
from ._geometric_tensor import GeometricTensor


def grid_exact_elements(gspace: GSpace, square: bool = True) -> list[GroupElement]:
    """The testing elements of `gspace` that move the pixel grid onto itself (rotations by
    multiples of 90 degrees, reflections along the grid axes): equivariance under them can
    be checked without interpolation error. With ``square=False`` (an H != W grid), only
    those that keep the axes (no odd multiples of 90 degrees). All testing elements for a
    gspace with no base space."""
    if not isinstance(gspace, GSpace):
        raise TypeError(f"`gspace` (={gspace!r}) must be an equijax GSpace")
    els = testing_elements_of(gspace)
    if not isinstance(gspace, GSpace2D):
        return list(els)
    A = gspace.action_matrices(els)
    exact = [(g, a) for g, a in zip(els, A) if np.allclose(a, np.round(a), atol=1e-9)]
    return [g for g, a in exact if square or abs(a[0, 0]) > 0.5]


def random_input(
    ftype: FieldType, *, key, batch: int | Sequence[int] = 2, size: int = 17, dtype=None
) -> GeometricTensor:
    """A standard-normal `GeometricTensor` of type `ftype`, shape ``(*batch, C, size, size)``
    (``(*batch, C)`` with no base space)."""
    if not isinstance(ftype, FieldType):
        raise TypeError(f"`ftype` (={ftype!r}) must be a FieldType")
    batch = (int(batch),) if isinstance(batch, (int, np.integer)) else tuple(int(b) for b in batch)
    spatial = (size, size) if ftype.gspace.dimensionality == 2 else ()
    shape = batch + (ftype.size,) + spatial
    return GeometricTensor(jax.random.normal(key, shape, dtype or jnp.result_type(float)), ftype)


def equivariance_errors(
    fn: Callable[[GeometricTensor], GeometricTensor],
    x: GeometricTensor,
    elements: Sequence[GroupElement] | None = None,
) -> list[tuple[GroupElement, float, float]]:
    """``[(g, max |f(g x) - g f(x)|, max |f(x)|), ...]`` for each element (default: the grid-exact
    testing elements of x's gspace)."""
    if not isinstance(x, GeometricTensor):
        raise TypeError(f"`x` must be a GeometricTensor, got {type(x).__name__}")
    if elements is None:
        square = x.type.gspace.dimensionality == 0 or x.shape[-1] == x.shape[-2]
        elements = grid_exact_elements(x.type.gspace, square=square)
    fn = eqx.filter_jit(fn)  # one compilation for x and every g x (same shapes)
    y = fn(x)
    if not isinstance(y, GeometricTensor):
        raise TypeError(f"`fn` must return a GeometricTensor, got {type(y).__name__}")
    scale = float(jnp.max(jnp.abs(y.tensor)))
    out = []
    for g in elements:
        lhs = fn(x.transform(g)).tensor
        rhs = y.transform(g).tensor
        if lhs.shape != rhs.shape:
            raise ValueError(f"f(g x) has shape {lhs.shape} but g f(x) has shape {rhs.shape}")
        out.append((g, float(jnp.max(jnp.abs(lhs - rhs))), scale))
    return out


def assert_equivariant(
    fn: Callable[[GeometricTensor], GeometricTensor],
    x: GeometricTensor,
    gspace: GSpace | None = None,
    *,
    elements: Sequence[GroupElement] | None = None,
    atol: float = 1e-5,
    rtol: float = 1e-5,
) -> list[tuple[GroupElement, float]]:
    """Assert ``fn(g x) == g fn(x)`` for each element g.

    **Arguments:**

    - `fn`: maps a `GeometricTensor` to a `GeometricTensor` (a module, or a lambda).
    - `x`: the input.
    - `gspace`: whose grid-exact testing elements to use (default: x's gspace; must be it
      or give `elements`).
    - `elements`: the elements to test instead.
    - `atol`, `rtol`: the error allowed is ``atol + rtol * max|fn(x)|``.

    **Returns:** ``[(g, max abs error), ...]``.

    **Raises:** `AssertionError` naming the worst element if the check fails.
    """
    if gspace is not None and elements is None:
        if gspace != x.type.gspace:
            raise ValueError(f"`gspace` ({gspace.name}) is not the gspace of `x` ({x.type.gspace.name})")
        elements = grid_exact_elements(gspace, square=gspace.dimensionality == 0 or x.shape[-1] == x.shape[-2])
    errors = equivariance_errors(fn, x, elements)
    bad = [(g, e, s) for g, e, s in errors if not e <= atol + rtol * s]
    if bad:
        g, e, s = max(bad, key=lambda t: t[1])
        raise AssertionError(
            f"not equivariant: max |f(g x) - g f(x)| = {e:.3g} for g = {g} (allowed {atol + rtol * s:.3g}; "
            f"max |f(x)| = {s:.3g}); {len(bad)} of {len(errors)} elements fail"
        )
    return [(g, e) for g, e, _ in errors]
