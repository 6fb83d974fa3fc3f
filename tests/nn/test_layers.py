"""Nonlinearities, batch norms, pooling and structural modules: equivariance (train and
inference mode) with negative controls, jit/grad/vmap, and bad input."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from equijax import gspaces, nn
from equijax.testing import assert_equivariant, random_input

GSPACES = [gspaces.rot2dOnR2(4), gspaces.flipRot2dOnR2(4), gspaces.rot2dOnR2(8)]


def clone(state):
    leaves, treedef = jax.tree_util.tree_flatten(state)
    return jax.tree_util.tree_unflatten(treedef, leaves)


def pointwise_type(gs):
    return nn.FieldType(
        gs,
        [
            gs.regular_repr,
            gs.trivial_repr,
            gs.regular_repr,
            gs.quotient_repr(2 if not gs.fibergroup.has_flips else (None, gs.fibergroup.N)),
        ],
    )


def any_type(gs):
    two = [p for p in gs.irreps if p.size == 2][0]
    return nn.FieldType(gs, [gs.regular_repr, two, gs.trivial_repr, gs.irreps[1], two])


def stateless_modules(gs):
    p, a = pointwise_type(gs), any_type(gs)
    return {
        "ReLU": nn.ReLU(p),
        "ELU": nn.ELU(p, alpha=0.5),
        "LeakyReLU": nn.LeakyReLU(p, 0.2),
        "Pointwise(tanh)": nn.PointwiseNonLinearity(p, "p_tanh"),
        "NormNonLinearity(n_relu)": eqx.tree_at(
            lambda m: m.log_bias, nn.NormNonLinearity(a), jnp.linspace(-2.0, -0.7, len(a))
        ),
        "NormNonLinearity(n_sigmoid)": nn.NormNonLinearity(a, "n_sigmoid"),
        "NormNonLinearity(squash)": nn.NormNonLinearity(a, "squash", bias=False),
        "NormNonLinearity(n_softplus)": nn.NormNonLinearity(a, "n_softplus"),
        "MaxPool": nn.PointwiseMaxPool2D(p, 3, stride=2, padding=1),
        "AvgPool": nn.PointwiseAvgPool2D(a, 3, stride=2),
        "AvgPoolAntialiased": nn.PointwiseAvgPoolAntialiased(a, sigma=0.66, stride=2),
        "MaxPoolAntialiased": nn.PointwiseMaxPoolAntialiased2D(p, 3, stride=2, padding=1),
        "AdaptiveAvgPool": nn.PointwiseAdaptiveAvgPool2D(a, 1),
        "AdaptiveMaxPool": nn.PointwiseAdaptiveMaxPool2D(p, (1, 1)),
        "GroupPooling": nn.GroupPooling(p),
        "NormPool": nn.NormPool(a),
        "Mask": nn.MaskModule(a, 17, margin=1),
        "Identity": nn.IdentityModule(a),
    }


@pytest.mark.parametrize("gs", GSPACES, ids=repr)
def test_stateless_modules_are_equivariant(gs, getkey):
    for name, m in stateless_modules(gs).items():
        x = random_input(m.in_type, key=getkey(), batch=2, size=m._testing_input_size())
        errs = assert_equivariant(m, x)
        assert len(errs) >= 4, name
        assert assert_equivariant(m.eval(), x)


def stateful_modules(gs):
    p, a = pointwise_type(gs), any_type(gs)
    return {
        "InnerBatchNorm": nn.InnerBatchNorm(p),
        "NormBatchNorm": nn.NormBatchNorm(a),
        "IIDBatchNorm2d": nn.IIDBatchNorm2d(a),
    }


def _shift(m, key):
    """Non-trivial affine parameters and running statistics, so that checks mean something."""
    k1, k2 = jax.random.split(key)
    m = eqx.tree_at(lambda b: b.weight, m, 1 + jax.random.uniform(k1, m.weight.shape))
    return eqx.tree_at(lambda b: b.bias, m, jax.random.normal(k2, m.bias.shape))


@pytest.mark.parametrize("gs", GSPACES, ids=repr)
@pytest.mark.parametrize("inference", [False, True])
def test_batch_norms_are_equivariant(gs, inference, getkey):
    for name, m in stateful_modules(gs).items():
        m = _shift(m, getkey())
        state = eqx.nn.State(m)
        x = random_input(m.in_type, key=getkey(), batch=4, size=9)
        x = nn.GeometricTensor(3.0 + 2.0 * x.tensor, x.type)
        # running statistics from a training call, then the check in the requested mode
        _, state = m(x, state)
        m_mode = m.eval() if inference else m.train()
        errs = assert_equivariant(lambda t, m_mode=m_mode, state=state: m_mode(t, clone(state))[0], x)
        assert len(errs) >= 4, name


def test_negative_controls(getkey):
    gs = gspaces.rot2dOnR2(4)
    p = nn.FieldType(gs, 2 * [gs.regular_repr])
    x = random_input(p, key=getkey(), size=9)
    # a pooling window that is not symmetric about the grid centre breaks equivariance
    lopsided = nn.PointwiseMaxPool2D(p, 2, stride=2)
    with pytest.raises(AssertionError, match="not equivariant"):
        assert_equivariant(lopsided, x)
    # a per-channel (not per-field) nonlinearity on vector fields is not equivariant
    v = nn.FieldType(gs, 4 * [gs.irrep(1)])
    xv = random_input(v, key=getkey(), size=9)
    with pytest.raises(AssertionError, match="not equivariant"):
        assert_equivariant(lambda t: nn.GeometricTensor(jax.nn.relu(t.tensor), t.type), xv)
    # a plain batch norm in inference mode (per-channel running statistics) is not
    bn, state = eqx.nn.make_with_state(eqx.nn.BatchNorm)(8, axis_name="batch", mode="batch")
    xb = nn.GeometricTensor(x.tensor * jnp.arange(1.0, 9.0).reshape(1, 8, 1, 1), x.type)
    train = jax.vmap(bn, axis_name="batch", in_axes=(0, None), out_axes=(0, None))
    _, state = train(xb.tensor, state)
    frozen = eqx.nn.inference_mode(bn)

    def channel_bn(t):
        return nn.GeometricTensor(
            jax.vmap(frozen, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(t.tensor, clone(state))[0],
            t.type,
        )

    with pytest.raises(AssertionError, match="not equivariant"):
        assert_equivariant(channel_bn, xb)


def test_inner_batchnorm_statistics_and_state(tmp_path, getkey):
    gs = gspaces.rot2dOnR2(8)
    t = nn.FieldType(gs, [gs.regular_repr, gs.trivial_repr, gs.regular_repr])
    bn, state = eqx.nn.make_with_state(nn.InnerBatchNorm)(t, momentum=0.3)
    x = random_input(t, key=getkey(), batch=16, size=7)
    x = nn.GeometricTensor(5.0 + 3.0 * x.tensor, t)
    y, new_state = bn(x, clone(state))
    # per-field batch statistics: mean 0, variance 1
    for s, e in zip(t.fields_start, t.fields_end):
        f = y.tensor[:, s:e]
        assert abs(float(f.mean())) < 1e-5 and abs(float(f.var()) - 1) < 1e-3
    # running statistics move by the momentum towards the (unbiased) batch statistics
    mean, var = new_state.get(bn.state_index)
    field0 = x.tensor[:, 0:8]
    np.testing.assert_allclose(mean[0], 0.3 * float(field0.mean()), rtol=1e-5)
    np.testing.assert_allclose(var[0], 0.7 + 0.3 * float(jnp.var(field0, ddof=1)), rtol=1e-4)
    # inference mode uses the running statistics and leaves the state unchanged
    yi, same = bn.eval()(x, clone(new_state))
    for a, b in zip(jax.tree.leaves(same), jax.tree.leaves(new_state)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(yi.tensor[:, 0:8], (x.tensor[:, 0:8] - mean[0]) / jnp.sqrt(var[0] + 1e-5), rtol=1e-5)
    # the state round-trips through serialisation
    path = tmp_path / "state.eqx"
    eqx.tree_serialise_leaves(path, new_state)
    loaded = eqx.tree_deserialise_leaves(path, clone(state))
    for a, b in zip(jax.tree.leaves(loaded), jax.tree.leaves(new_state)):
        np.testing.assert_array_equal(a, b)


def test_batchnorm_batched_equals_vmapped(getkey):
    gs = gspaces.flipRot2dOnR2(4)
    t = nn.FieldType(gs, [gs.regular_repr] * 2)
    bn, state = eqx.nn.make_with_state(nn.InnerBatchNorm)(t, axis_name="batch")
    x = random_input(t, key=getkey(), batch=6, size=5)
    y1, s1 = bn(x, clone(state))
    y2, s2 = jax.vmap(bn, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(x, clone(state))
    np.testing.assert_allclose(y1.tensor, y2.tensor, atol=1e-5)
    for a, b in zip(jax.tree.leaves(s1), jax.tree.leaves(s2)):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_batchnorm_needs_a_batch(getkey):
    gs = gspaces.rot2dOnR2(4)
    t = nn.FieldType(gs, [gs.regular_repr])
    bn, state = eqx.nn.make_with_state(nn.InnerBatchNorm)(t)
    x = random_input(t, key=getkey(), batch=(), size=5)
    with pytest.raises(ValueError, match="needs a batch"):
        bn(x, state)
    # inference needs none
    bn.eval()(x, state)


def test_sequential(getkey):
    gs = gspaces.rot2dOnR2(4)
    a = nn.FieldType(gs, [gs.trivial_repr])
    b = nn.FieldType(gs, 4 * [gs.regular_repr])
    seq = nn.SequentialModule(
        nn.R2Conv(a, b, 3, padding=1, key=getkey()), nn.InnerBatchNorm(b), nn.ReLU(b), nn.PointwiseMaxPool2D(b, 2)
    )
    assert len(seq) == 4 and isinstance(seq[1], nn.InnerBatchNorm) and len(seq[:2]) == 2
    assert [type(m).__name__ for m in seq] == ["R2Conv", "InnerBatchNorm", "ReLU", "PointwiseMaxPool2D"]
    state = eqx.nn.State(seq)
    x = random_input(a, key=getkey(), batch=3, size=8)
    y, state = seq(x, state)
    assert y.shape == (3, 16, 4, 4)
    with pytest.raises(ValueError, match="keeps state"):
        seq(x)
    stateless = nn.SequentialModule(nn.ReLU(b), nn.GroupPooling(b))
    assert stateless(random_input(b, key=getkey())).type.size == 4
    with pytest.raises(ValueError, match="outputs .* but module '?1'? .* expects"):
        nn.SequentialModule(nn.ReLU(b), nn.ReLU(a))


def test_sequential_export_matches_inference(getkey):
    gs = gspaces.flipRot2dOnR2(4)
    a = nn.FieldType(gs, [gs.trivial_repr])
    b = nn.FieldType(gs, 3 * [gs.regular_repr])
    c = nn.FieldType(gs, [gs.regular_repr, gs.irrep(1, 1)])
    seq = nn.SequentialModule(
        nn.MaskModule(a, 13),
        nn.R2Conv(a, b, 3, padding=1, key=getkey()),
        nn.InnerBatchNorm(b),
        nn.ELU(b),
        nn.PointwiseAvgPoolAntialiased(b, 0.66, stride=2),
        nn.R2Conv(b, c, 3, key=getkey()),
        nn.NormBatchNorm(c),
        nn.NormNonLinearity(c),
        nn.PointwiseAdaptiveAvgPool2D(c, 1),
    )
    state = eqx.nn.State(seq)
    x = random_input(a, key=getkey(), batch=4, size=13)
    _, state = seq(x, state)
    y, _ = seq.eval()(x, clone(state))
    exported = seq.export(clone(state))
    np.testing.assert_allclose(jax.vmap(exported)(x.tensor), y.tensor, atol=1e-5)


def test_jit_grad_vmap_float64_subprocess():
    import subprocess
    import sys

    script = """
