"""escnn's gspace vocabulary (issue 13): `testing_elements` as an iterable property,
`gspace.type(*reprs)`, `induced_repr`, and escnn's fibre groups and ids for every planar
gspace (the reflection group is C_2 with irreps ``irrep(0)`` and ``irrep(1)``)."""

import inspect
import math

import numpy as np
import pytest

from equijax import gspaces, nn
from equijax.group import cyclic_group, dihedral_group, o2_group, so2_group

PLANAR = [
    gspaces.rot2dOnR2(4),
    gspaces.rot2dOnR2(1),
    gspaces.rot2dOnR2(-1, 3),
    gspaces.flipRot2dOnR2(4),
    gspaces.flipRot2dOnR2(2),
    gspaces.flipRot2dOnR2(1),
    gspaces.flipRot2dOnR2(-1, 3),
    gspaces.flip2dOnR2(),
    gspaces.flip2dOnR2(axis=0.0),
    gspaces.trivialOnR2(),
    gspaces.no_base_space(cyclic_group(3)),
]


@pytest.mark.parametrize("gs", PLANAR, ids=repr)
def test_testing_elements_is_an_iterable_property(gs):
    # escnn: `for g in r2_act.testing_elements:`
    els = [g for g in gs.testing_elements]
    assert els == gs.fibergroup.testing_elements() and len(els) >= 1
    assert all(g.group == gs.fibergroup for g in els)
    # the older equijax form stays: calling it gives the same list, twice iterable
    assert gs.testing_elements() == els and list(gs.testing_elements) == els
    assert gs.testing_elements()[:2] == els[:2]


def test_type_builds_a_field_type():
    gs = gspaces.rot2dOnR2(4)
    t = gs.type(gs.trivial_repr, gs.regular_repr, gs.irrep(1))
    assert t == nn.FieldType(gs, [gs.trivial_repr, gs.regular_repr, gs.irrep(1)])
    assert gs.type(*[gs.regular_repr] * 3).size == 12
    # escnn's MLP notebook: a gspace with no base space
    z = gspaces.no_base_space(so2_group())
    assert z.type(so2_group().standard_representation()).size == 2
    with pytest.raises(ValueError):
        gs.type()
    with pytest.raises(ValueError):
        gs.type(gspaces.rot2dOnR2(8).regular_repr)  # another group's representation


def test_induced_repr():
    gs = gspaces.flipRot2dOnR2(4)
    H = gs.fibergroup.subgroup((None, 4))[0]
    rho = gs.induced_repr((None, 4), H.irrep(1))
    assert rho == gs.fibergroup.induced_representation((None, 4), H.irrep(1)) and rho.size == 4


# escnn's GSpace2D, case by case: (gspace, fibre group, irrep ids in order, the size of the
# regular representation (None: continuous), {quotient subgroup id: size}, {restrict id: gspace};
# None: the gspace itself)
ESCNN = [
    (
        gspaces.rot2dOnR2(8),
        cyclic_group(8),
        [(0,), (1,), (2,), (3,), (4,)],
        8,
        {2: 4, 8: 1, 1: 8},
        {4: gspaces.rot2dOnR2(4), 1: gspaces.trivialOnR2()},
    ),
    (
        gspaces.rot2dOnR2(-1, 4),
        so2_group(4),
        [(0,), (1,), (2,), (3,), (4,)],
        None,
        {},
        {4: gspaces.rot2dOnR2(4), -1: gspaces.rot2dOnR2(-1, 4)},
    ),
    (
        gspaces.flipRot2dOnR2(4),
        dihedral_group(4),
        [(0, 0), (1, 0), (1, 1), (0, 2), (1, 2)],
        8,
        {(None, 4): 2, (0, 1): 4, (1, 1): 4, (0, 2): 2},
        {
            (None, 4): gspaces.rot2dOnR2(4),
            (0, 2): gspaces.flipRot2dOnR2(2),
            (0, 1): gspaces.flip2dOnR2(),
            (2, 1): gspaces.flip2dOnR2(axis=math.pi / 2 + math.pi / 2),
            (1, 1): gspaces.flip2dOnR2(axis=math.pi / 2 + math.pi / 4),
            (None, 1): gspaces.trivialOnR2(),
        },
    ),
    (
        gspaces.flipRot2dOnR2(-1, 4),
        o2_group(4),
        [(0, 0), (1, 0), (1, 1), (1, 2), (1, 3), (1, 4)],
        None,
        {},
        {
            (None, -1): gspaces.rot2dOnR2(-1, 4),
            (None, 4): gspaces.rot2dOnR2(4),
            (0.0, 4): gspaces.flipRot2dOnR2(4),
            (0.0, 1): gspaces.flip2dOnR2(),
            (math.pi / 2, 1): gspaces.flip2dOnR2(axis=math.pi / 2 + math.pi / 4),
        },
    ),
    # the reflection group: escnn's C_2, also for flipRot2dOnR2(N=1)
    (gspaces.flip2dOnR2(), cyclic_group(2), [(0,), (1,)], 2, {1: 2, 2: 1}, {1: gspaces.trivialOnR2(), 2: None}),
    (gspaces.flipRot2dOnR2(1), cyclic_group(2), [(0,), (1,)], 2, {1: 2, 2: 1}, {1: gspaces.trivialOnR2(), 2: None}),
    (gspaces.flip2dOnR2(axis=0.0), cyclic_group(2), [(0,), (1,)], 2, {1: 2}, {1: gspaces.trivialOnR2(), 2: None}),
    (gspaces.trivialOnR2(), cyclic_group(1), [(0,)], 1, {1: 1}, {1: None}),
]


