import importlib.util
import json
import math
import pathlib

import numpy as np
import pytest

from equijax import gspaces
from equijax.internal import quadrature_elements
from equijax.kernels import (
    EmptyBasisError,
    default_frequencies_cutoff,
    default_rings,
    grid_points,
    intertwiner_basis,
)
from equijax.kernels._solutions import harmonic_action

DATA = pathlib.Path(__file__).parent.parent / "data" / "escnn_basis_dims_sample.json"

GSPACES = (
    [gspaces.rot2dOnR2(n) for n in (1, 2, 3, 4, 5, 6, 8, 12, 16)]
    + [gspaces.flipRot2dOnR2(n) for n in (2, 3, 4, 6, 8)]
    + [gspaces.flipRot2dOnR2(4, axis=0.0), gspaces.flipRot2dOnR2(3, axis=0.3)]
    + [gspaces.rot2dOnR2(-1, 6), gspaces.flipRot2dOnR2(-1, 6)]
    + [gspaces.flip2dOnR2(), gspaces.flip2dOnR2(axis=0.0), gspaces.trivialOnR2()]
)


def fields(gs):
    """trivial, regular (finite groups), every irrep, and quotient representations."""
    G = gs.fibergroup
    out = {"trivial": gs.trivial_repr}
    out.update({p.name: p for p in gs.irreps})
    if not G.continuous:
        out["regular"] = gs.regular_repr
        if G.has_flips and G.order() > 2:
            out["quotient(C_N)"] = gs.quotient_repr((None, G.N))
        if not G.has_flips and G.N % 2 == 0 and G.N > 2:
            out["quotient(C_2)"] = gs.quotient_repr(2)
    else:
        out["quotient"] = gs.quotient_repr((None, -1)) if G.has_flips else gs.quotient_repr(3)
    return out


def pairs(gs):
    f = fields(gs)
    return [(a, b) for a in f.values() for b in f.values()]


def transformed(basis_array, gs, g, rep_in, rep_out):
    """rho_out(g) B(g^-1 x) rho_in(g)^T on the grid."""
    moved = gs.transform_grid(np.asarray(basis_array), g)
    return np.einsum("op,bpqhw,iq->boihw", rep_out(g), moved, rep_in(g), optimize=True)


def grid_exact_elements(gs):
    out = []
    for g in gs.testing_elements():
        A = gs.action_matrix(g)
        if np.allclose(A, np.round(A), atol=1e-12):
            out.append(g)
    return out


@pytest.mark.parametrize("gs", GSPACES, ids=repr)
def test_constraint_at_random_points(gs):
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(16, 2)) * 1.5
    els = gs.fibergroup.random_elements(3, seed=1)
    A = gs.action_matrices(els)
    checked = 0
    for rin, rout in pairs(gs):
        F = rin.bandwidth + rout.bandwidth if gs.fibergroup.continuous else 8
        kw = dict(rings=[0.0, 1.0, 2.3], sigma=[0.3, 0.6, 0.6], maximum_frequency=F)
        try:
            B = gs.build_point_basis(rin, rout, pts, **kw).array
        except EmptyBasisError:
            continue
        for g, a in zip(els, A):
            Bg = gs.build_point_basis(rin, rout, pts @ a.T, **kw).array  # B(g x)
            expected = np.einsum("op,bpqn,iq->boin", rout(g), B, rin(g), optimize=True)
            np.testing.assert_allclose(Bg, expected, atol=1e-6)
            checked += 1
    assert checked


@pytest.mark.parametrize("gs", GSPACES, ids=repr)
@pytest.mark.parametrize("k", [3, 5, 7])
def test_constraint_on_grid_exact_symmetries(gs, k):
    els = grid_exact_elements(gs)
    G = gs.fibergroup
    assert gs.fibergroup.identity in els
    if G.continuous or (G.rotation_order % 4 == 0):
        assert any(g.flip == 0 and abs(g.angle - math.pi / 2) < 1e-12 for g in els)
    for rin, rout in pairs(gs):
        try:
            B = gs.build_kernel_basis(rin, rout, k).array
        except EmptyBasisError:
            continue
        for g in els:
            np.testing.assert_allclose(transformed(B, gs, g, rin, rout), B, atol=1e-10)


