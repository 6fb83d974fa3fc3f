"""escnn compatibility of the kernel bases (issue 13): `basis_filter` receives an element
that reads as escnn's attribute dict (``d['radius']``) and as equijax's named tuple
(``e.radius``); basis dimensions of the reflection and trivial gspaces with escnn's ids."""

import math

import numpy as np
import pytest

from equijax import gspaces
from equijax.kernels import BasisElement, EmptyBasisError, kernel_basis_on_grid


def test_basis_element_reads_as_escnn_dict_and_as_named_tuple():
    e = BasisElement(1.0, 0.6, 2, (1, 1), (0, 0), 0, 3, 1)
    # named tuple: fields, integer indexing, slicing, unpacking
    assert e.radius == e[0] == 1.0 and e[1:3] == (0.6, 2) and tuple(e)[-1] == 1
    radius, sigma, *_ = e
    assert (radius, sigma) == (1.0, 0.6)
    # escnn's attribute dict
    assert e["radius"] == 1.0 and e["sigma"] == 0.6
    assert e["irrep:frequency"] == e["frequency"] == 2
    assert e["j"] == (1, 2) and e["irrep:flip_frequency"] == 1
    assert e["in_irrep"] == (1, 1) and e["out_irrep"] == (0, 0)
    assert e["in_irrep_idx"] == 0 and e["out_irrep_idx"] == 3 and e["solution"] == 1
    assert "radius" in e and "irrep:frequency" in e and "nonsense" not in e
    assert 0.6 in e  # tuple membership of values still works
    assert e.get("radius") == 1.0 and e.get("nonsense", 7) == 7
    assert dict(e)["radius"] == 1.0 and set(e.keys()) >= {"radius", "sigma", "irrep:frequency", "in_irrep"}
    with pytest.raises(KeyError, match="'shell'"):
        e["shell"]
    # the frequency-0 harmonic is O(2)'s trivial irrep (0, 0)
    assert BasisElement(0.0, 0.005, 0, (0,), (0,), 0, 0, 0)["j"] == (0, 0)


@pytest.mark.parametrize("gs", [gspaces.rot2dOnR2(4), gspaces.flipRot2dOnR2(4), gspaces.flip2dOnR2()], ids=repr)
def test_escnn_style_basis_filter_on_grid(gs):
    rin, rout = gs.regular_repr, gs.regular_repr
    full = kernel_basis_on_grid(gs, rin, rout, 5)
    escnn_style = kernel_basis_on_grid(gs, rin, rout, 5, basis_filter=lambda d: d["radius"] < 1.5)
    named = kernel_basis_on_grid(gs, rin, rout, 5, basis_filter=lambda e: e.radius < 1.5)
    assert 0 < escnn_style.dim < full.dim
    np.testing.assert_array_equal(escnn_style.array, named.array)
    assert all(a["radius"] < 1.5 for a in escnn_style.attributes)
    # escnn's frequency key, through the gspace's builder too
    low = gs.build_kernel_basis(rin, rout, 5, basis_filter=lambda d: d["irrep:frequency"] <= 1)
    assert 0 < low.dim < full.dim and all(a.frequency <= 1 for a in low.attributes)
    both = gs.build_kernel_basis(
        rin, rout, 5, basis_filter=lambda d: "radius" in d and d["radius"] > 0 and d["j"][1] == 2
    )
    assert all(a.radius > 0 and a.frequency == 2 for a in both.attributes)


# Basis dimensions of escnn's R2Conv / Linear (one field to one field) for the gspaces with
# the reflection group C_2 and the trivial group C_1, with escnn's ids and its default rings,
# widths and frequency cutoff. Derived by hand from escnn's construction: on each ring r
# (0, 1, ..., (k-1)//2) the harmonics of frequency m <= cutoff(r) (0 at r = 0; 2, 2 / 2, 3, 2
# on the rings of 5x5 / 7x7 filters); C_1 keeps all 2m+1 (1 for m = 0), and the reflection
# keeps one of cos(m phi), sin(m phi) for each m >= 1 (the even one for like irreps, the odd
# one for irrep(0) <-> irrep(1)) and cos(0) only between like irreps.
FLIP_DIMS = {
    ("trivial", "trivial"): {3: 4, 5: 7, 7: 11, 0: 1},
    ("trivial", ("irrep", 1)): {3: 2, 5: 4, 7: 7, 0: 0},
    (("irrep", 1), "trivial"): {3: 2, 5: 4, 7: 7, 0: 0},
    (("irrep", 1), ("irrep", 1)): {3: 4, 5: 7, 7: 11, 0: 1},
    (("irrep", 0), ("irrep", 0)): {3: 4, 5: 7, 7: 11, 0: 1},
    ("trivial", "regular"): {3: 6, 5: 11, 7: 18, 0: 1},
    ("regular", "regular"): {3: 12, 5: 22, 7: 36, 0: 2},
}
TRIVIAL_DIMS = {
    ("trivial", "trivial"): {3: 6, 5: 11, 7: 18, 0: 1},
    (("irrep", 0), "regular"): {3: 6, 5: 11, 7: 18, 0: 1},
    ("regular", "regular"): {3: 6, 5: 11, 7: 18, 0: 1},
}
CASES = [
    (gs, rin, rout, k, dim)
    for gs in [gspaces.flip2dOnR2(), gspaces.flip2dOnR2(axis=0.0), gspaces.flipRot2dOnR2(1), gspaces.flip2dOnR2(0.3)]
    for (rin, rout), dims in FLIP_DIMS.items()
    for k, dim in dims.items()
] + [
    (gs, rin, rout, k, dim)
    for gs in [gspaces.trivialOnR2(), gspaces.rot2dOnR2(1)]
    for (rin, rout), dims in TRIVIAL_DIMS.items()
    for k, dim in dims.items()
]


def _field(gs, f):
    if f == "trivial":
        return gs.trivial_repr
    if f == "regular":
        return gs.regular_repr
    return gs.irrep(*f[1:])


def test_flip_and_trivial_dimensions_follow_escnn():
    mismatches = []
    for gs, fin, fout, k, expected in CASES:
        rin, rout = _field(gs, fin), _field(gs, fout)
        try:
            dim = (gs.build_intertwiner_basis(rin, rout) if k == 0 else gs.build_kernel_basis(rin, rout, k)).dim
        except EmptyBasisError:
            dim = 0
        if dim != expected:
            mismatches.append((gs, fin, fout, k, dim, expected))
    assert not mismatches, mismatches


def test_flip_basis_is_equivariant_under_the_reflection():
    for axis in (math.pi / 2, 0.0, math.pi / 4):
        gs = gspaces.flip2dOnR2(axis)
        f = gs.fibergroup.element(1)
        for rin, rout in [(gs.irrep(0), gs.irrep(1)), (gs.regular_repr, gs.regular_repr)]:
            B = gs.build_kernel_basis(rin, rout, 5).array
            moved = gs.transform_grid(B, f)  # exact: the axes at multiples of 45 degrees map the grid onto itself
            back = np.einsum("op,bpqhw,iq->boihw", rout(f), moved, rin(f))
            np.testing.assert_allclose(back, B, atol=1e-10)
