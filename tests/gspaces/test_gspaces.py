import math
import pickle

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from equijax import gspaces
from equijax.group import cyclic_group, dihedral_group, o2_group, so2_group


def test_factories_follow_escnn():
    assert gspaces.rot2dOnR2(8).fibergroup == cyclic_group(8)
    assert gspaces.rot2dOnR2().fibergroup == so2_group(6)
    assert gspaces.rot2dOnR2(-1, maximum_frequency=3).fibergroup == so2_group(3)
    assert gspaces.flipRot2dOnR2(4).fibergroup == dihedral_group(4)
    assert gspaces.flipRot2dOnR2(-1, 5).fibergroup == o2_group(5)
    # as in escnn, the reflection group is C_2 (its element 1 is the reflection)
    assert gspaces.flipRot2dOnR2(1).fibergroup == cyclic_group(2)
    assert gspaces.flip2dOnR2().fibergroup == cyclic_group(2)
    assert gspaces.flipRot2dOnR2(1) == gspaces.flip2dOnR2()
    assert gspaces.trivialOnR2().fibergroup == cyclic_group(1)
    # escnn's default reflection axis is pi/2: x -> -x
    gs = gspaces.flipRot2dOnR2(4)
    np.testing.assert_allclose(gs.action_matrix(gs.fibergroup.element((1, 0))), np.diag([-1.0, 1.0]), atol=1e-15)
    gs0 = gspaces.flipRot2dOnR2(4, axis=0.0)
    np.testing.assert_allclose(gs0.action_matrix(gs0.fibergroup.element((1, 0))), np.diag([1.0, -1.0]), atol=1e-15)
    assert gs.sg_id == (math.pi, 4) and gs0.sg_id == (0.0, 4)
    assert gs.dimensionality == 2 and gs.rotations_order == 4 and gs.flips_order == 1


def test_gspaces_are_values():
    assert gspaces.rot2dOnR2(8) is gspaces.rot2dOnR2(8)
    assert gspaces.rot2dOnR2(8, maximum_frequency=3) == gspaces.rot2dOnR2(8)  # irrelevant for finite groups
    assert gspaces.rot2dOnR2(-1, 3) != gspaces.rot2dOnR2(-1, 4)
    assert gspaces.flipRot2dOnR2(4, axis=0.0) != gspaces.flipRot2dOnR2(4)
    assert gspaces.flipRot2dOnR2(4, axis=math.pi) == gspaces.flipRot2dOnR2(4, axis=0.0)  # the same line
    assert len({gspaces.rot2dOnR2(4), gspaces.rot2dOnR2(4), gspaces.flipRot2dOnR2(4)}) == 2
    for gs in (gspaces.rot2dOnR2(8), gspaces.flipRot2dOnR2(-1, 4), gspaces.no_base_space(cyclic_group(3))):
        assert pickle.loads(pickle.dumps(gs)) == gs
    with pytest.raises(AttributeError):
        gspaces.rot2dOnR2(4).fibergroup = None


def test_representation_shortcuts():
    gs = gspaces.flipRot2dOnR2(4)
    assert gs.trivial_repr == dihedral_group(4).trivial_representation
    assert gs.regular_repr.size == 8
    assert gs.irrep(1, 1).size == 2
    assert gs.quotient_repr((None, 4)).size == 2
    assert [p.id for p in gs.irreps] == [p.id for p in dihedral_group(4).irreps()]
    assert gs.testing_elements() == dihedral_group(4).elements


@pytest.mark.parametrize(
    "gs",
    [gspaces.rot2dOnR2(n) for n in (1, 4, 6, 8)]
    + [gspaces.flipRot2dOnR2(n) for n in (1, 2, 4, 5)]
    + [gspaces.flipRot2dOnR2(3, axis=0.4), gspaces.rot2dOnR2(-1), gspaces.flipRot2dOnR2(-1)],
    ids=repr,
)
def test_basespace_action_is_a_representation_and_matches_matrices(gs):
    els = gs.testing_elements()[:16]
    A = gs.action_matrices(els)
    np.testing.assert_allclose(A, gs.basespace_action.matrices(els), atol=1e-12)
    for g, a in zip(els, A):
        for h, b in zip(els, A):
            np.testing.assert_allclose(gs.action_matrix(g @ h), a @ b, atol=1e-12)
        np.testing.assert_allclose(abs(np.linalg.det(a)), 1.0)


def test_restrict():
    gs = gspaces.flipRot2dOnR2(8)
    sub, inc, res = gs.restrict((None, 4))
    assert sub == gspaces.rot2dOnR2(4)
    sub, inc, res = gs.restrict((0, 4))
    assert sub == gspaces.flipRot2dOnR2(4)
    sub, inc, res = gs.restrict((1, 4))
    assert sub.fibergroup == dihedral_group(4) and sub != gspaces.flipRot2dOnR2(4)
    # the restricted gspace moves points exactly as the parent does on the included elements
    for h in sub.testing_elements():
        np.testing.assert_allclose(sub.action_matrix(h), gs.action_matrix(inc(h)), atol=1e-12)
    sub, inc, _ = gs.restrict((0, 1))
    assert sub == gspaces.flip2dOnR2()
    so2, _, _ = gspaces.flipRot2dOnR2(-1, 6).restrict((None, -1))
    assert so2 == gspaces.rot2dOnR2(-1, 6)
    c4, _, _ = gspaces.rot2dOnR2(-1, 6).restrict(4)
    assert c4 == gspaces.rot2dOnR2(4)
    with pytest.raises(ValueError, match="`subgroup_id`"):
        gs.restrict((None, 3))
    z, _, _ = gspaces.no_base_space(dihedral_group(4)).restrict((None, 2))
    assert z == gspaces.no_base_space(cyclic_group(2))