def test_negative_control_random_kernel_fails():
    gs = gspaces.rot2dOnR2(4)
    rin, rout = gs.regular_repr, gs.regular_repr
    B = gs.build_kernel_basis(rin, rout, 5).array
    g = gs.fibergroup.element(1)
    rng = np.random.default_rng(0)
    random_kernel = rng.normal(size=(1, *B.shape[1:]))
    err = np.abs(transformed(random_kernel, gs, g, rin, rout) - random_kernel).max()
    assert err > 0.1
    # and a random combination of basis elements passes
    w = rng.normal(size=len(B))
    K = np.einsum("b,b...->...", w, B)[None]
    np.testing.assert_allclose(transformed(K, gs, g, rin, rout), K, atol=1e-10)
    # a basis element checked under a transformation outside the group (a reflection for C4)
    mirrored = np.flip(B, -1)
    assert np.abs(mirrored - B).max() > 0.1


def _gspace_from_spec(spec):
    if spec[0] == "rot":
        return gspaces.rot2dOnR2(spec[1], *spec[2:])
    return gspaces.flipRot2dOnR2(spec[1])


def _field(gs, f):
    if f == "trivial":
        return gs.trivial_repr
    if f == "regular":
        return gs.regular_repr
    return gs.irrep(*f[1:])


def test_dimensions_match_escnn():
    cases = json.loads(DATA.read_text())["cases"]
    assert len(cases) == 627
    mismatches = []
    for c in cases:
        gs = _gspace_from_spec(c["gspace"])
        rin, rout = _field(gs, c["in"]), _field(gs, c["out"])
        k = c["kernel_size"]
        expected = c["linear_dim"] if k == 0 else c["conv_dim"]
        try:
            dim = (gs.build_intertwiner_basis(rin, rout) if k == 0 else gs.build_kernel_basis(rin, rout, k)).dim
        except EmptyBasisError:
            dim = 0
        if dim != expected:
            mismatches.append((c, dim))
    assert not mismatches, mismatches[:10]


def expected_dim(gs, rin, rout, k, dilation=1):
    """Independent count from characters: sum over rings and allowed frequencies of the
    dimension of the fixed space of T(g) = H(g)^T (x) rho_out(g) (x) rho_in(g)."""
    G = gs.fibergroup
    rings = default_rings(k, dilation)
    cutoff = default_frequencies_cutoff(k)
    total = 0
    for r in rings:
        top = math.floor(cutoff(r) + 1e-9)
        for m in range(top + 1):
            els = quadrature_elements(G, m + rin.bandwidth + rout.bandwidth)
            flips, angles = gs.o2_inclusion.params(*_params(G, els))
            chi_h = np.trace(harmonic_action(m, flips, angles), axis1=1, axis2=2)
            chi = chi_h * np.trace(rout.matrices(els), axis1=1, axis2=2) * np.trace(rin.matrices(els), axis1=1, axis2=2)
            total += round(float(np.mean(chi)))
    return total


def _params(G, els):
    flips = np.array([g.flip for g in els])
    rots = np.array([g.rotation for g in els], dtype=float)
    return flips, rots


@pytest.mark.parametrize(
    "gs",
    [gspaces.rot2dOnR2(n) for n in (1, 3, 5, 7, 12, 16)]
    + [gspaces.flipRot2dOnR2(n) for n in (1, 3, 5, 6, 8)]
    + [gspaces.rot2dOnR2(-1, 6), gspaces.flipRot2dOnR2(-1, 6)],
    ids=repr,
)
@pytest.mark.parametrize("k", [3, 5, 7])
def test_dimension_rule_beyond_the_sample(gs, k):
    for rin, rout in pairs(gs):
        exp = expected_dim(gs, rin, rout, k)
        try:
            dim = gs.build_kernel_basis(rin, rout, k).dim
        except EmptyBasisError:
            dim = 0
        assert dim == exp, (rin, rout)


def test_dilation():
    gs = gspaces.rot2dOnR2(4)
    r = gs.regular_repr
    B = gs.build_kernel_basis(r, r, 3, dilation=2)
    assert B.shape[-2:] == (3, 3)
    assert {a.radius for a in B.attributes} == {0.0, 2.0}
    # taps sit at multiples of the dilation
    np.testing.assert_allclose(grid_points(3, 2)[0], [-2.0, 2.0])
    assert B.dim == expected_dim(gs, r, r, 3, dilation=2)
    for g in grid_exact_elements(gs):
        np.testing.assert_allclose(transformed(B.array, gs, g, r, r), B.array, atol=1e-10)