import jax
jax.config.update("jax_enable_x64", True)
import equinox as eqx, jax.numpy as jnp
from equijax import gspaces, nn
from equijax.testing import random_input
gs = gspaces.rot2dOnR2(4)
t = nn.FieldType(gs, [gs.regular_repr] * 2)
seq = nn.SequentialModule(nn.InnerBatchNorm(t), nn.ReLU(t), nn.PointwiseAvgPoolAntialiased(t, 0.66), nn.GroupPooling(t))
state = eqx.nn.State(seq)
x = random_input(t, key=jax.random.key(0), batch=3, size=9)
assert x.tensor.dtype == jnp.float64
y, state = eqx.filter_jit(lambda m, x, s: m(x, s))(seq, x, state)
assert y.tensor.dtype == jnp.float64, y.tensor.dtype
a = nn.FieldType(gs, [gs.regular_repr, gs.irrep(1), gs.trivial_repr])
for m in (nn.NormNonLinearity(a), nn.NormPool(a), nn.PointwiseMaxPool2D(t, 3, 2, 1), nn.ELU(t),
          nn.PointwiseAdaptiveAvgPool2D(a, 1), nn.MaskModule(a, 9), nn.PointwiseMaxPoolAntialiased2D(t, 3, 2, 1)):
    xm = random_input(m.in_type, key=jax.random.key(1), batch=2, size=9)
    assert m(xm).tensor.dtype == jnp.float64, type(m).__name__
    m.check_equivariance(key=jax.random.key(2), atol=1e-12, rtol=1e-12, input_size=9)
