"""Groups and representations: the subgroups of O(2) (numpy, float64, immutable values)."""

from ._decompose import decompose as decompose
from ._group import (
    ANGLE_ATOL as ANGLE_ATOL,
    O2 as O2,
    SO2 as SO2,
    CyclicGroup as CyclicGroup,
    DihedralGroup as DihedralGroup,
    ElementList as ElementList,
    Group as Group,
    GroupElement as GroupElement,
    Inclusion as Inclusion,
    Restriction as Restriction,
    cyclic_group as cyclic_group,
    dihedral_group as dihedral_group,
    o2_group as o2_group,
    so2_group as so2_group,
    trivial_group as trivial_group,
)
from ._representation import (
    IrreducibleRepresentation as IrreducibleRepresentation,
    Representation as Representation,
    change_basis as change_basis,
    directsum as directsum,
)

__all__ = [
    "ANGLE_ATOL",
    "CyclicGroup",
    "DihedralGroup",
    "ElementList",
    "Group",
    "GroupElement",
    "Inclusion",
    "IrreducibleRepresentation",
    "O2",
    "Representation",
    "Restriction",
    "SO2",
    "change_basis",
    "cyclic_group",
    "decompose",
    "dihedral_group",
    "directsum",
    "o2_group",
    "so2_group",
    "trivial_group",
]