@pytest.mark.parametrize(
    "gs",
    [gspaces.rot2dOnR2(5), gspaces.flipRot2dOnR2(6), gspaces.flipRot2dOnR2(-1, 4), gspaces.rot2dOnR2(-1, 4)],
    ids=repr,
)
def test_intertwiner_dimension(gs):
    G = gs.fibergroup
    reps = list(fields(gs).values())
    reps.append(reps[1] + reps[-1] + reps[0])
    for rin in reps:
        for rout in reps:
            mi, mo = rin.multiplicities(), rout.multiplicities()
            exp = sum(mi[i] * mo.get(i, 0) * G.irrep(*i).endomorphism_dim for i in mi)
            if exp == 0:
                with pytest.raises(EmptyBasisError, match="share no irrep"):
                    gs.build_intertwiner_basis(rin, rout)
                continue
            B = gs.build_intertwiner_basis(rin, rout).array
            assert B.shape == (exp, rout.size, rin.size)
            assert np.linalg.matrix_rank(B.reshape(exp, -1)) == exp
            for g in G.testing_elements()[:10]:
                np.testing.assert_allclose(
                    np.einsum("op,bpq->boq", rout(g), B), np.einsum("bop,pq->boq", B, rin(g)), atol=1e-10
                )
    assert intertwiner_basis(G, reps[0], reps[0]).dim == 1


def test_attributes_and_filters():
    gs = gspaces.rot2dOnR2(8)
    r = gs.regular_repr
    B = gs.build_kernel_basis(r, r, 5)
    assert len(B.attributes) == B.dim
    a = B.attributes[0]
    assert {"radius", "sigma", "frequency", "in_irrep", "out_irrep"} <= set(a._fields)
    cutoff = default_frequencies_cutoff(5)
    assert all(e.frequency <= cutoff(e.radius) for e in B.attributes)
    low = gs.build_kernel_basis(r, r, 5, basis_filter=lambda e: e.frequency <= 1)
    assert low.dim == sum(e.frequency <= 1 for e in B.attributes)
    # custom rings, sigma and cutoff factor
    C = gs.build_kernel_basis(r, r, 5, rings=[0.0, 1.0, 2.0], sigma=0.5, frequencies_cutoff=1.0)
    assert max(e.frequency for e in C.attributes) == 2
    assert {e.sigma for e in C.attributes} == {0.5}
    D = gs.build_kernel_basis(r, r, 5, frequencies_cutoff=lambda radius: 0)
    assert {e.frequency for e in D.attributes} == {0}


def test_basis_is_cached_and_read_only():
    gs = gspaces.rot2dOnR2(8)
    B1 = gs.build_kernel_basis(gs.regular_repr, gs.regular_repr, 5)
    B2 = gspaces.rot2dOnR2(8).build_kernel_basis(gs.regular_repr, gs.regular_repr, 5)
    assert B1 is B2
    with pytest.raises(ValueError):
        B1.array[0, 0, 0, 0, 0] = 1.0
    with pytest.raises(AttributeError):
        B1.array = None


def test_basis_is_linearly_independent_and_normalised():
    gs = gspaces.flipRot2dOnR2(4)
    r = gs.regular_repr
    B = gs.build_kernel_basis(r, r, 5).array
    flat = B.reshape(len(B), -1)
    assert np.linalg.matrix_rank(flat) == len(B)
    # escnn's normalisation: squared norm = size of the block's output irrep
    sizes = np.array([gs.irrep(*e.out_irrep).size for e in gs.build_kernel_basis(r, r, 5).attributes])
    np.testing.assert_allclose((flat**2).sum(1), sizes, rtol=1e-10)