for m in (nn.NormBatchNorm(a), nn.IIDBatchNorm2d(a)):
    xm = random_input(a, key=jax.random.key(1), batch=2, size=9)
    assert m(xm, eqx.nn.State(m))[0].tensor.dtype == jnp.float64
print("ok")
"""
    assert subprocess.check_output([sys.executable, "-c", script]).decode().strip().endswith("ok")


def test_grad_through_layers(getkey):
    gs = gspaces.rot2dOnR2(4)
    t = nn.FieldType(gs, [gs.regular_repr] * 2 + [gs.irrep(1)])
    m = nn.NormNonLinearity(t)
    x = random_input(t, key=getkey(), size=5)
    g = eqx.filter_grad(lambda m: jnp.sum(m(x).tensor))(m)
    assert jnp.all(jnp.isfinite(g.log_bias))
    # vmap over a batch of inputs equals the batched call
    p = nn.FieldType(gs, [gs.regular_repr])
    pool = nn.PointwiseMaxPool2D(p, 3, 2, 1)
    xs = random_input(p, key=getkey(), batch=3, size=9)
    np.testing.assert_allclose(jax.vmap(pool)(xs).tensor, pool(xs).tensor)


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda gs: nn.ReLU(nn.FieldType(gs, [gs.irrep(1)])), ValueError, "act by permuting channels"),
        (lambda gs: nn.GroupPooling(nn.FieldType(gs, [gs.irrep(1)])), ValueError, "GroupPooling needs"),
        (lambda gs: nn.InnerBatchNorm(nn.FieldType(gs, [gs.irrep(1)])), ValueError, "InnerBatchNorm needs"),
        (lambda gs: nn.PointwiseNonLinearity(nn.FieldType(gs, [gs.regular_repr]), "p_nope"), ValueError, "`function`"),
        (lambda gs: nn.NormNonLinearity(nn.FieldType(gs, [gs.regular_repr]), "relu"), ValueError, "`function`"),
        (lambda gs: nn.NormNonLinearity(nn.FieldType(gs, [gs.irrep(1)]), "squash"), ValueError, "`bias` must be False"),
        (lambda gs: nn.InnerBatchNorm(nn.FieldType(gs, [gs.regular_repr]), momentum=2.0), ValueError, "`momentum`"),
        (lambda gs: nn.PointwiseMaxPool2D(nn.FieldType(gs, [gs.regular_repr]), 0), ValueError, "`kernel_size`"),
        (
            lambda gs: nn.PointwiseAvgPoolAntialiased(nn.FieldType(gs, [gs.regular_repr]), sigma=0),
            ValueError,
            "`sigma`",
        ),
        (lambda gs: nn.MaskModule(nn.FieldType(gs, [gs.regular_repr]), 0), ValueError, "`S`"),
        (
            lambda gs: nn.PointwiseMaxPool2D(nn.FieldType(gs, [gs.regular_repr]), 7)(
                nn.FieldType(gs, [gs.regular_repr])(jnp.zeros((4, 5, 5)))
            ),
            ValueError,
            "larger than the padded input",
        ),
    ],
)
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call(gspaces.rot2dOnR2(4))


@pytest.mark.parametrize(
    "function, bias, new_norm",
    [("n_relu", True, 4.0), ("n_sigmoid", True, 1 / (1 + np.exp(-4.0))), ("squash", False, 5 / 6)],
)
def test_norm_nonlinearity_values(function, bias, new_norm):
    """escnn's semantics: the norm |v| = 5 becomes f(|v| - exp(log_bias)), direction kept; zero stays zero."""
    gs = gspaces.rot2dOnR2(4)
    m = nn.NormNonLinearity(nn.FieldType(gs, [gs.irrep(1), gs.irrep(1)]), function, bias=bias)
    x = np.zeros((1, 4, 1, 1), np.float32)
    x[0, :2, 0, 0] = (3.0, 4.0)
    y = np.asarray(m(nn.GeometricTensor(jnp.asarray(x), m.in_type)).tensor)[0, :, 0, 0]
    np.testing.assert_allclose(y, [0.6 * new_norm, 0.8 * new_norm, 0.0, 0.0], rtol=1e-6)
