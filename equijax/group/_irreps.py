"""The irreducible representations of the subgroups of O(2), with escnn's ids.

Built once per ``(group, id)`` by `build_irrep` (what `Group.irrep` returns after checking
the id); their matrices are evaluated in closed form, vectorised over elements.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from ._element import GroupElement
from ._group import Group
from ._representation import NORM, POINTWISE, Representation


class IrreducibleRepresentation(Representation):
    """An irrep of a subgroup of O(2), with escnn's id.

    Every irrep is one of the O(2)-type matrices evaluated at ``g = r_theta f^flip``:
    1-dimensional ``(-1)^(j * flip) * cos(k * theta)`` or 2-dimensional
    ``R(k * theta) diag(1, -1)^flip``.

    **Attributes:** `id`, `frequency` (k), `size`, `endomorphism_dim` (1, or 2 for the
    rotation irreps of C_N and SO(2), whose endomorphisms are the complex numbers).
    """

    def __init__(self, group: Group, id: tuple):
        self.__dict__["id"] = id
        j, k = id if group.has_flips else (0, id[0])
        one_dim = k == 0 or (not group.continuous and 2 * k == group.rotation_order)
        self.__dict__["j"] = j
        self.__dict__["frequency"] = k
        self.__dict__["size"] = 1 if one_dim else 2
        self.__dict__["endomorphism_dim"] = 2 if (not one_dim and not group.has_flips) else 1
        name = "irrep_" + ",".join(str(i) for i in id)
        trivial = j == 0 and k == 0
        self._init(group, (id,), np.eye(self.size), name, POINTWISE if trivial else NORM)

    @property
    def attributes(self) -> dict:
        if self.group.has_flips:
            return {"frequency": self.frequency, "flip_frequency": self.j}
        return {"frequency": self.frequency}

    @property
    def type(self) -> str:
        """``"R"`` (real type, End = R) or ``"C"`` (complex type, End = C)."""
        return "R" if self.endomorphism_dim == 1 else "C"

    @property
    def dimension(self) -> int:
        return self.size

    def matrices(self, elements: Sequence[GroupElement]) -> np.ndarray:
        flips, angles = self.group.element_params(elements)
        return self.matrices_from_params(flips, angles)

    def matrices_from_params(self, flips: np.ndarray, angles: np.ndarray) -> np.ndarray:
        """Vectorised evaluation from arrays of flips (0/1) and angles (radians)."""
        k = self.frequency
        flips, angles = np.asarray(flips), np.asarray(angles, dtype=np.float64)
        sign = np.where(flips % 2 == 1, -1.0, 1.0)
        if self.size == 1:
            v = np.cos(k * np.asarray(angles, dtype=np.float64))
            if 2 * k == self.group.rotation_order:  # (-1)^r exactly
                v = np.round(v)
            if self.j == 1:
                v = v * sign
            return v[:, None, None]
        c, s = np.cos(k * angles), np.sin(k * angles)
        return np.stack([np.stack([c, -sign * s], -1), np.stack([s, sign * c], -1)], -2)

    def character(self, g: GroupElement) -> float:
        return float(np.trace(self(g)))

    def endomorphism_basis(self) -> np.ndarray:
        """A basis of the matrices commuting with every psi(g), shape ``(dim End, d, d)``."""
        if self.endomorphism_dim == 1:
            return np.eye(self.size)[None]
        return np.stack([np.eye(2), np.array([[0.0, -1.0], [1.0, 0.0]])])


@functools.cache
def build_irrep(group: Group, id: tuple) -> IrreducibleRepresentation:
    return IrreducibleRepresentation(group, id)
