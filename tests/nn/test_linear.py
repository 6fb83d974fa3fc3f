import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from equijax import gspaces, nn
from equijax.group import cyclic_group, dihedral_group, o2_group, so2_group
from equijax.testing import assert_equivariant, random_input

GROUPS = [cyclic_group(4), dihedral_group(4), cyclic_group(8), dihedral_group(8), so2_group(4), o2_group(4)]


def linear_types(G):
    gs = gspaces.no_base_space(G)
    irreps = gs.irreps
    if G.continuous:
        a = nn.FieldType(gs, irreps + irreps[:2])
        b = nn.FieldType(gs, [gs.trivial_repr] + irreps[1:] * 2)
        return [(a, b), (b, a), (a, a)]
    reg = gs.regular_repr
    mixed = nn.FieldType(gs, [reg, gs.trivial_repr] + irreps[1:])
    return [
        (nn.FieldType(gs, [reg] * 2), nn.FieldType(gs, [reg] * 3)),
        (mixed, nn.FieldType(gs, [reg, gs.trivial_repr])),
        (nn.FieldType(gs, [gs.trivial_repr] * 3), mixed),
    ]


@pytest.mark.parametrize("G", GROUPS, ids=repr)
def test_linear_equivariance_every_testing_element(G, getkey):
    for i, o in linear_types(G):
        lin = nn.Linear(i, o, key=getkey())
        if lin.bias is not None:
            lin = eqx.tree_at(lambda m: m.bias, lin, jax.random.normal(getkey(), lin.bias.shape))
        x = random_input(i, key=getkey(), batch=5)
        errs = assert_equivariant(lin, x, elements=G.testing_elements(), atol=1e-5)
        assert len(errs) == len(G.testing_elements())


def test_linear_negative_control(getkey):
    G = dihedral_group(4)
    gs = gspaces.no_base_space(G)
    t = nn.FieldType(gs, [gs.regular_repr] * 2)
    dense = eqx.nn.Linear(16, 16, key=getkey())
    x = random_input(t, key=getkey(), batch=4)
    with pytest.raises(AssertionError, match="not equivariant"):
        assert_equivariant(lambda v: t(jax.vmap(dense)(v.tensor)), x, elements=G.testing_elements())


def test_linear_parameters_and_export(getkey):
    G = cyclic_group(8)
    gs = gspaces.no_base_space(G)
    i, o = nn.FieldType(gs, [gs.regular_repr] * 2), nn.FieldType(gs, [gs.regular_repr] * 3)
    lin = nn.Linear(i, o, key=getkey())
    # Hom(regular, regular) has dimension |G|; one bias per regular field (its trivial copy)
    assert lin.weights.shape == (2 * 3 * 8,) and lin.bias.shape == (3,)
    lin = eqx.tree_at(lambda m: m.bias, lin, jnp.arange(3.0))
    x = random_input(i, key=getkey(), batch=(2, 3))
    exported = lin.export()
    assert isinstance(exported, eqx.nn.Linear)
    np.testing.assert_allclose(jax.vmap(jax.vmap(exported))(x.tensor), lin(x).tensor, atol=1e-5)
    # batched == vmapped
    np.testing.assert_allclose(jax.vmap(lin)(x).tensor, lin(x).tensor, atol=1e-6)
    W, b = lin.expand_parameters()
    assert W.shape == (24, 16)
    # the bias is constant on each regular field (it lives on the trivial component)
    np.testing.assert_allclose(b.reshape(3, 8), np.repeat(b.reshape(3, 8)[:, :1], 8, axis=1), atol=1e-6)


def test_linear_bad_input(getkey):
    gs = gspaces.rot2dOnR2(4)
    t = nn.FieldType(gs, [gs.regular_repr])
    with pytest.raises(ValueError, match="no_base_space"):
        nn.Linear(t, t, key=getkey())
    g0 = gspaces.no_base_space(cyclic_group(4))
    t0 = nn.FieldType(g0, [g0.regular_repr])
    g1 = gspaces.no_base_space(cyclic_group(8))
    with pytest.raises(ValueError, match="different gspaces"):
        nn.Linear(t0, nn.FieldType(g1, [g1.regular_repr]), key=getkey())
    with pytest.raises(ValueError, match="share no irrep"):
        nn.Linear(nn.FieldType(g0, [g0.trivial_repr]), nn.FieldType(g0, [g0.irrep(1)]), key=getkey())
    lin = nn.Linear(t0, t0, key=getkey())
    with pytest.raises(TypeError, match="`x`"):
        lin(jnp.zeros(4))
