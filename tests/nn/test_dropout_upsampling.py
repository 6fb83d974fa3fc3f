"""FieldDropout, PointwiseDropout and R2Upsampling: equivariance (C4, D4, C8, SO(2), O(2))
with negative controls, dropout statistics and modes, torch-interpolate reference values,
jit/grad/vmap, float64, export and bad input."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from equijax import gspaces, nn
from equijax.nn._upsampling import interpolation_indices
from equijax.testing import assert_equivariant

C4 = gspaces.rot2dOnR2(4)
D4 = gspaces.flipRot2dOnR2(4)
C8 = gspaces.rot2dOnR2(8)
SO2 = gspaces.rot2dOnR2(-1, maximum_frequency=3)
O2 = gspaces.flipRot2dOnR2(-1, maximum_frequency=3)
GSPACES = [C4, D4, C8, SO2, O2]


def rand(ftype, rng, batch=2, size=7, dtype=np.float32):
    """A standard-normal input drawn with numpy (jax.random compiles once per shape)."""
    batch = (batch,) if isinstance(batch, int) else tuple(batch)
    spatial = (size, size) if ftype.gspace.dimensionality == 2 else ()
    return nn.GeometricTensor(jnp.asarray(rng.standard_normal(batch + (ftype.size,) + spatial).astype(dtype)), ftype)


def any_type(gs):
    two = [p for p in gs.irreps if p.size == 2][0]
    reps = [two, gs.trivial_repr, gs.irreps[1], two]
    if not gs.fibergroup.continuous:
        reps.append(gs.regular_repr)
    return nn.FieldType(gs, reps)


def pointwise_type(gs):
    G = gs.fibergroup
    if G.continuous:
        return nn.FieldType(gs, [gs.trivial_repr] * 3)
    q = gs.quotient_repr((None, G.N // 2) if G.has_flips else G.N // 2)
    return nn.FieldType(gs, [gs.regular_repr, gs.trivial_repr, q])


def rkey(i):
    """A PRNG key of the "rbg" implementation: the modules take any key, and rbg's random bits
    compile in a fraction of threefry's time (which costs seconds per shape on a small CPU)."""
    return jax.random.key(i, impl="rbg")


@eqx.filter_jit
def run(m, *args, **kwargs):
    """Calls a module under jit (one compilation instead of one per eager op)."""
    return m(*args, **kwargs)


def fibre_errors(fn, x, elements):
    """``max |fn(rho(g) x) - rho(g) fn(x)|`` for each g: the action on the fibres only."""
    y = fn(x)
    return [float(jnp.max(jnp.abs(fn(x.transform_fibers(g)).tensor - y.transform_fibers(g).tensor))) for g in elements]


# -- dropout: equivariance ----------------------------------------------------------------------------------
@pytest.mark.parametrize("gs", GSPACES, ids=repr)
def test_dropout_equivariance(gs, rng):
    a, p = any_type(gs), pointwise_type(gs)
    fd, pd = nn.FieldDropout(a, 0.3), nn.PointwiseDropout(p, 0.4)
    x = rand(a + p, rng, size=5)
    fd_eval, pd_eval = fd.eval(), pd.eval()

    def both(t):
        xa, xp = t.split([None, len(a), None])
        return nn.tensor_directsum([fd_eval(xa), pd_eval(xp)])

    # inference mode: the identity
    assert len(assert_equivariant(both, x)) >= 4
    # training mode with a fixed key: field dropout commutes exactly with the action on the fibres
    # (every testing element, not only the grid-exact ones: no spatial interpolation is involved)
    key = rkey(0)
    xa = x.split([None, len(a), None])[0]
    errs = fibre_errors(lambda t: run(fd, t, key=key), xa, gs.testing_elements()[:12])
    assert max(errs) < 1e-5, errs
    # the mask is drawn per pixel, so with a fixed key it does not move with the signal: the
    # module is equivariant in distribution only
    with pytest.raises(AssertionError, match="not equivariant"):
        assert_equivariant(lambda t: fd(t, key=key), xa)


def test_pointwise_dropout_negative_control(rng):
    # with a fixed key, dropping single channels of a regular field does not commute with the
    # permutation of its channels (equivariant in distribution only)
    t = nn.FieldType(C8, [C8.regular_repr] * 2)
    pd = nn.PointwiseDropout(t, 0.5)
    x = rand(t, rng, size=3)
    errs = fibre_errors(lambda v: run(pd, v, key=rkey(1)), x, C8.testing_elements()[1:])
    assert min(errs) > 0.1
    # field dropout on the same fields does commute
    fd = nn.FieldDropout(t, 0.5)
    assert max(fibre_errors(lambda v: run(fd, v, key=rkey(1)), x, C8.testing_elements())) < 1e-5


