"""Fourier nonlinearities (FourierPointwise, FourierELU, their quotient versions) and
TensorProductModule: equivariance on the grid-exact elements of C4, D4, C8, SO(2), O(2),
sampling error for other rotations, negative controls, jit/grad/vmap, float64, export and
bad input."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from equijax import gspaces, nn
from equijax.testing import assert_equivariant

SO2 = gspaces.rot2dOnR2(-1, maximum_frequency=3)
O2 = gspaces.flipRot2dOnR2(-1, maximum_frequency=3)
GSPACES = [gspaces.rot2dOnR2(4), gspaces.flipRot2dOnR2(4), gspaces.rot2dOnR2(8), SO2, O2]


def rand_input(ftype, rng, batch=2, size=5, dtype=None):
    """A standard-normal GeometricTensor drawn with numpy (jax.random would compile per shape)."""
    spatial = (size, size) if ftype.gspace.dimensionality == 2 else ()
    a = rng.standard_normal((batch, ftype.size) + spatial)
    return nn.GeometricTensor(jnp.asarray(a, dtype or jnp.result_type(float)), ftype)


def grid_kwargs(gs):
    return {"N": 16} if gs.fibergroup.continuous else {}


def fourier_modules(gs):
    """FourierPointwise (ReLU) then FourierELU with a lower output band limit, in one
    sequential module (one compilation)."""
    G, kw = gs.fibergroup, grid_kwargs(gs)
    return nn.SequentialModule(
        nn.FourierPointwise(gs, 2, G.irreps(2), **kw),
        nn.FourierELU(gs, 2, G.irreps(2), out_irreps=G.irreps(1), **kw),
    )


QUOTIENT_IDS = {"C4": 2, "D4": (0, 1), "C8": 2, "SO(2)": 2, "O(2)": (0.0, 1)}


@pytest.mark.parametrize("gs", GSPACES, ids=repr)
def test_fourier_pointwise_is_equivariant(gs, rng):
    seq = fourier_modules(gs)
    x = rand_input(seq.in_type, rng, batch=2, size=5)
    errs = assert_equivariant(seq, x)  # atol 1e-5: the grid-exact elements permute the samples
    assert len(errs) >= 4
    assert seq[1].out_type.size == 2 * seq[1].rho_out.size and seq[1].rho_out.bandwidth == 1


@pytest.mark.parametrize("gs", GSPACES, ids=repr)
def test_quotient_fourier_is_equivariant(gs, rng):
    G = gs.fibergroup
    sid = QUOTIENT_IDS[G.name]
    m = nn.QuotientFourierELU(gs, sid, 2, G.irreps(3), **grid_kwargs(gs))
    x = rand_input(m.in_type, rng, batch=2, size=5)
    assert len(assert_equivariant(m, x)) >= 4
    # one sample per coset of H
    H, _, _ = G.subgroup(sid)
    n_cosets = 16 * (2 if G.has_flips else 1) // H.order() if G.continuous else G.order() // H.order()
    assert len(m.grid) == n_cosets
    if G.continuous:  # the band-limited quotient representation of the group package
        assert m.rho == G.quotient_representation(sid)


def tensor_types(gs):
    G = gs.fibergroup
    if G.name == "C4":
        return 2 * [gs.regular_repr], 2 * [gs.regular_repr]
    if G.name == "D4":
        return 2 * [gs.irrep(1, 1)], 2 * [gs.regular_repr]
    if G.name == "C8":
        return 2 * [gs.irrep(2)], 2 * [gs.regular_repr]
    if G.name == "SO(2)":
        return 2 * [G.bl_regular_representation(1)], 2 * [G.bl_regular_representation(2)]
    return 2 * [gs.irrep(1, 1)], 2 * [G.bl_regular_representation(2)]


@pytest.mark.parametrize("gs", GSPACES, ids=repr)
def test_tensor_product_is_equivariant(gs, getkey, rng):
    a, b = tensor_types(gs)
    m = nn.TensorProductModule(nn.FieldType(gs, a), nn.FieldType(gs, b), key=getkey())
    x = rand_input(m.in_type, rng, batch=2, size=5)
    assert len(assert_equivariant(m, x)) >= 4
    assert m.hidden_type.size == 2 * a[0].size ** 2


def test_sampling_error_for_other_rotations(rng):
    """Rotations off the grid: equivariant up to the aliasing of the sampled nonlinearity."""
    G = SO2.fibergroup
    L = 2
    elu = nn.FourierELU(SO2, 32, G.irreps(L), N=4 * (L + 1))
    relu = nn.FourierPointwise(SO2, 32, G.irreps(L), N=4 * (L + 1))
    fine = nn.FourierELU(SO2, 32, G.irreps(L), N=8 * (L + 1))
    x = rand_input(elu.in_type, rng, batch=2, size=1)  # 1x1 pixels: fibre action only
    gs = G.random_elements(6, seed=0)

    def rel_errors(m):
        f = eqx.filter_jit(m)
        y = f(x)
        out = []
        for g in gs:
            a = np.asarray(f(x.transform(g)).tensor).reshape(2, 32, -1)
            b = np.asarray(y.transform(g).tensor).reshape(2, 32, -1)
            out.append(np.linalg.norm(a - b, axis=-1) / np.maximum(np.linalg.norm(b, axis=-1), 1e-6))
        return np.concatenate(out).ravel()

    e_elu, e_relu, e_fine = rel_errors(elu), rel_errors(relu), rel_errors(fine)
    # the tolerances stated in FourierPointwise's docstring
    assert np.mean(e_elu) < 0.01 and np.max(e_elu) < 0.05
    assert np.median(e_relu) < 0.05
    assert np.mean(e_fine) < 0.2 * np.mean(e_elu)
    assert np.max(e_elu) > 1e-5  # not exact: the check above is meaningful


def test_negative_controls(getkey, rng):
    # a grid of 6 rotations does not contain the 90-degree rotations
    G = SO2.fibergroup
    m = nn.FourierPointwise(SO2, 2, G.irreps(1), N=6)
    x = rand_input(m.in_type, rng, size=5)
    with pytest.raises(AssertionError, match="not equivariant"):
        assert_equivariant(m, x)
    # a grid that is not closed under the group (C4 sampled at e, r, r^2 only)
    gs = gspaces.rot2dOnR2(4)
    C4 = gs.fibergroup
    half = nn.FourierPointwise(gs, 2, [(0,), (1,)], grid=[C4.element(0), C4.element(1), C4.element(2)])
    xh = rand_input(half.in_type, rng, size=5)
    with pytest.raises(AssertionError, match="not equivariant"):
        assert_equivariant(half, xh)
    # a tensor product followed by an arbitrary (non-intertwining) projection
    t = nn.FieldType(gs, 2 * [gs.regular_repr])
    tp = nn.TensorProductModule(t, t, key=getkey())
    P = jnp.asarray(rng.standard_normal((2, 4, 16)), jnp.float32)

    def bad(z):
        u = z.tensor.reshape(2, 2, 4, 5, 5)
        h = jnp.einsum("bcihw,bcjhw->bcijhw", u, u).reshape(2, 2, 16, 5, 5)
        return nn.GeometricTensor(jnp.einsum("coi,bcihw->bcohw", P, h).reshape(2, 8, 5, 5), t)

    xt = rand_input(t, rng, size=5)
    assert_equivariant(tp, xt)
    with pytest.raises(AssertionError, match="not equivariant"):
        assert_equivariant(bad, xt)


def test_layout_and_sampling_matrix(rng):
    # escnn's layout: each irrep as often as in the regular representation, Fourier basis
    G = SO2.fibergroup
    m = nn.FourierPointwise(SO2, 1, [(0,), (1,)], N=8)
    assert m.rho == G.bl_regular_representation(1) and m.rho.irreps == ((0,), (1,))
    A, A_inv = m.matrices
    theta = 2 * np.pi * np.arange(8) / 8
    # f(theta) = (x_0 + sqrt(2) (cos theta x_1 + sin theta x_2)) / sqrt(3)
    expected = np.stack([np.ones(8), np.sqrt(2) * np.cos(theta), np.sqrt(2) * np.sin(theta)], 1) / np.sqrt(3)
    np.testing.assert_allclose(A, expected, atol=1e-12)
    np.testing.assert_allclose(A_inv @ A, np.eye(3), atol=1e-7)
    D = gspaces.flipRot2dOnR2(4).fibergroup
    md = nn.FourierELU(gspaces.flipRot2dOnR2(4), 1, D.irreps())
    assert md.rho == D.bl_regular_representation() and md.rho.multiplicity((1, 1)) == 2
    assert len(md.grid) == 8
    # an irrep subset keeps its order; ints and irreps are accepted as ids
    m2 = nn.FourierPointwise(SO2, 1, [2, G.irrep(0)], N=8)
    assert m2.rho.irreps == ((2,), (0,))
    # relu is positively homogeneous: normalisation does not change the output
    x = rand_input(m.in_type, rng, size=3)
    raw = nn.FourierPointwise(SO2, 1, [(0,), (1,)], N=8, normalize=False)
    np.testing.assert_allclose(raw(x).tensor, m(x).tensor, atol=1e-5)


def test_jit_grad_vmap_export(getkey, rng):
    gs = gspaces.rot2dOnR2(8)
    G = gs.fibergroup
    m = nn.FourierELU(gs, 3, G.irreps(2))
    x = rand_input(m.in_type, rng, batch=3, size=5)
    y = eqx.filter_jit(m)(x)
    np.testing.assert_allclose(eqx.filter_jit(lambda z: jax.vmap(m)(z))(x).tensor, y.tensor, atol=1e-5)
    g = jax.jit(jax.grad(lambda t: jnp.sum(m(nn.GeometricTensor(t, m.in_type)).tensor ** 2)))(x.tensor)
    assert g.shape == x.shape and bool(jnp.all(jnp.isfinite(g)))
    np.testing.assert_allclose(jax.jit(m.export())(x.tensor), y.tensor, atol=1e-5)
    assert m.evaluate_output_shape(x.shape) == y.shape
    assert not [leaf for leaf in jax.tree.leaves(m) if eqx.is_array(leaf)]  # constants are static

    t = nn.FieldType(gs, 2 * [gs.irrep(2)])
    tp = nn.TensorProductModule(t, nn.FieldType(gs, 2 * [gs.regular_repr]), key=getkey())
    xt = rand_input(tp.in_type, rng, batch=3, size=5)
    yt = eqx.filter_jit(tp)(xt)
    np.testing.assert_allclose(eqx.filter_jit(lambda z: jax.vmap(tp)(z))(xt).tensor, yt.tensor, atol=1e-5)
    np.testing.assert_allclose(jax.jit(tp.export())(xt.tensor), yt.tensor, atol=1e-5)
    grads = eqx.filter_jit(eqx.filter_grad(lambda mod: jnp.sum(mod(xt).tensor ** 2)))(tp)
    assert grads.weights.shape == tp.weights.shape and bool(jnp.all(jnp.isfinite(grads.weights)))
    assert [leaf.shape for leaf in jax.tree.leaves(eqx.filter(tp, eqx.is_inexact_array))] == [tp.weights.shape]
    # y = matrix @ (x_c kron x_c) per pixel, as escnn
    v = np.asarray(xt.tensor[0, :, 2, 3]).reshape(2, 2)
    h = np.concatenate([np.kron(v[0], v[0]), np.kron(v[1], v[1])])
    np.testing.assert_allclose(np.asarray(tp.matrix) @ h, yt.tensor[0, :, 2, 3], rtol=1e-5, atol=1e-5)
    # construct(), eval() and a zero initialisation
    tp0 = nn.TensorProductModule.construct(gs, 2, gs.irrep(2), gs.regular_repr, initialize=False, key=getkey())
    assert tp0.in_type == tp.in_type and not np.any(np.asarray(tp0.weights))
    assert tp.eval().in_type == tp.in_type


def test_no_base_space(rng):
    gs = gspaces.no_base_space(gspaces.flipRot2dOnR2(4).fibergroup)
    m = nn.QuotientFourierPointwise(gs, (None, 4), 3, gs.fibergroup.irreps())
    x = rand_input(m.in_type, rng, batch=2)
    assert eqx.filter_eval_shape(m, x).shape == (2, 6)
    assert_equivariant(m, x)


def test_float64(getkey, rng):
    with jax.enable_x64(True):
        D4 = gspaces.flipRot2dOnR2(4)
        tp = nn.TensorProductModule(
            nn.FieldType(D4, [D4.irrep(1, 1)]), nn.FieldType(D4, [D4.regular_repr]), key=getkey()
        )
        assert tp.weights.dtype == jnp.float64
        for m in (
            nn.FourierELU(O2, 2, O2.fibergroup.irreps(2), N=16),
            nn.QuotientFourierPointwise(D4, (0, 1), 2, D4.irreps),
            tp,
        ):
            x = rand_input(m.in_type, rng, size=5)
            assert x.dtype == jnp.float64 and eqx.filter_eval_shape(m, x).dtype == jnp.float64
            assert_equivariant(m, x, atol=1e-12, rtol=1e-12)


C4 = gspaces.rot2dOnR2(4)


def _irreps4():
    return C4.fibergroup.irreps()


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: nn.FourierPointwise("C4", 2, _irreps4()), TypeError, "`gspace`"),
        (lambda: nn.FourierPointwise(C4, 0, _irreps4()), ValueError, r"`channels` \(=0\)"),
        (lambda: nn.FourierELU(C4, 1.5, _irreps4()), ValueError, "`channels`"),
        (lambda: nn.FourierPointwise(C4, 2, [(0,), (5,)]), ValueError, r"`irreps` contains \(5,\)"),
        (lambda: nn.FourierPointwise(C4, 2, []), ValueError, "`irreps`"),
        (lambda: nn.FourierPointwise(C4, 2, [(0,), (0,)]), ValueError, "more than once"),
        (lambda: nn.FourierPointwise(C4, 2, gspaces.rot2dOnR2(8).irreps), ValueError, "irrep of C8"),
        (lambda: nn.FourierPointwise(C4, 2, _irreps4(), out_irreps=[(9,)]), ValueError, "`out_irreps`"),
        (lambda: nn.FourierPointwise(C4, 2, _irreps4(), function="p_nope"), ValueError, "`function`"),
        (lambda: nn.FourierPointwise(C4, 2, _irreps4(), type="hex"), ValueError, "`type`"),
        (lambda: nn.FourierPointwise(C4, 2, _irreps4(), N=3), ValueError, r"`N` \(=3\) must divide"),
        (lambda: nn.FourierPointwise(C4, 2, _irreps4(), N=2), ValueError, "cannot resolve"),
        (lambda: nn.FourierPointwise(C4, 2, _irreps4(), grid=[SO2.fibergroup.identity]), ValueError, "`grid`"),
        (lambda: nn.FourierPointwise(SO2, 2, SO2.fibergroup.irreps(2)), ValueError, r"`N` \(=None\) is required"),
        (lambda: nn.FourierPointwise(SO2, 2, SO2.fibergroup.irreps(2), N=4), ValueError, "use a finer grid"),
        (lambda: nn.FourierPointwise(SO2, 2, SO2.fibergroup.irreps(2), type="rand"), ValueError, "`N`"),
        (lambda: nn.QuotientFourierPointwise(C4, 3, 2, _irreps4()), ValueError, r"`subgroup_id` \(=3\)"),
        (lambda: nn.QuotientFourierELU(O2, (None, 0), 2, O2.irreps), ValueError, "`subgroup_id`"),
        (
            lambda: nn.QuotientFourierELU(gspaces.flipRot2dOnR2(4), (None, 3), 2, gspaces.flipRot2dOnR2(4).irreps),
            ValueError,
            "`subgroup_id`",
        ),
        (lambda: nn.QuotientFourierPointwise(C4, 2, 2, [(1,)]), ValueError, "no irrep in `irreps`"),
        (
            lambda: nn.QuotientFourierPointwise(C4, 2, 2, _irreps4(), out_irreps=[(1,)]),
            ValueError,
            "no irrep in `out_irreps`",
        ),
        (lambda: nn.QuotientFourierPointwise(C4, 2, -1, _irreps4()), ValueError, "`channels`"),
        (
            lambda: nn.FourierPointwise(C4, 2, _irreps4())(
                nn.GeometricTensor(jnp.zeros((1, 4, 3, 3)), nn.FieldType(C4, [C4.regular_repr]))
            ),
            ValueError,
            "expects",
        ),
    ],
)
def test_fourier_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def _tp(a, b, **kw):
    return nn.TensorProductModule(nn.FieldType(C4, a), nn.FieldType(C4, b), key=jax.random.key(0), **kw)


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (
            lambda: nn.TensorProductModule("x", nn.FieldType(C4, [C4.regular_repr]), key=jax.random.key(0)),
            TypeError,
            "`in_type`",
        ),
        (lambda: _tp([C4.regular_repr, C4.trivial_repr], 2 * [C4.regular_repr]), ValueError, "must be uniform"),
        (lambda: _tp(2 * [C4.regular_repr], [C4.regular_repr]), ValueError, "has 2 fields but `out_type` has 1"),
        (lambda: _tp([C4.irrep(2)], [C4.irrep(1)]), ValueError, "no equivariant linear map"),
        (lambda: _tp([C4.regular_repr], [C4.regular_repr], initialize=1), TypeError, "`initialize`"),
        (
            lambda: nn.TensorProductModule(
                nn.FieldType(C4, [C4.regular_repr]),
                nn.FieldType(gspaces.flipRot2dOnR2(4), [gspaces.flipRot2dOnR2(4).regular_repr]),
                key=jax.random.key(0),
            ),
            ValueError,
            "different gspaces",
        ),
        (
            lambda: nn.TensorProductModule.construct(C4, 0, C4.regular_repr, C4.regular_repr, key=jax.random.key(0)),
            ValueError,
            "`channels`",
        ),
    ],
)
def test_tensor_product_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_rand_grid_is_reproducible():
    G = SO2.fibergroup
    a = nn.FourierELU(SO2, 1, G.irreps(1), type="rand", N=12, seed=3)
    b = nn.FourierELU(SO2, 1, G.irreps(1), type="rand", N=12, seed=3)
    assert a.grid == b.grid and len(a.grid) == 12
    assert all(math.isfinite(g.angle) for g in a.grid)