def _benchmark():
    """benchmarks/kernel_bases.py: its cases and fresh-process timer, shared with these tests."""
    path = pathlib.Path(__file__).parents[2] / "benchmarks" / "kernel_bases.py"
    spec = importlib.util.spec_from_file_location("kernel_bases_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _case(bench, prefix: str) -> str:
    (body,) = [v for k, v in bench.CASES.items() if k.startswith(prefix)]
    return body


def test_escnn_sweep_builds_fast():
    bench = _benchmark()  # a fresh process: nothing cached
    assert bench.time_case(_case(bench, "escnn parity sweep")) <= 20.0


def test_c8_model_bases_build_fast():
    bench = _benchmark()
    times = [bench.time_case(_case(bench, "C8 model bases")) for _ in range(3)]
    assert min(times) <= 0.2, times


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (
            lambda gs: gs.build_kernel_basis(gs.trivial_repr, gspaces.rot2dOnR2(8).regular_repr, 3),
            ValueError,
            "`out_repr` is a representation of C8",
        ),
        (
            lambda gs: gs.build_kernel_basis(gspaces.rot2dOnR2(2).trivial_repr, gs.trivial_repr, 3),
            ValueError,
            "`in_repr`",
        ),
        (lambda gs: gs.build_kernel_basis(gs.trivial_repr, gs.trivial_repr, 0), ValueError, r"`kernel_size` \(=0\)"),
        (lambda gs: gs.build_kernel_basis(gs.trivial_repr, gs.trivial_repr, -3), ValueError, r"`kernel_size` \(=-3\)"),
        (
            lambda gs: gs.build_kernel_basis(gs.trivial_repr, gs.trivial_repr, 3.0),
            ValueError,
            r"`kernel_size` \(=3.0\)",
        ),
        (lambda gs: gs.build_kernel_basis(gs.trivial_repr, gs.trivial_repr, 3, dilation=0), ValueError, r"`dilation`"),
        (
            lambda gs: gs.build_kernel_basis(gs.trivial_repr, gs.trivial_repr, 3, rings=[0, 5]),
            ValueError,
            r"`rings`.*outside the grid",
        ),
        (lambda gs: gs.build_kernel_basis(gs.trivial_repr, gs.trivial_repr, 3, rings=[-1]), ValueError, r"`rings`"),
        (
            lambda gs: gs.build_kernel_basis(gs.trivial_repr, gs.trivial_repr, 5, rings=[0, 1, 2], sigma=[0.5, 0.5]),
            ValueError,
            r"`sigma` has 2 entries but `rings` has 3",
        ),
        (lambda gs: gs.build_kernel_basis(gs.trivial_repr, gs.trivial_repr, 3, sigma=-1.0), ValueError, r"`sigma`"),
        (
            lambda gs: gs.build_kernel_basis(gs.trivial_repr, gs.trivial_repr, 3, frequencies_cutoff="x"),
            ValueError,
            r"`frequencies_cutoff`",
        ),
        (
            lambda gs: gs.build_kernel_basis(gs.trivial_repr, gs.trivial_repr, 3, basis_filter=3),
            ValueError,
            r"`basis_filter`",
        ),
        (lambda gs: gs.build_kernel_basis("trivial", gs.trivial_repr, 3), TypeError, r"`in_repr`"),
        (
            lambda gs: gs.build_point_basis(gs.trivial_repr, gs.trivial_repr, np.zeros((3, 3)), [0.0], 1.0, 2),
            ValueError,
            r"`points`",
        ),
        (
            lambda gs: gs.build_point_basis(gs.trivial_repr, gs.trivial_repr, np.zeros((3, 2)), [0.0], 1.0, -1),
            ValueError,
            r"`maximum_frequency`",
        ),
    ],
)
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call(gspaces.rot2dOnR2(4))


def test_empty_basis_is_reported_clearly():
    gs = gspaces.flipRot2dOnR2(-1, 6)
    # a 1x1 kernel only has frequency 0: no O(2)-equivariant map from trivial to the sign irrep
    with pytest.raises(EmptyBasisError, match="no non-zero O\\(2\\)-equivariant kernel"):
        gs.build_kernel_basis(gs.trivial_repr, gs.irrep(1, 0), 1)
    with pytest.raises(ValueError):  # EmptyBasisError is a ValueError
        gspaces.rot2dOnR2(-1).build_kernel_basis(gspaces.rot2dOnR2(-1).irrep(0), gspaces.rot2dOnR2(-1).irrep(6), 3)
