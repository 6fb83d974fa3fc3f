"""Edge cases found in review: each a regression test."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from equijax import gspaces, nn
from equijax.group import Representation, cyclic_group, dihedral_group, so2_group
from equijax.testing import assert_equivariant, random_input


def test_assert_equivariant_on_rectangular_inputs(getkey):
    gs = gspaces.flipRot2dOnR2(4)
    t = nn.FieldType(gs, [gs.regular_repr])
    conv = nn.R2Conv(t, t, 3, padding=1, key=getkey())
    x = nn.GeometricTensor(jax.random.normal(getkey(), (2, 8, 7, 9)), t)
    errs = assert_equivariant(conv, x)
    # identity, rotation by 180 degrees and the two axis reflections
    assert len(errs) == 4


def test_empty_field_type_is_rejected():
    gs = gspaces.rot2dOnR2(4)
    with pytest.raises(ValueError, match="`representations` must contain"):
        nn.FieldType(gs, [])
    x = nn.FieldType(gs, [gs.regular_repr] * 2)(jnp.zeros((8, 3, 3)))
    with pytest.raises(ValueError, match="strictly increasing"):
        x.split([0, 0, 2])


def test_restricted_gspaces_equal_direct_ones():
    for N in (4, 6, 12):
        for axis in (0.0, 1.0, math.pi / 3):
            gs = gspaces.flipRot2dOnR2(N, axis=axis)
            for M in (1, 2, N // 2):
                for k in range(N // M):
                    sub, _, _ = gs.restrict((k, M))
                    direct = gspaces.flipRot2dOnR2(M, axis=axis + math.pi * k / N)
                    assert sub == direct and hash(sub) == hash(direct)


def test_max_pool_padding_is_checked():
    gs = gspaces.rot2dOnR2(4)
    t = nn.FieldType(gs, [gs.regular_repr])
    with pytest.raises(ValueError, match="`padding`"):
        nn.PointwiseMaxPool2D(t, 2, stride=1, padding=2)


def test_parametrised_nonlinearities_are_values(getkey):
    gs = gspaces.rot2dOnR2(4)
    t = nn.FieldType(gs, [gs.regular_repr])
    a, b = nn.ELU(t, alpha=0.5), nn.ELU(t, alpha=0.5)
    assert eqx.tree_equal(a, b) is True
    assert eqx.tree_equal(nn.LeakyReLU(t, 0.2), nn.LeakyReLU(t, 0.2)) is True
    traces = []

    @eqx.filter_jit
    def f(m, x):
        traces.append(1)
        return m(x).tensor

    x = random_input(t, key=getkey(), size=5)
    f(a, x)
    f(b, x)
    assert len(traces) == 1


def test_transposed_export_for_every_accepted_configuration(getkey):
    gs = gspaces.rot2dOnR2(4)
    t = nn.FieldType(gs, [gs.regular_repr])
    with pytest.raises(ValueError, match="`output_padding`"):
        nn.R2ConvTransposed(t, t, 3, stride=1, dilation=2, output_padding=1, key=getkey())
    m = nn.R2ConvTransposed(t, t, 3, stride=3, dilation=2, output_padding=2, key=getkey())
    x = random_input(t, key=getkey(), size=5)
    np.testing.assert_allclose(jax.vmap(m.export())(x.tensor), m(x).tensor, atol=1e-5)


def test_small_fixes():
    # matrices_from_params takes plain lists
    m = so2_group(4).irrep(2).matrices_from_params([0, 0], [0.1, 0.2])
    assert m.shape == (2, 2, 2)
    # cached element lists cannot be corrupted by callers
    G = cyclic_group(4)
    G.elements.append(None)
    assert len(G.elements) == 4
    # tags must be a collection of strings
    with pytest.raises(TypeError, match="`supported_nonlinearities`"):
        Representation(G, [(0,)], supported_nonlinearities="pointwise")
    # integer arrays are promoted, not truncated
    gs = gspaces.rot2dOnR2(8)
    t = nn.FieldType(gs, [gs.irrep(1)])
    out = t.transform_fibers(np.ones((2, 1, 1), dtype=np.int64), gs.fibergroup.element(1))
    np.testing.assert_allclose(out[:, 0, 0], [0.0, math.sqrt(2)], atol=1e-12)
    assert not t.fields_start.flags.writeable
    # dihedral restriction angles are canonical
    assert dihedral_group(4).subgroup((1, 2))[0] == dihedral_group(2)
