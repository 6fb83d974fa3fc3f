import jax
import jax.numpy as jnp
import numpy as np
import pytest

from equijax import gspaces, nn
from equijax.group import directsum


@pytest.fixture
def gs():
    return gspaces.flipRot2dOnR2(4)


def test_field_type_basics(gs):
    reg, triv, v = gs.regular_repr, gs.trivial_repr, gs.irrep(1, 1)
    t = nn.FieldType(gs, [reg, triv, v, reg])
    assert t.size == 8 + 1 + 2 + 8 and len(t) == 4
    np.testing.assert_array_equal(t.fields_start, [0, 8, 9, 11])
    np.testing.assert_array_equal(t.fields_end, [8, 9, 11, 19])
    assert t == nn.FieldType(gs, [reg, triv, v, reg]) and hash(t) == hash(nn.FieldType(gs, [reg, triv, v, reg]))
    assert t != nn.FieldType(gs, [reg, triv, reg, v])
    s = t + nn.FieldType(gs, [triv])
    assert s.size == 20 and s.representations[-1] == triv
    assert t.index_select([2, 0]).representations == (v, reg)
    assert [r.size for r in t.sorted()] == [1, 2, 8, 8]
    parts = t.group_by_labels(["a", "b", "a", "b"])
    assert parts["a"].representations == (reg, v) and parts["b"].representations == (triv, reg)
    assert t.representation == directsum([reg, triv, v, reg], name=repr(t))
    assert t.testing_elements() == gs.testing_elements()
    with pytest.raises(AttributeError):
        t.gspace = None


def test_field_type_restrict(gs):
    t = nn.FieldType(gs, [gs.regular_repr, gs.irrep(1, 1)])
    r = t.restrict((None, 4))
    assert r.gspace == gspaces.rot2dOnR2(4) and r.size == t.size
    x = np.random.default_rng(0).normal(size=(t.size, 5, 5))
    # the same channels transform the same way under the subgroup
    H, inc, _ = gs.fibergroup.subgroup((None, 4))
    for h in H.elements:
        np.testing.assert_allclose(r.transform(x, h), t.transform(x, inc(h)), atol=1e-12)


def test_transform_is_an_action(gs):
    t = nn.FieldType(gs, [gs.regular_repr, gs.irrep(1, 1), gs.trivial_repr])
    x = np.random.default_rng(0).normal(size=(2, t.size, 7, 7))
    for g in gs.testing_elements():
        for h in gs.testing_elements():
            np.testing.assert_allclose(t.transform(x, g @ h), t.transform(t.transform(x, h), g), atol=1e-12)
    # regular fields of C4 rotate their channels cyclically
    c4 = gspaces.rot2dOnR2(4)
    tr = nn.FieldType(c4, [c4.regular_repr])
    v = np.zeros((4, 1, 1))
    v[0] = 1
    out = tr.transform_fibers(v, c4.fibergroup.element(1))
    np.testing.assert_allclose(out[:, 0, 0], [0, 1, 0, 0], atol=1e-12)


def test_geometric_tensor_pytree_and_ops(gs, getkey):
    t = nn.FieldType(gs, [gs.regular_repr, gs.trivial_repr])
    a = nn.GeometricTensor(jax.random.normal(getkey(), (3, 2, t.size, 5, 5)), t)
    b = t(jax.random.normal(getkey(), (3, 2, t.size, 5, 5)))
    assert a.shape == (3, 2, 9, 5, 5) and a.batch_shape == (3, 2)
    leaves, treedef = jax.tree_util.tree_flatten(a)
    assert len(leaves) == 1 and leaves[0] is a.tensor
    np.testing.assert_allclose((a + b).tensor, a.tensor + b.tensor)
    np.testing.assert_allclose((a - b).tensor, a.tensor - b.tensor)
    np.testing.assert_allclose((2.0 * a).tensor, 2 * a.tensor)
    np.testing.assert_allclose((-a / 2).tensor, -a.tensor / 2)
    assert a[0].shape == (2, 9, 5, 5) and a[1:, 0].shape == (2, 9, 5, 5)
    # the third index is the field axis (escnn's semantics: it counts fields, not channels)
    assert a[0, 0, 0].shape == (8, 5, 5) and a[0, 0, 0].type == t.index_select([0])
    with pytest.raises(IndexError, match="2 fields"):
        a[0, 0, 2]
    # crosses jit, vmap, grad, scan and tree_map
    f = jax.jit(lambda x: x * 3.0)
    assert f(a).type == t
    v = jax.vmap(lambda x: nn.GeometricTensor(x.tensor + 1, x.type))(a)
    assert v.type == t and v.shape == a.shape
    g = jax.grad(lambda x: jnp.sum(x.tensor**2))(a)
    np.testing.assert_allclose(g.tensor, 2 * a.tensor, rtol=1e-6)
    carry, _ = jax.lax.scan(lambda c, _: (c + a, None), a, None, length=2)
    np.testing.assert_allclose(carry.tensor, 3 * a.tensor, rtol=1e-6)
    assert jax.tree.map(lambda z: z * 0, a).type == t