def test_transform_grid_exact_matches_rot90_and_flips():
    x = np.arange(2 * 5 * 5, dtype=float).reshape(2, 5, 5)
    gs = gspaces.flipRot2dOnR2(4)
    G = gs.fibergroup
    for k in range(4):
        np.testing.assert_array_equal(gs.transform_grid(x, G.element((0, k))), np.rot90(x, k, axes=(-2, -1)))
    # the reflection x -> -x mirrors the columns
    np.testing.assert_array_equal(gs.transform_grid(x, G.element((1, 0))), x[..., ::-1])
    gs0 = gspaces.flipRot2dOnR2(4, axis=0.0)
    np.testing.assert_array_equal(gs0.transform_grid(x, gs0.fibergroup.element((1, 0))), x[..., ::-1, :])
    # a group action on signals
    for g in G.elements:
        for h in G.elements:
            np.testing.assert_array_equal(gs.transform_grid(x, g @ h), gs.transform_grid(gs.transform_grid(x, h), g))
    # rectangular grids: flips and 180 degrees stay exact
    r = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(gs.transform_grid(r, G.element((0, 2))), r[::-1, ::-1])


def test_transform_grid_moves_points_as_the_action():
    # a single bright pixel at (x, y) = (2, 1) lands at A (2, 1)
    gs = gspaces.rot2dOnR2(4)
    x = np.zeros((7, 7))
    c = 3
    x[c - 1, c + 2] = 1.0
    g = gs.fibergroup.element(1)
    y = gs.transform_grid(x, g)
    px, py = gs.action_matrix(g) @ np.array([2.0, 1.0])
    assert y[c - int(round(py)), c + int(round(px))] == 1.0


def test_transform_grid_interpolates_other_angles():
    gs = gspaces.rot2dOnR2(8)
    n = 33
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    X, Y = j - 16.0, 16.0 - i
    blob = np.exp(-((X - 5) ** 2 + (Y - 2) ** 2) / 18)  # smooth bump off the centre
    g = gs.fibergroup.element(1)  # 45 degrees
    moved = gs.transform_grid(blob, g)
    a = gs.action_matrix(g)
    cx, cy = a @ np.array([5.0, 2.0])
    expected = np.exp(-((X - cx) ** 2 + (Y - cy) ** 2) / 18)
    assert np.abs(moved - expected).max() < 0.03
    # negative control: the bump rotated the other way is far off
    wx, wy = a.T @ np.array([5.0, 2.0])
    assert np.abs(moved - np.exp(-((X - wx) ** 2 + (Y - wy) ** 2) / 18)).max() > 0.5
    # rotating by 45 degrees eight times comes back (up to interpolation blur)
    out = blob
    for _ in range(8):
        out = gs.transform_grid(out, g)
    assert np.abs(out - blob).max() < 0.2


def test_transform_grid_works_on_jax_arrays_under_jit():
    gs = gspaces.flipRot2dOnR2(8)
    x = jnp.arange(2 * 9 * 9, dtype=jnp.float32).reshape(2, 9, 9)
    for g in [gs.fibergroup.element((0, 2)), gs.fibergroup.element((1, 1))]:
        out = jax.jit(lambda a, g=g: gs.transform_grid(a, g))(x)
        np.testing.assert_allclose(np.asarray(out), gs.transform_grid(np.asarray(x), g), rtol=1e-5, atol=1e-4)
        assert out.dtype == jnp.float32


def test_no_base_space():
    gs = gspaces.no_base_space(dihedral_group(3))
    assert gs.dimensionality == 0 and gs.fibergroup == dihedral_group(3)
    assert gs is gspaces.no_base_space(dihedral_group(3))
    B = gs.build_intertwiner_basis(gs.regular_repr, gs.regular_repr)
    assert B.dim == 6  # |D3|
    with pytest.raises(TypeError, match="`group`"):
        gspaces.no_base_space("D3")
    with pytest.raises(ValueError, match="acting on R\\^2"):
        from equijax.kernels import kernel_basis_on_grid

        kernel_basis_on_grid(gs, gs.trivial_repr, gs.trivial_repr, 3)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: gspaces.rot2dOnR2(0), r"`N` \(=0\)"),
        (lambda: gspaces.rot2dOnR2(-2), r"`N` \(=-2\)"),
        (lambda: gspaces.rot2dOnR2(4.0), r"`N` \(=4.0\)"),
        (lambda: gspaces.rot2dOnR2(-1, maximum_frequency=-1), r"`maximum_frequency` \(=-1\)"),
        (lambda: gspaces.flipRot2dOnR2(4, axis="x"), r"`axis` \(='x'\)"),
        (lambda: gspaces.flip2dOnR2(axis=float("nan")), r"`axis`"),
        (lambda: gspaces.rot2dOnR2(4).transform_grid(np.zeros((3, 3)), cyclic_group(8).identity), r"`g`"),
        (lambda: gspaces.rot2dOnR2(4).transform_grid(np.zeros(3), cyclic_group(4).identity), r"`x`"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
