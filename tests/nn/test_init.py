"""`equijax.nn.init`: generalised He and delta-orthogonal initialisations (statistics of the
expanded filters, orthogonality, determinism, equivariance kept, bad input)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from equijax import gspaces, nn
from equijax.group import directsum

C4, D4, C8 = gspaces.rot2dOnR2(4), gspaces.flipRot2dOnR2(4), gspaces.rot2dOnR2(8)
GSPACES = [C4, D4, C8]


def types(gs):
    two = [p for p in gs.irreps if p.size == 2][0]
    a = nn.FieldType(gs, [gs.regular_repr, two, gs.trivial_repr])
    b = nn.FieldType(gs, [gs.regular_repr, gs.regular_repr, two])
    return a, b


@jax.jit
def _filter_norms(F):
    return jnp.sum(F**2, axis=tuple(range(1, F.ndim)))


def mean_filter_norm(layer, init, n_keys=64, **kwargs):
    """The mean over keys and output channels of ``sum F[o]^2``: for uncorrelated inputs of
    unit second moment, ``E[y_o^2]``."""
    out = []
    for s in range(n_keys):
        F, _ = init(layer, jax.random.key(s), **kwargs).expand_parameters()
        out.append(np.asarray(_filter_norms(F)))
    return float(np.mean(out))


@pytest.mark.parametrize("gs", GSPACES, ids=repr)
def test_generalized_he_second_moment(gs):
    a, b = types(gs)
    conv = nn.R2Conv(a, b, 5, padding=2, key=jax.random.key(0))
    # escnn's variances: E[y^2] = E[x^2] (tolerance: 8% over 64 keys, ~7 standard errors)
    assert mean_filter_norm(conv, nn.init.generalized_he_init) == pytest.approx(1.0, rel=0.08)
    # He's ReLU factor
    assert mean_filter_norm(conv, nn.init.generalized_he_init, gain=2.0) == pytest.approx(2.0, rel=0.08)


def test_generalized_he_relu_network_output_variance():
    # conv + ReLU with gain 2 keeps the variance: Var(conv(relu(z))) ~ Var(z) (He et al.);
    # measured on outputs, 16 keys x 2 inputs of 2 x 15 x 15 pixels (tolerance 15%)
    gs = C4
    t = nn.FieldType(gs, 4 * [gs.regular_repr])
    conv = nn.R2Conv(t, t, 3, use_bias=False, key=jax.random.key(0))
    z = jnp.asarray(np.random.default_rng(0).standard_normal((2, t.size, 15, 15)), jnp.float32)
    run = eqx.filter_jit(lambda c, v: c(nn.GeometricTensor(jax.nn.relu(v), t)).tensor)
    ratios = [
        float(jnp.var(run(nn.init.generalized_he_init(conv, jax.random.key(s), gain=2.0), z)) / jnp.var(z))
        for s in range(16)
    ]
    assert np.mean(ratios) == pytest.approx(1.0, rel=0.15)
    # escnn's default (gain 1) halves it
    ratios = [
        float(jnp.var(run(nn.init.generalized_he_init(conv, jax.random.key(s)), z)) / jnp.var(z)) for s in range(16)
    ]
    assert np.mean(ratios) == pytest.approx(0.5, rel=0.15)


def test_generalized_he_linear_and_groups():
    g0 = gspaces.no_base_space(C8.fibergroup)
    a, b = types(g0)
    lin = nn.Linear(a, b, key=jax.random.key(0))
    assert mean_filter_norm(lin, nn.init.generalized_he_init) == pytest.approx(1.0, rel=0.08)
    a4, _ = types(C4)
    grouped = nn.R2Conv(a4 + a4, a4 + a4, 3, groups=2, key=jax.random.key(0))
    assert mean_filter_norm(grouped, nn.init.generalized_he_init, n_keys=32) == pytest.approx(1.0, rel=0.1)


@pytest.mark.parametrize("gs", GSPACES, ids=repr)
def test_deltaorthonormal_is_orthogonal_at_the_centre(gs):
    a, b = types(gs)
    for src, dst in ((b, b), (a, b)):
        conv = nn.init.deltaorthonormal_init(
            nn.R2Conv(src, dst, 3, padding=1, key=jax.random.key(0)), jax.random.key(1)
        )
        F = np.asarray(conv.expand_parameters()[0])
        centre = F[:, :, 1, 1]
        # zero away from the centre; orthonormal columns at the centre (orthogonal when src == dst)
        assert np.abs(F).sum() - np.abs(centre).sum() < 1e-4
        np.testing.assert_allclose(centre.T @ centre, np.eye(src.size), atol=1e-5)
        # so every pixel keeps its norm
        x = jnp.asarray(np.random.default_rng(0).standard_normal((1, src.size, 5, 5)), jnp.float32)
        y = conv(nn.GeometricTensor(x, src)).tensor
        np.testing.assert_allclose(jnp.linalg.norm(y, axis=1), jnp.linalg.norm(x, axis=1), rtol=1e-5)
    assert conv.check_equivariance(key=jax.random.key(2), input_size=9)


def test_deltaorthonormal_linear_transposed_grouped():
    g0 = gspaces.no_base_space(D4.fibergroup)
    _, b = types(g0)
    W = np.asarray(
        nn.init.deltaorthonormal_init(nn.Linear(b, b, key=jax.random.key(0)), jax.random.key(1)).expand_parameters()[0]
    )
    np.testing.assert_allclose(W.T @ W, np.eye(b.size), atol=1e-5)
    _, b4 = types(C4)
    tr = nn.init.deltaorthonormal_init(nn.R2ConvTransposed(b4, b4, 3, key=jax.random.key(0)), jax.random.key(1))
    centre = np.asarray(tr.expand_parameters()[0])[:, :, 1, 1]
    np.testing.assert_allclose(centre.T @ centre, np.eye(b4.size), atol=1e-5)
    grouped = nn.R2Conv(b4 + b4, b4 + b4, 3, groups=2, key=jax.random.key(0))
    F = np.asarray(nn.init.deltaorthonormal_init(grouped, jax.random.key(1)).expand_parameters()[0])
    for g in range(2):
        block = F[g * b4.size : (g + 1) * b4.size, :, 1, 1]
        np.testing.assert_allclose(block.T @ block, np.eye(b4.size), atol=1e-5)


@pytest.mark.parametrize("init", [nn.init.generalized_he_init, nn.init.deltaorthonormal_init])
def test_determinism_purity_and_dtype(init):
    a, b = types(C4)
    conv = nn.R2Conv(a, b, 3, key=jax.random.key(0))
    conv = eqx.tree_at(lambda c: c.bias, conv, jnp.ones_like(conv.bias))
    w0 = np.array(conv.weights)
    c1, c2, c3 = init(conv, jax.random.key(5)), init(conv, jax.random.key(5)), init(conv, jax.random.key(6))
    np.testing.assert_array_equal(c1.weights, c2.weights)
    assert not np.array_equal(c1.weights, c3.weights)
    np.testing.assert_array_equal(conv.weights, w0)  # the input module is untouched
    np.testing.assert_array_equal(c1.bias, conv.bias)  # the bias is left as it is
    assert type(c1) is nn.R2Conv and c1.weights.shape == conv.weights.shape
    # weights stay the only changed leaves, in the layer's dtype
    with jax.enable_x64(True):
        c64 = nn.R2Conv(a, b, 3, dtype=jnp.float64, key=jax.random.key(0))
        assert init(c64, jax.random.key(1)).weights.dtype == jnp.float64
    assert init(conv, jax.random.key(1)).weights.dtype == jnp.float32


@pytest.mark.parametrize("init", [nn.init.generalized_he_init, nn.init.deltaorthonormal_init])
def test_bad_input(init):
    a, _ = types(C4)
    with pytest.raises(TypeError, match="initialises R2Conv, R2ConvTransposed or Linear layers .* got ReLU"):
        init(nn.ReLU(nn.FieldType(C4, [C4.regular_repr])), jax.random.key(0))
    with pytest.raises(TypeError, match="got Conv2d"):
        init(eqx.nn.Conv2d(2, 2, 3, key=jax.random.key(0)), jax.random.key(0))
    with pytest.raises(TypeError, match="`key`"):
        init(nn.R2Conv(a, a, 3, key=jax.random.key(0)), 3)


def test_bad_gain_and_non_uniform_centre_taps():
    a, _ = types(C4)
    conv = nn.R2Conv(a, a, 3, key=jax.random.key(0))
    for gain in (0.0, -1.0, True, "2"):
        with pytest.raises(ValueError, match="`gain`"):
            nn.init.generalized_he_init(conv, jax.random.key(0), gain=gain)
    # a basis filter dropping one of the four centre couplings between the two trivial copies
    mixed = directsum([C4.irrep(1), C4.trivial_repr])
    t = nn.FieldType(C4, [C4.trivial_repr, mixed])
    lopsided = nn.R2Conv(
        t,
        t,
        3,
        basis_filter=lambda e: not (e.radius == 0 and e.in_irrep_index == 1 and e.out_irrep_index == 0),
        key=jax.random.key(0),
    )
    with pytest.raises(ValueError, match="centre taps coupling every input copy"):
        nn.init.deltaorthonormal_init(lopsided, jax.random.key(0))
