"""`Inclusion` and `Restriction` are values: compared and hashed by subgroup, parent and embedding."""

import pickle

from equijax.group import Inclusion, Restriction, dihedral_group, o2_group


def test_maps_compare_by_content_and_kind():
    D4 = dihedral_group(4)
    H, inc, res = D4.subgroup((1, 2))
    assert inc == Inclusion(H, D4, inc.embedding) and hash(inc) == hash(Inclusion(H, D4, inc.embedding))
    assert res == Restriction(H, D4, res.embedding)
    # same data, other kind of map: not equal
    assert inc != Restriction(H, D4, inc.embedding) and res != Inclusion(H, D4, res.embedding)
    assert inc != D4.subgroup((0, 2))[1] and res != D4.subgroup((0, 2))[2]
    assert inc != (H, D4, inc.embedding)
    assert len({inc, Inclusion(H, D4, inc.embedding), res}) == 2


def test_maps_survive_pickling_and_still_map():
    O2 = o2_group(3)
    H, inc, res = O2.subgroup((0.5, 4))
    inc2, res2 = pickle.loads(pickle.dumps((inc, res)))
    assert (inc2, res2) == (inc, res)
    for h in H.elements:
        assert res2(inc2(h)) == h
