"""GNormBatchNorm, InducedNormBatchNorm, FieldNorm, NormMaxPool, InducedNormPool and
MaxPoolChannels: equivariance (C4, D4, C8, SO(2), O(2); train and inference mode) with
negative controls, numpy references of escnn's algorithms, jit/grad/vmap, float64, export
and bad input."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from equijax import gspaces, nn
from equijax.nn._channel_pooling import pool_output_size
from equijax.testing import assert_equivariant

C4 = gspaces.rot2dOnR2(4)
D4 = gspaces.flipRot2dOnR2(4)
C8 = gspaces.rot2dOnR2(8)
SO2 = gspaces.rot2dOnR2(-1, maximum_frequency=3)
O2 = gspaces.flipRot2dOnR2(-1, maximum_frequency=3)
GSPACES = [C4, D4, C8, SO2, O2]


def clone(state):
    leaves, treedef = jax.tree_util.tree_flatten(state)
    return jax.tree_util.tree_unflatten(treedef, leaves)


def any_type(gs):
    """Irreps, a trivial field, a tensor product (trivial irreps under a non-identity change
    of basis) and, for finite groups, a regular field."""
    two = [p for p in gs.irreps if p.size == 2][0]
    reps = [two, gs.trivial_repr, gs.irreps[1], two.tensor(two)]
    if not gs.fibergroup.continuous:
        reps.append(gs.regular_repr)
    return nn.FieldType(gs, reps)


def induced_type(gs):
    """Induced fields without trivial irreps, with different numbers of blocks where the
    group allows it."""
    G = gs.fibergroup
    if G.continuous:
        sid = (None, -1) if G.has_flips else -1
        H = G.subgroup(sid)[0]
        one = (1, 1) if H.has_flips else (1,)
        two = (1, 2) if H.has_flips else (2,)
        return nn.FieldType(
            gs, [G.induced_representation(sid, H.irrep(*one)), G.induced_representation(sid, H.irrep(*two))]
        )
    N = G.N
    sids = [(None, N // 2), (None, 2)] if G.has_flips else [N // 2, 2]
    reps = []
    for sid in sids:
        H = G.subgroup(sid)[0]
        reps.append(G.induced_representation(sid, H.irrep(1)))
    return nn.FieldType(gs, [reps[0], reps[1], reps[0]])


def rand(ftype, rng, batch=2, size=7, dtype=np.float32):
    """A standard-normal input drawn with numpy (jax.random compiles once per shape)."""
    batch = (batch,) if isinstance(batch, int) else tuple(batch)
    spatial = (size, size) if ftype.gspace.dimensionality == 2 else ()
    return nn.GeometricTensor(jnp.asarray(rng.standard_normal(batch + (ftype.size,) + spatial).astype(dtype)), ftype)


def _randomise(m, rng):
    """Non-trivial affine parameters, so that checks mean something."""
    dt = m.weight.dtype
    m = eqx.tree_at(lambda b: b.weight, m, jnp.asarray(0.5 + rng.uniform(size=m.weight.shape), dt))
    if m.bias is not None:
        m = eqx.tree_at(lambda b: b.bias, m, jnp.asarray(rng.standard_normal(m.bias.shape), dt))
    return m


@eqx.filter_jit
def run(m, *args, **kwargs):
    """Calls a module under jit (one compilation instead of one per eager op)."""
    return m(*args, **kwargs)


def _shifted(x, shift=2.0):
    return nn.GeometricTensor(shift + 1.5 * x.tensor, x.type)


# -- equivariance ------------------------------------------------------------------------------------------
def _with_running_stats(m, rng):
    """A state holding random running statistics (no training call needed)."""
    state = eqx.nn.State(m)
    mean, var = state.get(m.state_index)
    mean = jnp.asarray(rng.standard_normal(mean.shape), mean.dtype)
    return state.set(m.state_index, (mean, jnp.asarray(0.5 + rng.uniform(size=var.shape), var.dtype)))


def _joint(gs, rng):
    """One function applying every full-resolution module of this file (batch norms in
    training and inference mode) to an input of type ``any_type + induced_type``: one
    compilation checks them all."""
    a, ind = any_type(gs), induced_type(gs)
    fnorm = _randomise(nn.FieldNorm(a), rng)
    gnorm, inorm = _randomise(nn.GNormBatchNorm(a), rng), _randomise(nn.InducedNormBatchNorm(ind), rng)
    gstate, istate = _with_running_stats(gnorm, rng), _with_running_stats(inorm, rng)
    pool = nn.InducedNormPool(ind)
    maxpool = nn.NormMaxPool(a, 3, stride=1, padding=1)  # keeps the size

    def fn(t):
        xa, xi = t.split([None, len(a), None])
        outs = [fnorm(xa), pool(xi), maxpool(xa)]
        for m, x, st in ((gnorm, xa, gstate), (inorm, xi, istate)):
            outs += [m.train()(x, clone(st))[0], m.eval()(x, clone(st))[0]]
        return nn.tensor_directsum(outs)

    return a + ind, fn


@pytest.mark.parametrize("gs", GSPACES, ids=repr)
def test_modules_are_equivariant(gs, rng):
    total, fn = _joint(gs, rng)
    x = _shifted(rand(total, rng, batch=3, size=7))
    assert len(assert_equivariant(fn, x)) >= 4


@pytest.mark.parametrize("gs", [C8, D4], ids=repr)
def test_norm_max_pool_strided_equivariant(gs, rng):
    m = nn.NormMaxPool(any_type(gs), 3, stride=2, padding=1)
    assert m._testing_input_size() == 9
    assert_equivariant(m, rand(m.in_type, rng, size=7))
    # dilation and ceil_mode with symmetric windows
    m = nn.NormMaxPool(any_type(gs), 2, stride=2, dilation=2, ceil_mode=True)
    x = rand(m.in_type, rng, size=7)
    assert m.evaluate_output_shape(x.shape)[-2:] == (3, 3)
    assert_equivariant(m, x)


def test_negative_controls(rng):
    # a per-channel batch norm (fields declared trivial) in inference mode is not equivariant
    a = any_type(C4)
    wrong = nn.FieldType(C4, [C4.trivial_repr] * a.size)
    frozen = nn.GNormBatchNorm(wrong).eval()
    state = _with_running_stats(frozen, rng)

    def per_channel(t):
        return nn.GeometricTensor(frozen(nn.GeometricTensor(t.tensor, wrong), clone(state))[0].tensor, t.type)

    x = rand(a, rng, batch=2, size=5)
    with pytest.raises(AssertionError, match="not equivariant"):
        assert_equivariant(per_channel, x)
    # FieldNorm with the wrong field partition: a C4 regular field seen as two vector fields
    reg = nn.FieldType(C4, [C4.regular_repr])
    pairs = nn.FieldType(C4, [C4.irrep(1)] * 2)
    fnorm = nn.FieldNorm(pairs)
    xr = rand(reg, rng, size=5)
    with pytest.raises(AssertionError, match="not equivariant"):
        assert_equivariant(lambda t: nn.GeometricTensor(fnorm(nn.GeometricTensor(t.tensor, pairs)).tensor, reg), xr)
    # a lopsided norm-pooling window
    with pytest.raises(AssertionError, match="not equivariant"):
        assert_equivariant(nn.NormMaxPool(a, 2, stride=2), rand(a, rng, size=5))
    # pooling only the first block of each induced field is not invariant
    G = C4.fibergroup
    ind = nn.FieldType(C4, [G.induced_representation(2, G.subgroup(2)[0].irrep(1))] * 2)
    first = nn.FieldType(C4, [C4.trivial_repr] * 2)
    xi = rand(ind, rng, size=5)
    with pytest.raises(AssertionError, match="not equivariant"):
        assert_equivariant(lambda t: nn.GeometricTensor(jnp.abs(t.tensor[..., 0::2, :, :]), first), xi)


# -- numerical references (escnn's algorithms, numpy float64) -----------------------------------------------
def _irreps_layout(ftype):
    """Per irrep copy: (start channel in the irreps basis, size, trivial?)."""
    G = ftype.fibergroup
    out, start = [], 0
    for i in ftype.irreps:
        d = G.irrep(*i).size
        out.append((start, d, i == G.trivial_representation.id))
        start += d
    return out


def _block_basis(ftype):
    Q = np.zeros((ftype.size, ftype.size))
    for r, s, e in zip(ftype.representations, ftype.fields_start, ftype.fields_end):
        Q[s:e, s:e] = r.change_of_basis
    return Q


def gnorm_reference(x, ftype, w, b, eps, mom, rmean, rvar, training):
    Q = _block_basis(ftype)
    z = np.einsum("dc,bchw->bdhw", Q.T, x)
    out = np.empty_like(z)
    B, _, H, W = x.shape
    N = B * H * W
    new_mean, new_var = rmean.copy(), rvar.copy()
    t = 0
    for i, (s, d, trivial) in enumerate(_irreps_layout(ftype)):
        zs = z[:, s : s + d]
        if training:
            mean = zs.mean() if trivial else 0.0
            var = ((zs**2).mean(axis=(0, 2, 3)) - mean**2).mean() * N / (N - 1)
            new_var[i] = (1 - mom) * rvar[i] + mom * var
            if trivial:
                new_mean[t] = (1 - mom) * rmean[t] + mom * mean
        else:
            mean, var = (rmean[t] if trivial else 0.0), rvar[i]
        out[:, s : s + d] = (zs - mean) * w[i] / np.sqrt(var + eps) + (b[t] if trivial else 0.0)
        t += trivial
    return np.einsum("cd,bdhw->bchw", Q, out), new_mean, new_var


def test_gnorm_matches_escnn_reference(rng):
    with jax.enable_x64(True):
        a = any_type(C4)
        bn = _randomise(nn.GNormBatchNorm(a, eps=1e-3, momentum=0.3, dtype=jnp.float64), rng)
        state = eqx.nn.State(bn)
        x = _shifted(rand(a, rng, batch=3, size=5, dtype=jnp.float64))
        xn = np.asarray(x.tensor)
        w, b = np.asarray(bn.weight), np.asarray(bn.bias)
        rmean, rvar = (np.asarray(s) for s in state.get(bn.state_index))
        y, state = run(bn, x, state)
        y_ref, mean_ref, var_ref = gnorm_reference(xn, a, w, b, 1e-3, 0.3, rmean, rvar, True)
        np.testing.assert_allclose(y.tensor, y_ref, atol=1e-10)
        new_mean, new_var = state.get(bn.state_index)
        np.testing.assert_allclose(new_mean, mean_ref, atol=1e-12)
        np.testing.assert_allclose(new_var, var_ref, atol=1e-12)
        assert new_mean.shape == (sum(t for _, _, t in _irreps_layout(a)),) and new_var.shape == (len(a.irreps),)
        yi, same = run(bn, x, clone(state), inference=True)
        y_ref, _, _ = gnorm_reference(xn, a, w, b, 1e-3, 0.3, mean_ref, var_ref, False)
        np.testing.assert_allclose(yi.tensor, y_ref, atol=1e-10)
        np.testing.assert_array_equal(same.get(bn.state_index)[1], new_var)
        # export: the frozen affine map gives the inference output
        np.testing.assert_allclose(jax.vmap(bn.export(clone(state)))(x.tensor), yi.tensor, atol=1e-10)


def test_induced_batchnorm_matches_escnn_reference(rng):
    with jax.enable_x64(True):
        t = induced_type(C8)
        bn = _randomise(nn.InducedNormBatchNorm(t, momentum=0.2, dtype=jnp.float64), rng)
        assert bn.bias is None and bn.weight.shape == (len(t),)
        state = eqx.nn.State(bn)
        x = rand(t, rng, batch=4, size=5, dtype=jnp.float64)
        xn, w = np.asarray(x.tensor), np.asarray(bn.weight)
        y, state = run(bn, x, state)
        _, var = state.get(bn.state_index)
        y_ref, yi_ref = np.empty_like(xn), np.empty_like(xn)
        for f, (r, s, e) in enumerate(zip(t.representations, t.fields_start, t.fields_end)):
            d = r.induced_from[1].size
            n = r.size // d
            blocks = xn[:, s:e].reshape(4, n, d, 5, 5)
            sq_norms = (blocks**2).sum(axis=2)  # (batch, n, H, W)
            N = sq_norms.size
            running = 0.8 * 1.0 + 0.2 * sq_norms.mean() / d * N / (N - 1)
            np.testing.assert_allclose(var[f], running, rtol=1e-12)
            y_ref[:, s:e] = xn[:, s:e] * w[f] / np.sqrt(sq_norms.mean() / d + 1e-5)
            yi_ref[:, s:e] = xn[:, s:e] * w[f] / np.sqrt(running + 1e-5)
        np.testing.assert_allclose(y.tensor, y_ref, atol=1e-10)
        yi, _ = run(bn.eval(), x, clone(state))
        np.testing.assert_allclose(yi.tensor, yi_ref, atol=1e-10)
        np.testing.assert_allclose(jax.vmap(bn.export(clone(state)))(x.tensor), yi_ref, atol=1e-10)


def test_fieldnorm_matches_reference(rng):
    with jax.enable_x64(True):
        a = any_type(D4)
        m = _randomise(nn.FieldNorm(a, eps=1e-3, dtype=jnp.float64), rng)
        x = _shifted(rand(a, rng, batch=2, size=3, dtype=jnp.float64))
        xn, w, b = np.asarray(x.tensor), np.asarray(m.weight), np.asarray(m.bias)
        G = a.fibergroup
        y_ref, t = np.empty_like(xn), 0
        for f, (r, s, e) in enumerate(zip(a.representations, a.fields_start, a.fields_end)):
            Q = r.change_of_basis
            z = np.einsum("dc,bchw->bdhw", Q.T, xn[:, s:e])
            triv, p = [], 0
            for i in r.irreps:
                if i == G.trivial_representation.id:
                    triv.append(p)
                p += G.irrep(*i).size
            zc = z.copy()
            zc[:, triv] = 0.0
            var = (zc**2).mean(axis=1, keepdims=True)  # per sample and pixel
            out = zc * w[f] / np.sqrt(var + 1e-3)
            out[:, triv] += b[t : t + len(triv)].reshape(1, -1, 1, 1)
            t += len(triv)
            y_ref[:, s:e] = np.einsum("cd,bdhw->bchw", Q, out)
        assert t == len(b)
        np.testing.assert_allclose(run(m, x).tensor, y_ref, atol=1e-10)
        # a regular field: its trivial irrep is the average, so FieldNorm is a per-pixel layer norm
        reg = nn.FieldType(C8, [C8.regular_repr])
        xr = rand(reg, rng, batch=2, size=3, dtype=jnp.float64).tensor
        c = xr - xr.mean(axis=1, keepdims=True)
        expected = c / jnp.sqrt((c**2).mean(axis=1, keepdims=True) + 1e-5)
        np.testing.assert_allclose(run(nn.FieldNorm(reg, affine=False), reg(xr)).tensor, expected, atol=1e-10)


def _norm_max_pool_reference(x, ftype, k, s, p, d, ceil_mode):
    B, C, H, W = x.shape
    oh = pool_output_size(H, k, s, p, d, ceil_mode)
    ow = pool_output_size(W, k, s, p, d, ceil_mode)
    y = np.zeros((B, C, oh, ow))
    for bi in range(B):
        for st, en in zip(ftype.fields_start, ftype.fields_end):
            v = x[bi, st:en]
            norms = np.sqrt((v**2).sum(0))
            for i in range(oh):
                for j in range(ow):
                    best, arg = -1.0, None
                    for a in range(k):
                        for c in range(k):
                            r, q = i * s - p + a * d, j * s - p + c * d
                            if 0 <= r < H and 0 <= q < W and norms[r, q] > best:
                                best, arg = norms[r, q], (r, q)
                    y[bi, st:en, i, j] = v[:, arg[0], arg[1]]
    return y


@pytest.mark.parametrize(
    "k, s, p, d, ceil_mode, H",
    [(2, 2, 0, 1, False, 5), (3, 2, 1, 1, True, 6), (2, 1, 1, 2, False, 5)],
)
def test_norm_max_pool_reference(k, s, p, d, ceil_mode, H, rng):
    a = nn.FieldType(C4, [C4.irrep(1), C4.trivial_repr, C4.regular_repr])
    m = nn.NormMaxPool(a, k, stride=s, padding=p, dilation=d, ceil_mode=ceil_mode)
    x = rand(a, rng, batch=2, size=H)
    y = run(m, x)
    ref = _norm_max_pool_reference(np.asarray(x.tensor, np.float64), a, k, s, p, d, ceil_mode)
    np.testing.assert_allclose(y.tensor, ref, atol=1e-6)
    assert m.evaluate_output_shape(x.shape) == y.shape


def test_pool_output_size_follows_torch():
    assert pool_output_size(6, 3, 2, 0, 1, False) == 2
    assert pool_output_size(6, 3, 2, 0, 1, True) == 3
    # the last window must start inside the input or its left padding
    assert pool_output_size(5, 2, 2, 1, 1, True) == 3
    assert pool_output_size(7, 3, 1, 0, 2, False) == 3


def test_induced_norm_pool_values(rng):
    t = induced_type(C8)  # blocks: 2 x 2, 4 x 1, 2 x 2
    m = nn.InducedNormPool(t)
    assert m.out_type == nn.FieldType(C8, [C8.trivial_repr] * 3)
    x = rand(t, rng, batch=2, size=3)
    xn = np.asarray(x.tensor)
    ref = []
    for r, s, e in zip(t.representations, t.fields_start, t.fields_end):
        d = r.induced_from[1].size
        blocks = xn[:, s:e].reshape(2, r.size // d, d, 3, 3)
        ref.append(np.sqrt((blocks**2).sum(2)).max(1))
    np.testing.assert_allclose(run(m, x).tensor, np.stack(ref, 1), rtol=1e-6)
    # no base space works too
    gs0 = gspaces.no_base_space(C8.fibergroup)
    t0 = nn.FieldType(gs0, list(t.representations))
    x0 = rand(t0, rng, batch=3)
    assert len(assert_equivariant(nn.InducedNormPool(t0), x0)) == 8


def test_max_pool_channels(rng):
    for gs in (C4, D4, C8):
        # on regular fields, pooling over each field's channels is group pooling
        t = nn.FieldType(gs, [gs.regular_repr] * 3)
        x = rand(t, rng, size=5)
        order = len(gs.fibergroup.elements)
        mpc = nn.MaxPoolChannels(order)
        expected = np.asarray(x.tensor).reshape(2, 3, order, 5, 5).max(axis=2)
        np.testing.assert_array_equal(mpc(x.tensor), expected)
        if gs is D4:
            np.testing.assert_array_equal(mpc(x.tensor), nn.GroupPooling(t)(x).tensor)
        if gs is D4:
            triv = nn.FieldType(gs, [gs.trivial_repr] * 3)
            assert_equivariant(lambda v, mpc=mpc, triv=triv: nn.GeometricTensor(mpc(v.tensor), triv), x)
    # a grouping that cuts across fields' orbits is not invariant
    t = nn.FieldType(C4, [C4.regular_repr] * 2)
    x = rand(t, rng, size=5)
    half = nn.FieldType(C4, [C4.trivial_repr] * 4)
    with pytest.raises(AssertionError, match="not equivariant"):
        assert_equivariant(lambda v: nn.GeometricTensor(nn.MaxPoolChannels(2)(v.tensor), half), x)
    # other layouts: feature vectors, an explicit channel axis; jit and grad
    v = jnp.arange(24.0).reshape(2, 12)
    np.testing.assert_array_equal(nn.MaxPoolChannels(3, channel_axis=-1)(v), v[:, 2::3])
    g = jax.grad(lambda a: jnp.sum(eqx.filter_jit(nn.MaxPoolChannels(4))(a)))(x.tensor)
    assert float(g.sum()) == 2 * 2 * 25


# -- modes, transformations, export -------------------------------------------------------------------------
def test_batchnorm_batched_equals_vmapped_and_needs_a_batch(rng):
    a = any_type(D4)
    bn, state = eqx.nn.make_with_state(nn.GNormBatchNorm)(a, axis_name="batch")
    x = _shifted(rand(a, rng, batch=4, size=5))
    y1, s1 = run(bn, x, clone(state))
    vmapped = jax.vmap(bn, axis_name="batch", in_axes=(0, None), out_axes=(0, None))
    y2, s2 = jax.jit(lambda x, s: vmapped(x, s))(x, clone(state))
    np.testing.assert_allclose(y1.tensor, y2.tensor, atol=1e-5)
    for u, v in zip(jax.tree.leaves(s1), jax.tree.leaves(s2)):
        np.testing.assert_allclose(u, v, rtol=1e-5)
    for m in (nn.GNormBatchNorm(a), nn.InducedNormBatchNorm(induced_type(C8))):
        st = eqx.nn.State(m)
        xi = rand(m.in_type, rng, batch=(), size=3)
        with pytest.raises(ValueError, match="needs a batch"):
            run(m, xi, clone(st))
    # inference needs none (eqx.nn.inference_mode, eval() and the call's `inference` agree)
    m = nn.GNormBatchNorm(a)
    xi = rand(a, rng, batch=(), size=3)
    y = run(eqx.nn.inference_mode(m), xi, eqx.nn.State(m))[0]
    np.testing.assert_array_equal(y.tensor, run(m, xi, eqx.nn.State(m), inference=True)[0].tensor)
    assert m.eval().inference and not m.eval().train().inference


@eqx.filter_jit
def _all_ways(m, inp):
    """Batched call, vmapped call, export and input gradient, in one compilation."""
    y = m(inp).tensor
    yv = jax.vmap(m)(inp).tensor
    ye = m.export()(inp.tensor)
    gx = jax.grad(lambda t: jnp.sum(jnp.sin(m(nn.GeometricTensor(t, inp.type)).tensor)))(inp.tensor)
    return y, yv, ye, gx


def test_jit_grad_vmap_export(rng):
    a, ind = any_type(C4), induced_type(C4)
    x = _shifted(rand(a, rng, batch=3, size=5))
    xi = rand(ind, rng, batch=3, size=5)

    @eqx.filter_jit
    @eqx.filter_grad
    def grad_bn(m, inp, st):
        return jnp.sum(jnp.sin(m(inp, st)[0].tensor))

    for cls, inp in ((nn.GNormBatchNorm, x), (nn.InducedNormBatchNorm, xi)):
        # built with make_with_state, every inexact leaf is a parameter; statistics live in the state
        m, state = eqx.nn.make_with_state(cls)(inp.type)
        leaves = jax.tree.leaves(eqx.filter(m, eqx.is_inexact_array))
        assert sum(leaf.size for leaf in leaves) == m.weight.size + (0 if m.bias is None else m.bias.size)
        g = grad_bn(m, inp, clone(state))
        assert jnp.all(jnp.isfinite(g.weight)) and jnp.any(g.weight != 0)
    for m, inp in (
        (_randomise(nn.FieldNorm(a), rng), x),
        (nn.NormMaxPool(a, 3, 2, 1), x),
        (nn.InducedNormPool(ind), xi),
    ):
        y, yv, ye, gx = _all_ways(m, inp)
        np.testing.assert_allclose(yv, y, atol=1e-5)
        np.testing.assert_allclose(ye, y, atol=1e-5)
        assert jnp.all(jnp.isfinite(gx)) and jnp.any(gx != 0), type(m).__name__
        assert m.evaluate_output_shape(inp.shape) == y.shape
    g = eqx.filter_jit(eqx.filter_grad(lambda m: jnp.sum(jnp.sin(m(x).tensor))))(_randomise(nn.FieldNorm(a), rng))
    assert jnp.all(jnp.isfinite(g.weight)) and jnp.all(jnp.isfinite(g.bias)) and jnp.any(g.bias != 0)
    # a zero input has finite gradients
    zero = jnp.zeros((1, ind.size, 3, 3))
    gz = jax.jit(jax.grad(lambda t: jnp.sum(nn.InducedNormPool(ind)(nn.GeometricTensor(t, ind)).tensor)))(zero)
    assert jnp.all(jnp.isfinite(gz))


def test_float64(rng):
    with jax.enable_x64(True):
        total, fn = _joint(O2, rng)
        x = rand(total, rng, batch=2, size=5, dtype=jnp.float64)
        assert jax.eval_shape(fn, x).tensor.dtype == jnp.float64
        assert_equivariant(fn, x, atol=1e-12, rtol=1e-12)
        for m in (nn.GNormBatchNorm(any_type(O2)), nn.FieldNorm(any_type(O2))):
            assert m.weight.dtype == jnp.float64 and m.bias.dtype == jnp.float64
        assert all(s.dtype == jnp.float64 for s in jax.tree.leaves(eqx.nn.State(nn.GNormBatchNorm(any_type(O2)))))
        pool = nn.NormMaxPool(any_type(O2), 3, 2, 1)
        xa = rand(pool.in_type, rng, batch=2, size=5, dtype=jnp.float64)
        assert jax.eval_shape(pool, xa).tensor.dtype == jnp.float64
        assert_equivariant(pool, xa, atol=1e-12, rtol=1e-12)
        assert nn.MaxPoolChannels(2)(xa.tensor[:, :4]).dtype == jnp.float64
    # float32 parameters follow the input's dtype: a float32 input stays float32
    a = any_type(C4)
    assert run(nn.FieldNorm(a), rand(a, rng, size=3)).tensor.dtype == jnp.float32


# -- bad input ----------------------------------------------------------------------------------------------
_V = nn.FieldType(C4, [C4.irrep(1)])
_IND = induced_type(C4)


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: nn.GNormBatchNorm("C4"), TypeError, "`in_type`"),
        (lambda: nn.GNormBatchNorm(_V, eps=0), ValueError, "`eps`"),
        (lambda: nn.GNormBatchNorm(_V, momentum=1.5), ValueError, "`momentum`"),
        (lambda: nn.GNormBatchNorm(_V, affine="yes"), TypeError, "`affine`"),
        (lambda: nn.InducedNormBatchNorm(_V), ValueError, "induced representations"),
        (
            lambda: nn.InducedNormBatchNorm(
                nn.FieldType(
                    C4, [C4.fibergroup.induced_representation(1, C4.fibergroup.subgroup(1)[0].trivial_representation)]
                )
            ),
            ValueError,
            "without the trivial irrep",
        ),
        (lambda: nn.FieldNorm(_V, eps=-1.0), ValueError, "`eps`"),
        (lambda: nn.FieldNorm([C4.irrep(1)]), TypeError, "`in_type`"),
        (lambda: nn.FieldNorm(_V)(jnp.zeros((2, 2, 3, 3))), TypeError, "GeometricTensor"),
        (
            lambda: nn.FieldNorm(_V)(nn.FieldType(C4, [C4.trivial_repr] * 2)(jnp.zeros((2, 3, 3)))),
            ValueError,
            "expects",
        ),
        (lambda: nn.NormMaxPool(_V, 0), ValueError, "`kernel_size`"),
        (lambda: nn.NormMaxPool(_V, 3, dilation=0), ValueError, "`dilation`"),
        (lambda: nn.NormMaxPool(_V, 3, padding=2), ValueError, "`padding`"),
        (lambda: nn.NormMaxPool(_V, 3, ceil_mode=1), TypeError, "`ceil_mode`"),
        (
            lambda: nn.NormMaxPool(nn.FieldType(gspaces.no_base_space(C4.fibergroup), [C4.irrep(1)]), 2),
            ValueError,
            "plane",
        ),
        (lambda: nn.NormMaxPool(_V, 5)(_V(jnp.zeros((2, 3, 3)))), ValueError, "larger than the padded input"),
        (lambda: nn.InducedNormPool(_V), ValueError, "induced representations"),
        (lambda: nn.InducedNormPool(_IND)(_V(jnp.zeros((2, 3, 3)))), ValueError, "expects"),
        (lambda: nn.MaxPoolChannels(0), ValueError, "`kernel_size`"),
        (lambda: nn.MaxPoolChannels(2, channel_axis=1.5), ValueError, "`channel_axis`"),
        (lambda: nn.MaxPoolChannels(3)(jnp.zeros((4, 5, 5))), ValueError, "not a multiple of `kernel_size`"),
        (lambda: nn.MaxPoolChannels(2, channel_axis=3)(jnp.zeros((4, 5, 5))), ValueError, "out of range"),
    ],
)
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
