"""escnn's vocabulary on groups, elements and representations (issue 13): element
parametrisations (`element(value, param)`, `g.to(param)`, `g.value`, `g.param`), grids,
`bl_irreps`, `standard_representation`, `Representation.representation`, and `g @ x` reaching
``x.__rmatmul__``."""

import math

import numpy as np
import pytest

from equijax.group import (
    ElementList,
    Representation,
    cyclic_group,
    dihedral_group,
    o2_group,
    so2_group,
    trivial_group,
)


def rot(theta):
    c, s = math.cos(theta), math.sin(theta)
    return np.array([[c, -s], [s, c]])


# -- parametrisations ------------------------------------------------------------------------


def test_default_parametrisations_are_escnns():
    assert cyclic_group(4).PARAM == "int" and dihedral_group(4).PARAM == "int"
    assert so2_group().PARAM == "radians" and o2_group().PARAM == "radians"
    assert cyclic_group(4).PARAMETRIZATIONS == ["int", "radians", "MAT"]
    assert so2_group().PARAMETRIZATIONS == ["radians", "MAT"]
    g = dihedral_group(6).element((1, 2))
    assert g.param == "int" and g.value == (1, 2)
    assert so2_group().element(0.5).param == "radians"


@pytest.mark.parametrize(
    "G, value, expected",
    [
        (cyclic_group(4), 1, {"int": 1, "radians": math.pi / 2, "MAT": rot(math.pi / 2)}),
        (dihedral_group(6), (1, 2), {"int": (1, 2), "radians": (1, 2 * math.pi / 3), "MAT": (1, rot(2 * math.pi / 3))}),
        (so2_group(), 1.0, {"radians": 1.0, "MAT": rot(1.0)}),
        (o2_group(), (1, 4.0), {"radians": (1, 4.0), "MAT": (1, rot(4.0))}),
        (trivial_group(), 0, {"int": 0, "radians": 0.0, "MAT": np.eye(2)}),
    ],
    ids=repr,
)
def test_to_and_element_round_trip(G, value, expected):
    g = G.element(value)
    for param, want in expected.items():
        got = g.to(param)
        if G.has_flips:
            assert got[0] == want[0]
            np.testing.assert_allclose(got[1], want[1], atol=1e-12)
        else:
            np.testing.assert_allclose(got, want, atol=1e-12)
        # escnn's Group.element(value, param) builds the same element back
        assert G.element(got, param) == g
        assert G.element(got, param=param) == g
    assert isinstance(g.to(G.PARAM if not G.continuous else "radians"), (int, float, tuple))


