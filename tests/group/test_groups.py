import math
import pickle

import numpy as np
import pytest

from equijax.group import (
    CyclicGroup,
    DihedralGroup,
    cyclic_group,
    dihedral_group,
    o2_group,
    so2_group,
    trivial_group,
)

FINITE = [cyclic_group(n) for n in range(1, 17)] + [dihedral_group(n) for n in range(1, 13)]
CONTINUOUS = [so2_group(6), o2_group(6), so2_group(8), o2_group(8)]
ALL = FINITE + CONTINUOUS


def sample(G, n=12, seed=0):
    if G.continuous:
        return G.random_elements(n, seed) + G.testing_elements()[::7]
    return G.elements


@pytest.mark.parametrize("G", ALL, ids=repr)
def test_group_axioms(G):
    els = sample(G)
    e = G.identity
    for g in els:
        assert g @ e == g and e @ g == g
        assert (g @ ~g).is_identity() and (~g @ g).is_identity()
        for h in els[:8]:
            gh = g @ h
            assert gh.group == G
            for k in els[:5]:
                assert (gh @ k) == (g @ (h @ k))


@pytest.mark.parametrize("G", FINITE, ids=repr)
def test_finite_elements(G):
    els = G.elements
    assert len(els) == G.order() == len(set(els))
    assert els[0] == G.identity
    # closure: the products of two elements are again elements
    assert {g @ h for g in els for h in els} == set(els)
    assert G.testing_elements() == els


def test_continuous_elements():
    G = o2_group(6)
    assert G.order() == -1 and G.elements is None
    g = G.element((1, 0.3))
    assert g == G.element((1, 0.3 + 2 * math.pi))
    assert g != G.element((1, 0.3 + 1e-6)) and g != G.element((0, 0.3))
    assert hash(g) == hash(G.element((1, 0.3 + 1e-12)))
    assert G.element((0, 2 * math.pi - 1e-12)).is_identity()
    # the rotations by multiples of 90 degrees are among the testing elements
    angles = {round(h.angle, 9) for h in G.testing_elements() if h.flip == 0}
    assert {0.0, round(math.pi / 2, 9), round(math.pi, 9), round(3 * math.pi / 2, 9)} <= angles


def test_parametrisation():
    D = dihedral_group(6)
    g = D.element((1, 2))
    assert (g.flip, g.rotation, g.value) == (1, 2, (1, 2))
    assert math.isclose(g.angle, 2 * math.pi * 2 / 6)
    # reflections are involutions; r f = f r^-1
    r, f = D.element((0, 1)), D.element((1, 0))
    assert f @ f == D.identity
    assert r @ f == f @ ~r
    C = cyclic_group(5)
    assert C.element(7) == C.element(2) and C.element(3).value == 3
    S = so2_group()
    assert math.isclose(S.element(1.0).value, 1.0)


def test_sampling_is_reproducible():
    for G in (dihedral_group(5), o2_group(4)):
        a, b = G.random_elements(20, seed=3), G.random_elements(20, seed=3)
        assert a == b
        assert G.sample(seed=1) == G.sample(seed=1)
    assert len({g.flip for g in o2_group(4).random_elements(50, seed=0)}) == 2


def test_values_and_caching():
    assert cyclic_group(8) is cyclic_group(8)
    assert dihedral_group(4) == dihedral_group(4) and hash(dihedral_group(4)) == hash(dihedral_group(4))
    assert cyclic_group(4) != dihedral_group(4)
    assert so2_group(6) is so2_group(6) and so2_group(6) != so2_group(5)
    assert trivial_group() == cyclic_group(1)
    assert isinstance(cyclic_group(3), CyclicGroup) and isinstance(dihedral_group(3), DihedralGroup)
    with pytest.raises(AttributeError):
        cyclic_group(3).rotation_order = 4
    with pytest.raises(AttributeError):
        cyclic_group(3).identity.flip = 1
    for G in (cyclic_group(6), dihedral_group(3), so2_group(5), o2_group(2)):
        assert pickle.loads(pickle.dumps(G)) is G
        g = G.testing_elements()[1]
        assert pickle.loads(pickle.dumps(g)) == g


