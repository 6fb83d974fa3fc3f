"""The helpers of `equijax.nn._misc` that the layers share since issue 14's re-cut: the bool
and same-gspace checks, the trivial output type of the field pools, the parameter
initialisation of `R2Conv` / `Linear`, and the grouped maximum of `GroupPooling` /
`InducedNormPool`; and the pools and dropouts built on one shared base."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from equijax import gspaces, nn
from equijax.nn import _misc

C4 = gspaces.rot2dOnR2(4)


def test_check_bool():
    assert _misc.check_bool(True, "affine") is True
    with pytest.raises(TypeError, match=r"^`affine` \(=1\) must be a bool$"):
        _misc.check_bool(1, "affine")
    with pytest.raises(TypeError, match=r"^`affine` \(=(np\.)?True_?\) must be a bool$"):
        _misc.check_bool(np.bool_(True), "affine")
    assert _misc.check_bool(np.bool_(True), "recompute", numpy=True)


def test_check_same_gspace():
    D4 = gspaces.flipRot2dOnR2(4)
    a, b = nn.FieldType(C4, [C4.trivial_repr]), nn.FieldType(D4, [D4.trivial_repr])
    _misc.check_same_gspace(a, a)
    with pytest.raises(ValueError, match="`in_type` and `out_type` live on different gspaces"):
        _misc.check_same_gspace(a, b)


def test_trivial_type():
    t = nn.FieldType(C4, [C4.regular_repr, C4.irrep(1)])
    out = _misc.trivial_type(t)
    assert out == nn.FieldType(C4, [C4.trivial_repr] * 2)


def test_init_plan_parameters_groups_repeat_the_std():
    t = nn.FieldType(C4, [C4.regular_repr])
    conv = nn.R2Conv(t, t, 3, key=jax.random.PRNGKey(0))
    w1, b1 = _misc.init_plan_parameters(conv.plan, True, True, jnp.float32, jax.random.PRNGKey(0))
    w2, b2 = _misc.init_plan_parameters(conv.plan, True, True, jnp.float32, jax.random.PRNGKey(0), groups=2)
    assert w2.shape == (2 * w1.shape[0],) and b2.shape == (2 * b1.shape[0],)
    np.testing.assert_array_equal(w1, conv.weights)
    w0, _ = _misc.init_plan_parameters(conv.plan, False, False, jnp.float32, jax.random.PRNGKey(0))
    assert not np.any(np.asarray(w0))
    assert _misc.init_plan_parameters(conv.plan, True, False, jnp.float32, jax.random.PRNGKey(0))[1] is None


def test_max_over_field_groups_keeps_field_order():
    t = jnp.arange(10.0).reshape(1, 10)
    # fields 0 and 2 (two channels each) are reduced together, field 1 (four channels) alone
    groups = [([0, 2], np.array([0, 1, 4, 5]), 2), ([1], np.array([6, 7, 8, 9]), 4)]
    np.testing.assert_array_equal(_misc.max_over_field_groups(t, 1, groups), [[1.0, 9.0, 5.0]])
    np.testing.assert_array_equal(_misc.max_over_field_groups(t[:, :4], 1, [([0, 1], None, 2)]), [[1.0, 3.0]])


@pytest.mark.parametrize("cls", [nn.GroupPooling, nn.NormPool])
def test_field_pools_keep_one_trivial_channel_per_field(cls):
    t = nn.FieldType(C4, [C4.regular_repr, C4.trivial_repr, C4.regular_repr])
    pool = cls(t)
    assert pool.out_type == _misc.trivial_type(t)
    x = nn.GeometricTensor(jnp.asarray(np.random.default_rng(0).standard_normal((2, t.size, 3, 3)), jnp.float32), t)
    y = pool(x)
    assert y.shape == (2, 3, 3, 3)
    ref = np.max if cls is nn.GroupPooling else (lambda a, axis: np.linalg.norm(a, axis=axis))
    xs = np.asarray(x.tensor)
    np.testing.assert_allclose(y.tensor[:, 0], ref(xs[:, 0:4], axis=1), rtol=1e-6)
    np.testing.assert_allclose(y.tensor[:, 2], ref(xs[:, 5:9], axis=1), rtol=1e-6)
    with pytest.raises(TypeError, match=r"^`in_type` \(=3\) must be a FieldType$"):
        cls(3)


@pytest.mark.parametrize("cls", [nn.FieldDropout, nn.PointwiseDropout])
def test_dropouts_check_their_arguments_in_order(cls):
    t = nn.FieldType(C4, [C4.regular_repr])
    with pytest.raises(TypeError, match=r"^`in_type` \(=3\) must be a FieldType$"):
        cls(3, p=2.0, inference=1)
    with pytest.raises(TypeError, match=r"^`inference` \(=1\) must be a bool$"):
        cls(t, p=2.0, inference=1)
    with pytest.raises(ValueError, match=r"^`p` \(=2.0\) must be a dropout probability"):
        cls(t, p=2.0)
    m = cls(t, 0.25, True)
    assert (m.p, m.inference, m.in_type, m.out_type) == (0.25, True, t, t)