def test_escnn_introduction_titles():
    # the introduction notebook's plot titles: g.to('int') * 90 for the testing elements of C4
    C4 = cyclic_group(4)
    assert [g.to("int") * 90 for g in C4.testing_elements()] == [0, 90, 180, 270]
    assert isinstance(C4.element(3).to("int"), int)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: cyclic_group(4).element(1, param="deg"), r"`param` \(='deg'\)"),
        (lambda: so2_group().element(1.0, param="int"), r"`param` \(='int'\)"),
        (lambda: cyclic_group(4).identity.to("MATRIX"), r"`param` \(='MATRIX'\)"),
        (lambda: cyclic_group(4).element(0.3, param="radians"), r"`element` \(=0.3\).*multiple of 2\*pi/4"),
        (lambda: cyclic_group(4).element(np.diag([1.0, -1.0]), param="MAT"), r"rotation matrix"),
        (lambda: cyclic_group(4).element(np.eye(3), param="MAT"), r"`element`"),
        (lambda: dihedral_group(4).element((2, 0.0), param="radians"), r"`element` \(=\(2, 0.0\)\)"),
        (lambda: o2_group().element(0.3), r"pair \(flip"),
        (lambda: so2_group().element(float("nan")), r"`element`"),
    ],
)
def test_bad_parametrisations(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# -- composition operator ----------------------------------------------------------------------


class _ActedOn:
    """Stands in for a GeometricTensor: only implements __rmatmul__."""

    def __init__(self):
        self.seen = None

    def __rmatmul__(self, g):
        self.seen = g
        return ("moved", g)


@pytest.mark.parametrize("G", [cyclic_group(4), dihedral_group(3), so2_group(), o2_group()], ids=repr)
def test_matmul_defers_to_rmatmul_of_other_operands(G):
    g = G.testing_elements()[1]
    x = _ActedOn()
    assert (g @ x) == ("moved", g) and x.seen is g
    assert g.__matmul__(x) is NotImplemented
    with pytest.raises(TypeError):
        g @ 3  # neither side knows: Python's TypeError
    assert (g @ G.identity) == g


# -- grids ----------------------------------------------------------------------------------


def test_grids_of_finite_groups_follow_escnn():
    C8, D4 = cyclic_group(8), dihedral_group(4)
    # escnn's order: grid(type, N)
    assert C8.grid("regular", 4) == [C8.element(i) for i in (0, 2, 4, 6)]
    assert C8.grid(type="regular", N=2) == [C8.element(0), C8.element(4)]
    assert C8.grid("regular") == C8.elements
    assert D4.grid("regular", 2) == [D4.element(v) for v in ((0, 0), (0, 2), (1, 0), (1, 2))]
    assert C8.grid(4, "regular") == C8.grid("regular", 4)  # SO(2)'s order is accepted too
    r = D4.grid("rand", 5, seed=0)
    assert len(r) == 5 and all(g.group == D4 for g in r) and r == D4.grid("rand", N=5, seed=0)
    with pytest.raises(ValueError, match=r"`N` \(=3\) must divide"):
        C8.grid("regular", 3)
    with pytest.raises(ValueError, match=r"`type` \(='thomson'\)"):
        C8.grid("thomson", 4)
    with pytest.raises(ValueError, match=r"`N` \(=None\) is required with type='rand'"):
        C8.grid("rand")
    with pytest.raises(TypeError, match="unexpected keyword"):
        C8.grid("regular", M=4)
    with pytest.raises(TypeError, match="multiple values"):
        C8.grid("regular", 4, N=4)


def test_grids_of_continuous_groups_follow_escnn():
    S, O = so2_group(), o2_group()
    # escnn's order: grid(N, type='regular', seed=None)
    g = S.grid(8)
    assert len(g) == 8 and [round(h.angle, 12) for h in g] == [round(2 * math.pi * i / 8, 12) for i in range(8)]
    assert S.grid(8, "regular") == g == S.grid(N=8, type="regular") == S.grid("regular", N=8) == S.grid("regular", 8)
    o = O.grid(4)
    assert len(o) == 8 and [h.flip for h in o] == [0] * 4 + [1] * 4
    assert O.grid_so2(4) == o[:4]
    r = S.grid(6, "rand", seed=3)
    assert len(r) == 6 and r == S.grid(6, type="rand", seed=3) and r != S.grid(6, "rand", seed=4)
    assert len(S.grid(5, "rand", seed=np.random.RandomState(0))) == 5  # escnn passes a RandomState
    assert {h.flip for h in O.grid(40, "rand", seed=0)} == {0, 1}
    with pytest.raises(ValueError, match=r"`N` \(=0\)"):
        S.grid(0)
    with pytest.raises(ValueError, match=r"`type` \(='ico'\)"):
        O.grid(4, "ico")


def test_testing_elements_of_groups_stay_a_method():
    # escnn: Group.testing_elements() is a method (the gspace's is a property)
    assert len(so2_group().testing_elements()) == 52 and len(o2_group().testing_elements()) == 104
    assert len(so2_group().testing_elements(n=8)) == 8
    assert dihedral_group(3).testing_elements() == dihedral_group(3).elements


def test_element_list_is_a_callable_list():
    els = ElementList(cyclic_group(3).elements)
    assert els() is els and list(els) == cyclic_group(3).elements and els == cyclic_group(3).elements


# -- irreps and representations -------------------------------------------------------------


def test_bl_irreps_are_escnns_id_lists():
    assert cyclic_group(8).bl_irreps(2) == [(0,), (1,), (2,)]
    assert so2_group().bl_irreps(3) == [(0,), (1,), (2,), (3,)]
    assert o2_group().bl_irreps(2) == [(0, 0), (1, 0), (1, 1), (1, 2)]
    assert dihedral_group(6).bl_irreps(2) == [(0, 0), (1, 0), (1, 1), (1, 2)]
    # escnn adds (0, N/2) when L reaches N/2
    assert dihedral_group(4).bl_irreps(2) == [(0, 0), (1, 0), (1, 1), (1, 2), (0, 2)]
    assert dihedral_group(5).bl_irreps(2) == [(0, 0), (1, 0), (1, 1), (1, 2)]
    for G in (cyclic_group(8), dihedral_group(4), so2_group(), o2_group()):
        for i in G.bl_irreps(2):
            G.irrep(*i)  # every id names an irrep
    with pytest.raises(ValueError, match=r"`L` \(=5\).*at most 4"):
        cyclic_group(8).bl_irreps(5)
    with pytest.raises(ValueError, match=r"`L` \(=-1\)"):
        so2_group().bl_irreps(-1)


@pytest.mark.parametrize(
    "G",
    [so2_group(), o2_group(), cyclic_group(8), cyclic_group(3), dihedral_group(4)]
    + [cyclic_group(1), cyclic_group(2), dihedral_group(1), dihedral_group(2)],
    ids=repr,
)
def test_standard_representation_rotates_the_plane(G):
    rho = G.standard_representation()
    assert isinstance(rho, Representation) and rho.size == 2 and rho.group == G
    els = G.testing_elements()[:20]
    flips, angles = G.element_params(els)
    for g, f, a in zip(els, flips, angles):
        np.testing.assert_allclose(rho(g), rot(a) @ np.diag([1.0, -1.0 if f else 1.0]), atol=1e-12)
    if G.continuous or G.rotation_order >= 3:  # escnn: irrep(1) / irrep(1, 1)
        assert rho == G.irrep(*((1, 1) if G.has_flips else (1,)))


def test_representation_attribute_and_irrep_attributes():
    G = dihedral_group(4)
    rho = G.regular_representation
    g = G.element((1, 3))
    np.testing.assert_array_equal(rho.representation(g), rho(g))
    np.testing.assert_array_equal(G.irrep(1, 1).representation(g), G.irrep(1, 1)(g))
    assert G.irrep(1, 2).attributes == {"frequency": 2, "flip_frequency": 1}
    assert so2_group().irrep(3).attributes == {"frequency": 3}
    assert rho.attributes == {}
    with pytest.raises(ValueError, match="`g`"):
        rho.representation(cyclic_group(4).identity)


def test_generators_and_reflection():
    assert cyclic_group(5).generators == [cyclic_group(5).element(1)]
    assert cyclic_group(1).generators == []
    D = dihedral_group(4)
    assert D.generators == [D.element((0, 1)), D.element((1, 0))] and D.reflection == D.element((1, 0))
    assert dihedral_group(1).generators == [dihedral_group(1).element((1, 0))]
    assert o2_group().reflection == o2_group().element((1, 0.0))
    with pytest.raises(ValueError, match="continuous"):
        _ = so2_group().generators