@pytest.mark.parametrize("gs, G, ids, reg, quotients, restrictions", ESCNN, ids=lambda v: repr(v)[:40])
def test_escnn_fibre_groups_and_ids(gs, G, ids, reg, quotients, restrictions):
    assert gs.fibergroup == G
    # the same ids (escnn lists the irreps in the order it happened to build them)
    assert sorted(p.id for p in gs.irreps) == sorted(ids) and len(gs.irreps) == len(ids)
    for i in ids:
        assert gs.irrep(*i).id == i
    assert gs.trivial_repr == G.irrep(*ids[0])
    if reg is None:
        with pytest.raises(ValueError, match="continuous"):
            _ = gs.regular_repr
    else:
        assert gs.regular_repr.size == reg and set(gs.regular_repr.irreps) == set(ids)
    for sid, size in quotients.items():
        assert gs.quotient_repr(sid).size == size
    for sid, expected in restrictions.items():
        sub, inclusion, restriction = gs.restrict(sid)
        assert sub == (gs if expected is None else expected), (sid, sub)
        # the restricted gspace moves points exactly as the parent does on the included elements
        for h in sub.testing_elements[:12]:
            np.testing.assert_allclose(sub.action_matrix(h), gs.action_matrix(inclusion(h)), atol=1e-12)
            assert restriction(inclusion(h)) == h


@pytest.mark.parametrize("axis", [math.pi / 2, 0.0, 0.3])
def test_flip_group_is_c2_with_escnn_irreps(axis):
    gs = gspaces.flip2dOnR2(axis)
    G = gs.fibergroup
    assert G == cyclic_group(2) and not G.has_flips
    e, f = G.elements
    # element 1 is the reflection along the line at angle `axis`
    u = np.array([math.cos(axis), math.sin(axis)])
    A = gs.action_matrix(f)
    np.testing.assert_allclose(A, 2 * np.outer(u, u) - np.eye(2), atol=1e-12)
    np.testing.assert_allclose(gs.action_matrix(e), np.eye(2), atol=1e-12)
    # irrep(0) is trivial, irrep(1) the sign of the reflection
    assert gs.irrep(0)(f)[0, 0] == 1.0 and gs.irrep(1)(f)[0, 0] == -1.0
    with pytest.raises(ValueError, match="irrep id"):
        gs.irrep(1, 0)  # equijax's former D_1 id


def test_reflection_axis_transforms_images():
    x = np.arange(25.0).reshape(5, 5)
    gs = gspaces.flip2dOnR2()  # escnn's default: the vertical axis, a left-right mirror
    np.testing.assert_array_equal(gs.transform_grid(x, gs.fibergroup.element(1)), x[:, ::-1])
    g0 = gspaces.flip2dOnR2(axis=0.0)
    np.testing.assert_array_equal(g0.transform_grid(x, g0.fibergroup.element(1)), x[::-1, :])


def test_flip2dOnR2_signature_is_escnns():
    # escnn: flip2dOnR2(axis=pi/2), no maximum_frequency
    params = inspect.signature(gspaces.flip2dOnR2).parameters
    assert list(params) == ["axis"] and params["axis"].default == math.pi / 2
    with pytest.raises(TypeError):
        gspaces.flip2dOnR2(maximum_frequency=1)
    assert list(inspect.signature(gspaces.flipRot2dOnR2).parameters) == ["N", "maximum_frequency", "axis"]
    assert list(inspect.signature(gspaces.rot2dOnR2).parameters) == ["N", "maximum_frequency"]