# -- dropout: statistics and modes --------------------------------------------------------------------------
def test_dropout_masks(rng):
    a = any_type(C4)
    x = nn.GeometricTensor(jnp.asarray(1.0 + rng.uniform(size=(8, a.size, 9, 9)), jnp.float32), a)
    p = 0.3
    y = run(nn.FieldDropout(a, p), x, key=rkey(0))
    ratio = np.asarray(y.tensor / x.tensor)
    assert np.allclose(ratio[ratio != 0], 1 / (1 - p), rtol=1e-6)
    kept = ratio != 0
    # one decision per field, sample and pixel, shared by the field's channels
    for s, e in zip(a.fields_start, a.fields_end):
        assert np.all(kept[:, s:e] == kept[:, s : s + 1])
    per_field = kept[:, a.fields_start]
    assert abs(1 - per_field.mean() - p) < 0.04
    assert per_field.std(axis=(2, 3)).min() > 0  # not constant over the plane
    # pointwise: independent channels
    t = pointwise_type(C4)
    xp = nn.GeometricTensor(jnp.asarray(1.0 + rng.uniform(size=(8, t.size, 9, 9)), jnp.float32), t)
    kept = np.asarray(run(nn.PointwiseDropout(t, p), xp, key=rkey(0)).tensor) != 0
    assert abs(1 - kept.mean() - p) < 0.04
    assert np.any(kept[:, 0:4] != kept[:, 0:1])
    # the same key gives the same mask, another key another one
    y2 = run(nn.FieldDropout(a, p), x, key=rkey(0))
    y3 = run(nn.FieldDropout(a, p), x, key=rkey(1))
    np.testing.assert_array_equal(y.tensor, y2.tensor)
    assert np.any(np.asarray(y.tensor) != np.asarray(y3.tensor))


def test_dropout_modes_and_export(rng):
    a = any_type(D4)
    x = rand(a, rng, size=3)
    fd = nn.FieldDropout(a, 0.5)
    assert not fd.inference and fd.eval().inference and not fd.eval().train().inference
    assert eqx.nn.inference_mode(fd).inference
    for m in (fd.eval(), eqx.nn.inference_mode(fd), nn.FieldDropout(a, 0.5, inference=True)):
        assert m(x) is x  # no key needed
    assert fd(x, inference=True) is x
    assert nn.FieldDropout(a, 0.0)(x) is x  # p = 0: nothing to drop
    with pytest.raises(ValueError, match="needs a PRNG key"):
        fd(x)
    with pytest.raises(ValueError, match="needs a PRNG key"):
        nn.PointwiseDropout(pointwise_type(D4))(rand(pointwise_type(D4), rng, size=3))
    # export: the inference map
    np.testing.assert_array_equal(fd.export()(x.tensor[0]), x.tensor[0])
    assert fd.check_equivariance(key=rkey(0), input_size=5)
    # a SequentialModule passes its key on (and its mode)
    seq = nn.SequentialModule(nn.NormNonLinearity(a, "squash", bias=False), nn.FieldDropout(a, 0.5))
    y1 = run(seq, x, key=rkey(3))
    assert np.any(np.asarray(y1.tensor) == 0)
    np.testing.assert_array_equal(run(seq, x, key=rkey(3)).tensor, y1.tensor)
    assert not np.any(np.asarray(run(seq.eval(), x).tensor) == 0)
    # p and inference are plain fields, not array leaves: nothing for an optimiser to train
    assert not jax.tree.leaves(eqx.filter(fd, eqx.is_inexact_array))
    # no base space: fields are feature vectors
    gs0 = gspaces.no_base_space(D4.fibergroup)
    t0 = nn.FieldType(gs0, list(a.representations))
    y0 = run(nn.FieldDropout(t0, 0.5), rand(t0, rng, batch=16), key=rkey(0))
    for s, e in zip(t0.fields_start, t0.fields_end):
        assert np.all((np.asarray(y0.tensor[:, s:e]) == 0) == (np.asarray(y0.tensor[:, s : s + 1]) == 0))


