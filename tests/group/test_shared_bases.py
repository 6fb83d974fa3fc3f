"""The shared code of the re-cut (issue 14) keeps every public behaviour: the finite groups'
common base, the value-type base of representations and field types, the grid code shared by
`Group.grid` and the Fourier sampling grid, and the gspace's kernel-basis builders."""

import pickle

import numpy as np
import pytest

from equijax import gspaces, kernels, nn
from equijax.group import cyclic_group, dihedral_group, o2_group, so2_group
from equijax.internal import HashedValue, sampling_grid


@pytest.mark.parametrize("factory, name", [(cyclic_group, "C6"), (dihedral_group, "D6")])
def test_finite_groups_keep_name_order_and_pickle_to_the_cached_group(factory, name):
    G = factory(6)
    assert G.name == name and G.N == 6 and repr(G) == name
    assert pickle.loads(pickle.dumps(G)) is G
    assert type(G).__name__ == ("DihedralGroup" if G.has_flips else "CyclicGroup")
    with pytest.raises(AttributeError, match=f"{type(G).__name__} is immutable"):
        G.rotation_order = 3


def test_value_types_compare_by_content_and_refuse_assignment():
    D4 = dihedral_group(4)
    psi = D4.irrep(1, 1)
    same = nn.FieldType(gspaces.flipRot2dOnR2(4), [psi])
    assert isinstance(psi, HashedValue) and isinstance(same, HashedValue)
    # an irrep equals the plain representation with the same content
    from equijax.group import Representation

    plain = Representation(D4, [(1, 1)], None, psi.name, psi.supported_nonlinearities)
    assert plain == psi and psi == plain and hash(plain) == hash(psi)
    other = Representation(D4, [(1, 1)], -np.eye(2), psi.name, psi.supported_nonlinearities)
    assert other != psi
    assert psi.__eq__(same) is NotImplemented and same.__eq__(psi) is NotImplemented
    assert same == nn.FieldType(gspaces.flipRot2dOnR2(4), [D4.irrep(1, 1)])
    assert same != nn.FieldType(gspaces.flipRot2dOnR2(4), [D4.irrep(1, 1)] * 2)
    with pytest.raises(AttributeError, match="^representations are immutable$"):
        psi.name = "x"
    with pytest.raises(AttributeError, match="^FieldType is immutable$"):
        same.gspace = None


@pytest.mark.parametrize("G, N", [(cyclic_group(8), 4), (dihedral_group(4), None), (so2_group(3), 4), (o2_group(3), 3)])
def test_fourier_sampling_grid_is_the_groups_grid(G, N):
    grid = sampling_grid(G, None, "regular", N, None)
    assert isinstance(grid, tuple) and list(grid) == G.grid("regular", N)
    flips = (0, 1) if G.has_flips else (0,)
    n = N if N is not None else G.rotation_order
    rots = [2 * np.pi * i / n for i in range(n)] if G.continuous else [i * (G.rotation_order // n) for i in range(n)]
    assert [(g.flip, g.rotation) for g in grid] == [(f, r) for f in flips for r in rots]


def test_grid_messages_stay_distinct():
    with pytest.raises(ValueError, match=r"^`N` \(=None\) is required for SO\(2\): the number of rotations"):
        so2_group(3).grid("regular")
    with pytest.raises(ValueError, match=r"^`N` \(=None\) is required for the continuous group SO\(2\)"):
        sampling_grid(so2_group(3), None, "regular", None, None)
    with pytest.raises(ValueError, match=r"^`type` \(='x'\) must be one of \['regular', 'rand'\]"):
        sampling_grid(cyclic_group(4), None, "x", None, None)
    with pytest.raises(ValueError, match=r"^`N` \(=3\) must divide the number of rotations of C4 \(4\)"):
        sampling_grid(cyclic_group(4), None, "regular", 3, None)
    for G in (cyclic_group(4), so2_group(2)):
        with pytest.raises(ValueError, match="required with type='rand'"):
            G.grid("rand")
        with pytest.raises(ValueError, match="required with type='rand'"):
            sampling_grid(G, None, "rand", None, None)


def test_gspace_builders_are_the_kernels_builders_bound():
    gs = gspaces.rot2dOnR2(4)
    r = gs.regular_repr
    a = gs.build_kernel_basis(r, r, 3, dilation=1, sigma=None, basis_filter=None)
    b = kernels.kernel_basis_on_grid(gs, r, r, 3)
    np.testing.assert_array_equal(a.array, b.array)
    pts = np.array([[0.0, 0.0], [1.0, 0.5]])
    c = gs.build_point_basis(r, r, pts, rings=[0.0, 1.0], sigma=0.6, maximum_frequency=2)
    d = kernels.kernel_basis_on_points(gs, r, r, pts, [0.0, 1.0], 0.6, 2)
    np.testing.assert_array_equal(c.array, d.array)
    with pytest.raises(TypeError):
        gs.build_kernel_basis(r, r, 3, unknown=1)
