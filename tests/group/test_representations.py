import itertools
import math
import pickle

import numpy as np
import pytest

from equijax.group import (
    Representation,
    change_basis,
    cyclic_group,
    decompose,
    dihedral_group,
    directsum,
    o2_group,
    so2_group,
)
from equijax.internal import quadrature_elements

TOL = 1e-10
CYCLIC = [cyclic_group(n) for n in range(1, 17)]
DIHEDRAL = [dihedral_group(n) for n in range(1, 13)]
FINITE = CYCLIC + DIHEDRAL
CONTINUOUS = [so2_group(6), o2_group(6)]


def elements(G, seed=0):
    if G.continuous:
        return G.random_elements(10, seed) + G.testing_elements()[::9]
    return G.elements


def assert_representation(rep, els=None):
    """rho(gh) = rho(g) rho(h) and rho(g) orthogonal, for all pairs of `els`."""
    G = rep.group
    els = elements(G) if els is None else els
    M = rep.matrices(els)
    assert M.shape == (len(els), rep.size, rep.size)
    eye = np.eye(rep.size)
    np.testing.assert_allclose(np.einsum("gji,gjk->gik", M, M), np.broadcast_to(eye, M.shape), atol=TOL)
    np.testing.assert_allclose(rep(G.identity), eye, atol=TOL)
    pairs = list(itertools.product(range(len(els)), repeat=2))
    prods = rep.matrices([els[i] @ els[j] for i, j in pairs])
    expected = np.einsum("pij,pjk->pik", M[[i for i, _ in pairs]], M[[j for _, j in pairs]])
    np.testing.assert_allclose(prods, expected, atol=TOL)


def char_inner(G, a, b, bandwidth=0):
    """<chi_a, chi_b> averaged exactly over G."""
    els = quadrature_elements(G, 2 * bandwidth)
    ca = np.trace(a.matrices(els), axis1=1, axis2=2)
    cb = np.trace(b.matrices(els), axis1=1, axis2=2)
    return float(np.mean(ca * cb))


@pytest.mark.parametrize("G", FINITE + CONTINUOUS, ids=repr)
def test_irreps_are_orthogonal_homomorphisms(G):
    irreps = G.irreps()
    if G.continuous:
        assert len(irreps) == 2 + 6 if G.has_flips else 7
    for psi in irreps:
        assert_representation(psi)
        E = psi.endomorphism_basis()
        assert E.shape == (psi.endomorphism_dim, psi.size, psi.size)
        for g in elements(G):
            for e in E:  # endomorphisms commute with the irrep
                np.testing.assert_allclose(psi(g) @ e, e @ psi(g), atol=TOL)


@pytest.mark.parametrize("G", FINITE, ids=repr)
def test_irreducible_characters_are_orthonormal(G):
    # for real irreps <chi_psi, chi_phi> = delta * dim End(psi): 1 (real type) or 2 (complex type)
    irreps = G.irreps()
    total = 0
    for a in irreps:
        total += a.size**2 / a.endomorphism_dim
        for b in irreps:
            expected = a.endomorphism_dim if a == b else 0.0
            assert abs(char_inner(G, a, b) - expected) < TOL
    # the irreps are complete: sum of d^2 / dim End = |G|
    assert math.isclose(total, G.order())


def test_irrep_ids_follow_escnn():
    assert [p.id for p in cyclic_group(6).irreps()] == [(0,), (1,), (2,), (3,)]
    assert [p.size for p in cyclic_group(6).irreps()] == [1, 2, 2, 1]
    D = dihedral_group(4)
    assert [(p.id, p.size) for p in D.irreps()] == [((0, 0), 1), ((1, 0), 1), ((1, 1), 2), ((0, 2), 1), ((1, 2), 1)]
    assert D.irrep(1, 0)(D.element((1, 0)))[0, 0] == -1
    assert D.irrep(0, 2)(D.element((1, 1)))[0, 0] == -1 and D.irrep(1, 2)(D.element((1, 1)))[0, 0] == 1
    O = o2_group(3)
    np.testing.assert_allclose(O.irrep(1, 1)(O.element((1, 0.0))), np.diag([1.0, -1.0]))
    np.testing.assert_allclose(O.irrep(1, 1)(O.element((0, math.pi / 2))), [[0.0, -1.0], [1.0, 0.0]], atol=1e-15)
    assert O.irrep(1, 9).size == 2  # any frequency is available
    assert cyclic_group(5).trivial_representation.is_trivial()
    assert cyclic_group(5).irrep(1).type == "C" and dihedral_group(5).irrep(1, 1).type == "R"