def test_dropout_jit_grad_vmap_float64(rng):
    a = any_type(C4)
    fd = nn.FieldDropout(a, 0.25)
    x = rand(a, rng, batch=3, size=5)
    key = jax.random.key(2)  # the default implementation works as well

    @eqx.filter_jit
    def all_ways(m, t, key):
        y = m(t, key=key).tensor
        g = jax.grad(lambda v: jnp.sum(m(nn.GeometricTensor(v, t.type), key=key).tensor))(t.tensor)
        yv = jax.vmap(lambda v: m(v, key=key))(t).tensor  # the same key for every sample
        return y, g, yv

    y, g, yv = all_ways(fd, x, key)
    # the gradient is the scaled mask
    np.testing.assert_allclose(g, np.where(np.asarray(y) != 0, 1 / 0.75, 0.0), rtol=1e-6)
    assert yv.shape == y.shape and np.all((np.asarray(yv) == 0) == (np.asarray(yv[0:1]) == 0))
    with jax.enable_x64(True):
        x64 = rand(a, rng, size=3, dtype=np.float64)
        assert run(fd, x64, key=rkey(0)).tensor.dtype == jnp.float64
        p = pointwise_type(C4)
        y64 = run(nn.PointwiseDropout(p), rand(p, rng, size=3, dtype=np.float64), key=rkey(0))
        assert y64.tensor.dtype == jnp.float64


# -- upsampling ---------------------------------------------------------------------------------------------
_T = nn.FieldType(C4, [C4.trivial_repr])


def _up(x, **kwargs):
    return np.asarray(run(nn.R2Upsampling(_T, **kwargs), _T(jnp.asarray(x, jnp.float32)[None, None])).tensor[0, 0])


