"""Groups and representations: the subgroups of O(2) (numpy, float64, immutable values)."""

from ._cyclic_dihedral import (
    CyclicGroup as CyclicGroup,
    DihedralGroup as DihedralGroup,
    cyclic_group as cyclic_group,
    dihedral_group as dihedral_group,
    trivial_group as trivial_group,
)
from ._decompose import decompose as decompose
from ._element import ANGLE_ATOL as ANGLE_ATOL, ElementList as ElementList, GroupElement as GroupElement
from ._group import Group as Group
from ._irreps import IrreducibleRepresentation as IrreducibleRepresentation
from ._representation import (
    Representation as Representation,
    change_basis as change_basis,
    directsum as directsum,
)
from ._so2_o2 import O2 as O2, SO2 as SO2, o2_group as o2_group, so2_group as so2_group
from ._subgroups import Inclusion as Inclusion, Restriction as Restriction

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