@pytest.mark.parametrize("G", FINITE, ids=repr)
def test_regular_representation(G):
    reg = G.regular_representation
    assert reg.size == G.order()
    assert_representation(reg)
    # it is the permutation representation e_h -> e_{gh}
    index = {g: i for i, g in enumerate(G.elements)}
    for g in G.elements:
        P = np.zeros((reg.size, reg.size))
        for h in G.elements:
            P[index[g @ h], index[h]] = 1
        np.testing.assert_allclose(reg(g), P, atol=TOL)
    # multiplicity of psi = dim(psi) / dim End(psi) (the real form of sum dim(psi) psi)
    mult = reg.multiplicities()
    for psi in G.irreps():
        assert mult.get(psi.id, 0) == psi.size // psi.endomorphism_dim
        assert abs(char_inner(G, reg, psi) / psi.endomorphism_dim - mult.get(psi.id, 0)) < TOL


def _subgroup_ids(G):
    if isinstance(G, type(cyclic_group(1))):
        return [M for M in range(1, G.N + 1) if G.N % M == 0]
    ids = []
    for M in range(1, G.N + 1):
        if G.N % M == 0:
            ids += [(None, M)] + [(k, M) for k in range(G.N // M)]
    return ids


CONT_SUBGROUPS = {
    so2_group(6): [1, 2, 3, 4, 5, 7, 8, -1],
    o2_group(6): [
        (None, 1),
        (None, 3),
        (None, 4),
        (None, -1),
        (0.0, 1),
        (math.pi / 2, 1),
        (0.0, 2),
        (math.pi / 3, 3),
        (0.0, 4),
        (0.5, 5),
        (math.pi / 2, -1),
    ],
}


def _all_subgroups():
    for G in FINITE:
        for sid in _subgroup_ids(G):
            yield G, sid
    for G, sids in CONT_SUBGROUPS.items():
        for sid in sids:
            yield G, sid


@pytest.mark.parametrize("G", FINITE + CONTINUOUS, ids=repr)
def test_restriction_of_every_irrep(G):
    sids = CONT_SUBGROUPS[G] if G.continuous else _subgroup_ids(G)
    for sid in sids:
        H, inclusion, _ = G.subgroup(sid)
        hs = elements(H)
        for psi in G.irreps():
            res = psi.restrict(sid)
            assert res.group == H and res.size == psi.size
            assert_representation(res, hs)
            # the restricted representation is psi composed with the inclusion
            np.testing.assert_allclose(res.matrices(hs), psi.matrices([inclusion(h) for h in hs]), atol=TOL)
            # multiplicities match the character inner products
            mult = res.multiplicities()
            for phi in H.irreps(maximum_frequency=psi.frequency if H.continuous else None):
                m = char_inner(H, res, phi, psi.frequency) / phi.endomorphism_dim
                assert abs(m - mult.get(phi.id, 0)) < 1e-9, (psi, sid, phi)


def test_restriction_examples():
    O = o2_group(6)
    assert O.irrep(1, 3).restrict((0.0, 4)).irreps == ((1, 1),)  # aliasing 3 -> 1 in D4
    assert O.irrep(1, 2).restrict((0.0, 4)).irreps == ((0, 2), (1, 2))
    assert O.irrep(1, 4).restrict((0.0, 4)).irreps == ((0, 0), (1, 0))
    assert O.irrep(1, 2).restrict((None, -1)).irreps == ((2,),)
    assert dihedral_group(4).regular_representation.restrict((None, 4)).multiplicities() == {(0,): 2, (1,): 2, (2,): 2}
    # escnn's ids: the reflection subgroups (k, 1) / (theta, 1) are C_2 with irreps (0,) and (1,)
    assert dihedral_group(4).irrep(1, 1).restrict((0, 1)).irreps == ((0,), (1,))
    assert dihedral_group(4).irrep(0, 2).restrict((1, 1)).irreps == ((1,),)  # r f acts by -1
    assert dihedral_group(4).irrep(0, 2).restrict((2, 1)).irreps == ((0,),)
    assert dihedral_group(4).irrep(1, 0).restrict((3, 1)).irreps == ((1,),)
    assert O.irrep(1, 0).restrict((0.5, 1)).irreps == ((1,),)
    assert O.irrep(1, 2).restrict((0.5, 1)).irreps == ((0,), (1,))


@pytest.mark.parametrize("G", FINITE + CONTINUOUS, ids=repr)
def test_tensor_product_of_irreps(G):
    irreps = G.irreps(maximum_frequency=3) if G.continuous else G.irreps()
    for a, b in itertools.combinations_with_replacement(irreps, 2):
        t = a.tensor(b)
        assert t.size == a.size * b.size
        els = elements(G)
        assert_representation(t, els[:12])
        # it is the Kronecker product, decomposed
        np.testing.assert_allclose(
            t.matrices(els),
            np.einsum("gij,gkl->gikjl", a.matrices(els), b.matrices(els)).reshape(t.matrices(els).shape),
            atol=TOL,
        )
        bw = a.frequency + b.frequency
        mult = t.multiplicities()
        for phi in G.irreps(maximum_frequency=bw) if G.continuous else G.irreps():
            m = char_inner(G, t, phi, bw) / phi.endomorphism_dim
            assert abs(m - mult.get(phi.id, 0)) < 1e-9


def test_tensor_product_examples():
    O = o2_group(6)
    assert O.irrep(1, 2).tensor(O.irrep(1, 3)).irreps == ((1, 1), (1, 5))
    assert O.irrep(1, 2).tensor(O.irrep(1, 2)).irreps == ((0, 0), (1, 0), (1, 4))
    S = so2_group(6)
    assert S.irrep(1).tensor(S.irrep(2)).multiplicities() == {(1,): 1, (3,): 1}
    C = cyclic_group(5)
    assert C.irrep(2).tensor(C.irrep(2)).multiplicities() == {(0,): 2, (1,): 1}  # 2 + 2 = 4 = -1 mod 5


@pytest.mark.parametrize("G", [cyclic_group(8), dihedral_group(4), dihedral_group(3)], ids=repr)
def test_tensor_of_regular(G):
    t = G.regular_representation.tensor(G.regular_representation)
    assert t.multiplicities() == {p: m * G.order() for p, m in G.regular_representation.multiplicities().items()}
    assert_representation(t, G.elements[:6])


QUOTIENTS = [
    (dihedral_group(4), (None, 4), {(0, 0): 1, (1, 0): 1}),
    (dihedral_group(6), (None, 3), {(0, 0): 1, (1, 0): 1, (0, 3): 1, (1, 3): 1}),
    (dihedral_group(4), (0, 1), {(0, 0): 1, (1, 1): 1, (0, 2): 1}),
    (cyclic_group(8), 4, {(0,): 1, (4,): 1}),
    (cyclic_group(12), 3, {(0,): 1, (3,): 1, (6,): 1}),
    (o2_group(6), (None, -1), {(0, 0): 1, (1, 0): 1}),
    (o2_group(6), (0.0, 1), {(0, 0): 1, **{(1, k): 1 for k in range(1, 7)}}),
    (so2_group(6), 3, {(0,): 1, (3,): 1, (6,): 1}),
]


@pytest.mark.parametrize("G, sid, expected", QUOTIENTS, ids=lambda x: repr(x))
def test_quotient_representation(G, sid, expected):
    q = G.quotient_representation(sid)
    assert_representation(q)
    assert q.multiplicities() == {k: v for k, v in expected.items() if v}
    if not G.continuous:
        H = G.subgroup(sid)[0]
        assert q.size == G.order() // H.order()
        # a permutation representation
        for g in G.elements:
            M = q(g)
            np.testing.assert_allclose(np.round(M), M, atol=TOL)


INDUCED = [
    (dihedral_group(4), (None, 4), cyclic_group(4).irrep(1)),
    (dihedral_group(5), (None, 5), cyclic_group(5).irrep(0)),
    (dihedral_group(6), (None, 6), cyclic_group(6).irrep(2)),
    (dihedral_group(6), (None, 6), cyclic_group(6).regular_representation),
    (dihedral_group(6), (None, 3), cyclic_group(3).irrep(1)),
    (dihedral_group(4), (0, 2), dihedral_group(2).irrep(1, 1)),
    (cyclic_group(8), 2, cyclic_group(2).irrep(1)),
    (o2_group(6), (None, -1), so2_group(6).irrep(2)),
]


@pytest.mark.parametrize("G, sid, rep", INDUCED, ids=lambda x: repr(x))
def test_induced_representation(G, sid, rep):
    ind = G.induced_representation(sid, rep)
    H = G.subgroup(sid)[0]
    index = 2 if G.continuous else G.order() // H.order()
    assert ind.size == index * rep.size
    assert_representation(ind)
    # Frobenius reciprocity: <Ind rho, psi>_G = <rho, Res psi>_H
    for psi in G.irreps(maximum_frequency=rep.bandwidth) if G.continuous else G.irreps():
        lhs = char_inner(G, ind, psi, rep.bandwidth)
        rhs = char_inner(H, rep, psi.restrict(sid), rep.bandwidth)
        assert abs(lhs - rhs) < 1e-9


def test_induced_from_trivial_is_quotient():
    D = dihedral_group(6)
    ind = D.induced_representation((None, 6), cyclic_group(6).trivial_representation)
    assert ind.multiplicities() == D.quotient_representation((None, 6)).multiplicities()


def test_directsum_and_change_of_basis(rng):
    G = dihedral_group(3)
    r = directsum([G.irrep(1, 1), G.regular_representation, G.trivial_representation])
    assert r.size == 9 and r.irreps[:2] == ((1, 1), (0, 0))
    assert_representation(r)
    Q, _ = np.linalg.qr(rng.normal(size=(9, 9)))
    rc = change_basis(r, Q, name="rotated")
    assert_representation(rc)
    for g in G.elements:
        np.testing.assert_allclose(rc(g), Q @ r(g) @ Q.T, atol=TOL)
        assert math.isclose(rc.character(g), r.character(g), abs_tol=TOL)
    assert r + G.irrep(0, 0) == directsum([r, G.irrep(0, 0)])
    assert r.contains_trivial() and not G.irrep(1, 1).contains_trivial()
    assert not r.is_trivial() and directsum([G.trivial_representation] * 3).is_trivial()
    assert r.multiplicity((1, 1)) == 3


def test_representations_are_values():
    G = cyclic_group(8)
    assert G.regular_representation is G.regular_representation
    assert G.irrep(2) is G.irrep(2)
    r1 = directsum([G.irrep(1), G.irrep(2)])
    r2 = directsum([G.irrep(1), G.irrep(2)])
    assert r1 == r2 and hash(r1) == hash(r2) and r1 is not r2
    assert r1 != directsum([G.irrep(2), G.irrep(1)])
    assert len({r1, r2, G.regular_representation}) == 2
    with pytest.raises(AttributeError):
        r1.name = "x"
    with pytest.raises(ValueError):
        r1.change_of_basis[0, 0] = 2.0
    for r in (r1, G.irrep(3), G.regular_representation, o2_group(6).irrep(1, 2)):
        assert pickle.loads(pickle.dumps(r)) == r
    assert isinstance(G.regular_representation, Representation)


def test_bl_regular_representation():
    S = so2_group(4)
    r = S.bl_regular_representation()
    assert r.irreps == ((0,), (1,), (2,), (3,), (4,))
    O = o2_group(3)
    assert O.bl_regular_representation(2).irreps == ((0, 0), (1, 0), (1, 1), (1, 1), (1, 2), (1, 2))
    assert_representation(O.bl_regular_representation(2))
    with pytest.raises(ValueError, match="continuous"):
        _ = S.regular_representation


def test_decompose_rejects_non_representation(rng):
    G = cyclic_group(4)
    A = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    with pytest.raises(RuntimeError):
        decompose(G, lambda gs: np.stack([A] * len(gs)), 0)


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: cyclic_group(4).irrep(3), ValueError, r"irrep id \(=\(3,\)\)"),
        (lambda: cyclic_group(4).irrep(-1), ValueError, r"irrep id"),
        (lambda: dihedral_group(6).irrep(0, 1), ValueError, r"irrep id \(=\(0, 1\)\)"),
        (lambda: dihedral_group(6).irrep(1, 4), ValueError, r"irrep id"),
        (lambda: dihedral_group(6).irrep(1), ValueError, r"irrep id"),
        (lambda: o2_group().irrep(0, 2), ValueError, r"irrep id"),
        (lambda: so2_group().irrep(1.5), ValueError, r"irrep id"),
        (lambda: directsum([cyclic_group(4).irrep(1), cyclic_group(8).irrep(1)]), ValueError, r"`reprs` mixes"),
        (lambda: directsum([]), ValueError, r"`reprs`"),
        (lambda: directsum([cyclic_group(4).irrep(1), "x"]), TypeError, r"`reprs` contains 'x'"),
        (lambda: change_basis(cyclic_group(4).irrep(1), np.array([[1.0, 1.0], [0.0, 1.0]])), ValueError, "orthogonal"),
        (lambda: change_basis(cyclic_group(4).irrep(1), np.eye(3)), ValueError, r"`change_of_basis` has shape"),
        (lambda: Representation(cyclic_group(4), [(1,)], 2 * np.eye(2)), ValueError, "orthogonal"),
        (lambda: Representation("C4", [(1,)]), TypeError, "`group`"),
        (lambda: cyclic_group(4).irrep(1).restrict(3), ValueError, r"`subgroup_id` \(=3\)"),
        (lambda: dihedral_group(4).irrep(1, 1).restrict((None, 3)), ValueError, r"`subgroup_id`"),
        (lambda: o2_group().irrep(1, 1).restrict((None, 0)), ValueError, r"`subgroup_id`"),
        (lambda: cyclic_group(4).irrep(1).tensor(cyclic_group(8).irrep(1)), ValueError, "`other`"),
        (lambda: cyclic_group(4).irrep(1)(cyclic_group(8).identity), ValueError, "`g`"),
        (
            lambda: dihedral_group(4).induced_representation((None, 4), cyclic_group(2).irrep(1)),
            ValueError,
            "`repr`",
        ),
        (lambda: so2_group().induced_representation(4, cyclic_group(4).irrep(1)), ValueError, "infinite index"),
        (lambda: o2_group().bl_regular_representation(-2), ValueError, "`L`"),
    ],
)
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