def test_upsampling_matches_torch_reference():
    x = [[1.0, 2.0], [3.0, 4.0]]
    # torch.nn.functional.interpolate(x, scale_factor=2, mode=...)
    bilinear = [[1.0, 1.25, 1.75, 2.0], [1.5, 1.75, 2.25, 2.5], [2.5, 2.75, 3.25, 3.5], [3.0, 3.25, 3.75, 4.0]]
    np.testing.assert_allclose(_up(x, scale_factor=2), bilinear, rtol=1e-6)
    third = [1.0, 4 / 3, 5 / 3, 2.0]
    corners = [[third[j] + 2 * i / 3 for j in range(4)] for i in range(4)]
    np.testing.assert_allclose(_up(x, scale_factor=2, align_corners=True), corners, rtol=1e-6)
    np.testing.assert_array_equal(_up(x, scale_factor=2, mode="nearest"), np.kron(np.asarray(x), np.ones((2, 2))))
    # a non-integer ratio (3 -> 5 columns); rows unchanged
    row = np.tile([0.0, 10.0, 20.0], (3, 1))
    np.testing.assert_allclose(_up(row, size=(3, 5))[0], [0, 4, 10, 16, 20], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(_up(row, size=(3, 5), align_corners=True)[0], [0, 5, 10, 15, 20], rtol=1e-6)
    np.testing.assert_array_equal(_up(row, size=(3, 5), mode="nearest")[0], [0, 0, 10, 10, 20])
    # with a scale factor, torch maps coordinates by 1 / scale_factor, not in / out (5 -> 7 with 1.5)
    ramp = np.tile(np.arange(5.0), (5, 1))
    expected = [0.0, 0.5, 7 / 6, 11 / 6, 2.5, 19 / 6, 23 / 6]
    np.testing.assert_allclose(_up(ramp, scale_factor=1.5)[0], expected, rtol=1e-6)
    np.testing.assert_array_equal(_up(ramp, scale_factor=1.5, mode="nearest")[0], [0, 0, 1, 2, 2, 3, 4])
    # downsampling works too (bilinear 4 -> 2: the averages of neighbouring pairs)
    np.testing.assert_allclose(_up(np.tile(np.arange(4.0), (4, 1)), size=2)[0], [0.5, 2.5], rtol=1e-6)
    i0, i1, w1 = interpolation_indices(4, 4, None, "bilinear", False)
    assert list(i0) == list(i1) == [0, 1, 2, 3] and not w1.any()


@pytest.mark.parametrize("gs", GSPACES, ids=repr)
def test_upsampling_equivariance(gs, rng):
    a = any_type(gs)
    ups = [
        nn.R2Upsampling(a, scale_factor=2),
        nn.R2Upsampling(a, scale_factor=2, align_corners=True),
        nn.R2Upsampling(a, scale_factor=2, mode="nearest"),
        nn.R2Upsampling(a, size=12, align_corners=True),
        nn.R2Upsampling(a, size=(12, 12)),
    ]
    x = rand(a, rng, size=6)
    assert len(assert_equivariant(lambda t: nn.tensor_directsum([u(t) for u in ups]), x)) >= 4


def test_upsampling_negative_controls(rng):
    a = any_type(C4)
    x = rand(a, rng, size=5)
    # nearest with a ratio that picks pixels lopsidedly
    with pytest.raises(AssertionError, match="not equivariant"):
        assert_equivariant(nn.R2Upsampling(a, size=8, mode="nearest"), x)
    # bilinear with a scale factor whose inverse is not in / out (torch's coordinate map)
    with pytest.raises(AssertionError, match="not equivariant"):
        assert_equivariant(nn.R2Upsampling(a, scale_factor=1.5), x)
    # a non-square output cannot follow a 90-degree rotation
    with pytest.raises(AssertionError, match="not equivariant"):
        assert_equivariant(nn.R2Upsampling(a, size=(10, 8)), x)


def test_upsampling_jit_grad_vmap_export_float64(rng):
    a = any_type(D4)
    m = nn.R2Upsampling(a, scale_factor=(2, 3))
    x = rand(a, rng, batch=(2, 2), size=4)

    @eqx.filter_jit
    def all_ways(m, t):
        y = m(t).tensor
        yv = jax.vmap(m)(t).tensor
        ye = m.export()(t.tensor)
        g = jax.grad(lambda v: jnp.sum(m(nn.GeometricTensor(v, t.type)).tensor))(t.tensor)
        return y, yv, ye, g

    y, yv, ye, g = all_ways(m, x)
    assert y.shape == (2, 2, a.size, 8, 12) == m.evaluate_output_shape(x.shape)
    np.testing.assert_allclose(yv, y, atol=1e-6)
    np.testing.assert_allclose(ye, y, atol=1e-6)
    # every output pixel is a convex combination of input pixels
    np.testing.assert_allclose(g.sum(), y.size, rtol=1e-5)
    assert run(m, x[0, 0]).shape == (a.size, 8, 12)  # no batch axis
    with jax.enable_x64(True):
        x64 = rand(a, rng, size=4, dtype=np.float64)
        for mode in ("bilinear", "nearest"):
            u = nn.R2Upsampling(a, scale_factor=2, mode=mode)
            assert run(u, x64).tensor.dtype == jnp.float64
        assert_equivariant(nn.R2Upsampling(a, scale_factor=2), x64, atol=1e-12, rtol=1e-12)


# -- bad input ----------------------------------------------------------------------------------------------
_A = any_type(C4)
_P = pointwise_type(C4)


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: nn.FieldDropout(_A, 1.0), ValueError, r"`p` \(=1.0\) must be a dropout probability in \[0, 1\)"),
        (lambda: nn.FieldDropout(_A, -0.1), ValueError, "`p`"),
        (lambda: nn.FieldDropout(_A, "0.5"), ValueError, "`p`"),
        (lambda: nn.PointwiseDropout(_P, True), ValueError, "`p`"),
        (lambda: nn.FieldDropout("C4", 0.5), TypeError, "`in_type`"),
        (lambda: nn.FieldDropout(_A, 0.5, inference=1), TypeError, "`inference`"),
        (lambda: nn.PointwiseDropout(_A, 0.5), ValueError, "PointwiseDropout needs fields"),
        (lambda: nn.FieldDropout(_A)(jnp.zeros((_A.size, 3, 3)), key=rkey(0)), TypeError, "GeometricTensor"),
        (lambda: nn.FieldDropout(_A)(_P(jnp.zeros((_P.size, 3, 3))), key=rkey(0)), ValueError, "expects"),
        (lambda: nn.R2Upsampling(_A), ValueError, "exactly one of `scale_factor`"),
        (lambda: nn.R2Upsampling(_A, scale_factor=2, size=4), ValueError, "exactly one of `scale_factor`"),
        (lambda: nn.R2Upsampling(_A, scale_factor=-2), ValueError, "`scale_factor`"),
        (lambda: nn.R2Upsampling(_A, scale_factor=True), ValueError, "`scale_factor`"),
        (lambda: nn.R2Upsampling(_A, scale_factor=(2, 2, 2)), ValueError, "`scale_factor`"),
        (lambda: nn.R2Upsampling(_A, size=0), ValueError, "`size`"),
        (lambda: nn.R2Upsampling(_A, 2, mode="bicubic"), ValueError, "`mode`"),
        (lambda: nn.R2Upsampling(_A, 2, align_corners=None), TypeError, "`align_corners`"),
        (
            lambda: nn.R2Upsampling(nn.FieldType(gspaces.no_base_space(C4.fibergroup), [C4.trivial_repr]), 2),
            ValueError,
            "plane",
        ),
        (lambda: nn.R2Upsampling(_A, 0.1)(_A(jnp.zeros((_A.size, 5, 5)))), ValueError, "empty"),
        (lambda: nn.R2Upsampling(_A, 2)(_P(jnp.zeros((_P.size, 5, 5)))), ValueError, "expects"),
    ],
)
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