def test_split_and_directsum(gs, getkey):
    t = nn.FieldType(gs, [gs.regular_repr, gs.trivial_repr, gs.irrep(1, 1)])
    x = t(jax.random.normal(getkey(), (2, t.size, 5, 5)))
    parts = x.split([None, 1, None])
    assert [p.type.size for p in parts] == [8, 3]
    back = nn.tensor_directsum(parts)
    assert back.type == t
    np.testing.assert_array_equal(back.tensor, x.tensor)
    with pytest.raises(ValueError, match="`breakpoints`"):
        x.split([2, 1])


def test_geometric_tensor_transform_and_restrict(gs, getkey):
    t = nn.FieldType(gs, [gs.regular_repr])
    x = t(jax.random.normal(getkey(), (t.size, 5, 5)))
    g = gs.fibergroup.element((1, 1))
    np.testing.assert_allclose(x.transform(g).tensor, t.transform(np.asarray(x.tensor), g), atol=1e-6)
    r = x.restrict((None, 4))
    assert r.type.gspace == gspaces.rot2dOnR2(4)
    np.testing.assert_array_equal(r.tensor, x.tensor)


def test_no_base_space_tensor():
    g0 = gspaces.no_base_space(gspaces.rot2dOnR2(4).fibergroup)
    t = nn.FieldType(g0, [g0.regular_repr, g0.trivial_repr])
    x = t(jnp.ones((7, 5)))
    assert x.shape == (7, 5) and x.batch_shape == (7,)
    g = g0.fibergroup.element(1)
    np.testing.assert_allclose(x.transform(g).tensor, np.ones((7, 5)), atol=1e-6)


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda gs: nn.FieldType("gs", []), TypeError, "`gspace`"),
        (lambda gs: nn.FieldType(gs, gs.regular_repr), TypeError, "`representations`"),
        (lambda gs: nn.FieldType(gs, [gspaces.rot2dOnR2(4).regular_repr]), ValueError, "`representations` contains"),
        (
            lambda gs: nn.GeometricTensor(jnp.zeros((2, 7, 5, 5)), nn.FieldType(gs, [gs.regular_repr])),
            ValueError,
            r"`tensor` of shape \(2, 7, 5, 5\)",
        ),
        (lambda gs: nn.GeometricTensor(jnp.zeros((8,)), nn.FieldType(gs, [gs.regular_repr])), ValueError, "`tensor`"),
        (lambda gs: nn.GeometricTensor(jnp.zeros((8, 3, 3)), "regular"), TypeError, "`type`"),
        (
            lambda gs: (
                nn.FieldType(gs, [gs.regular_repr])
                + nn.FieldType(gspaces.rot2dOnR2(4), [gspaces.rot2dOnR2(4).trivial_repr])
            ),
            ValueError,
            "different gspaces",
        ),
        (lambda gs: nn.FieldType(gs, [gs.regular_repr]).index_select([3]), ValueError, "`indices`"),
        (
            lambda gs: nn.FieldType(gs, [gs.regular_repr]).transform(np.zeros((3, 5, 5)), gs.fibergroup.identity),
            ValueError,
            "`array`",
        ),
    ],
)
def test_bad_input(gs, call, exc, match):
    with pytest.raises(exc, match=match):
        call(gs)


def test_adding_tensors_of_different_types(gs):
    a = nn.FieldType(gs, [gs.regular_repr])(jnp.zeros((8, 3, 3)))
    b = nn.FieldType(gs, [gs.irrep(1, 1)] * 4)(jnp.zeros((8, 3, 3)))
    with pytest.raises(ValueError, match="different types"):
        a + b
    with pytest.raises(TypeError, match="scalar"):
        a * a