SUBGROUPS = {
    "C12": (cyclic_group(12), [1, 2, 3, 4, 6, 12]),
    "D6": (
        dihedral_group(6),
        [(None, 1), (None, 2), (None, 3), (None, 6), (0, 1), (3, 1), (5, 1), (0, 2), (2, 2), (1, 3), (0, 6)],
    ),
    "SO2": (so2_group(6), [1, 2, 5, 8, -1]),
    "O2": (
        o2_group(6),
        [(None, 1), (None, 4), (None, -1), (0.0, 1), (math.pi / 2, 1), (0.0, 4), (1.0, 3), (math.pi, 2), (0.7, -1)],
    ),
}


@pytest.mark.parametrize("name", SUBGROUPS)
def test_subgroup_maps(name):
    G, ids = SUBGROUPS[name]
    for sid in ids:
        H, inclusion, restriction = G.subgroup(sid)
        hs = sample(H)
        for h in hs:
            g = inclusion(h)
            assert g.group == G
            assert restriction(g) == h
            for k in hs[:6]:
                assert inclusion(h @ k) == inclusion(h) @ inclusion(k)
        # restriction is None exactly outside the subgroup
        if not G.continuous:
            image = {inclusion(h) for h in H.elements}
            assert len(image) == H.order()
            for g in G.elements:
                assert (restriction(g) is None) == (g not in image)


def test_subgroup_examples():
    D8 = dihedral_group(8)
    H, inc, _ = D8.subgroup((1, 4))
    assert H == dihedral_group(4)
    assert inc(H.element((1, 0))) == D8.element((1, 1))
    assert inc(H.element((0, 1))) == D8.element((0, 2))
    H, inc, res = o2_group(6).subgroup((math.pi / 2, 1))
    assert H == dihedral_group(1)
    g = inc(H.element((1, 0)))
    assert g.flip == 1 and math.isclose(g.angle, math.pi / 2)
    assert res(o2_group(6).element((1, 0.0))) is None
    assert o2_group(6).subgroup((None, -1))[0] == so2_group(6)
    assert so2_group(6).subgroup(4)[0] == cyclic_group(4)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: cyclic_group(0), r"`N` \(=0\)"),
        (lambda: cyclic_group(-3), r"`N` \(=-3\)"),
        (lambda: cyclic_group(2.0), r"`N` \(=2.0\)"),
        (lambda: dihedral_group(0), r"`N` \(=0\)"),
        (lambda: so2_group(-1), r"`maximum_frequency` \(=-1\)"),
        (lambda: cyclic_group(8).subgroup(3), r"`subgroup_id` \(=3\)"),
        (lambda: dihedral_group(4).subgroup((2, 2)), r"`subgroup_id` \(=\(2, 2\)\)"),
        (lambda: dihedral_group(4).subgroup(4), r"`subgroup_id` \(=4\)"),
        (lambda: o2_group().subgroup((None, 0)), r"`subgroup_id`"),
        (lambda: o2_group().subgroup((7.0, 2)), r"`subgroup_id`"),
        (lambda: so2_group().subgroup(0), r"`subgroup_id` \(=0\)"),
        (lambda: dihedral_group(3).element(2), r"`value` \(=2\)"),
        (lambda: cyclic_group(3).element(1.5), r"`value` \(=1.5\)"),
        (lambda: cyclic_group(3).identity @ cyclic_group(4).identity, r"different groups"),
        (lambda: cyclic_group(3).random_elements(-1), r"`n` \(=-1\)"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_element_params():
    G = dihedral_group(4)
    flips, angles = G.element_params(G.elements)
    np.testing.assert_array_equal(flips, [0] * 4 + [1] * 4)
    np.testing.assert_allclose(angles, np.tile(np.arange(4) * np.pi / 2, 2))
    with pytest.raises(ValueError, match="`elements`"):
        G.element_params([cyclic_group(4).identity])
