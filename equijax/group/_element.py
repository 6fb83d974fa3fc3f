"""Elements of the subgroups of O(2): `GroupElement`, the angle conventions, `ElementList`.

An element is a pair ``(flip, rotation)`` standing for the planar map "reflect (if
``flip``), then rotate": ``r^rotation f^flip``. For finite groups ``rotation`` is an integer
step (one step is ``2*pi/N``); for SO(2) and O(2) it is an angle in radians in
``[0, 2*pi)``. The group law is the one of O(2):

    (f1, r1) @ (f2, r2) = (f1 + f2 mod 2, r1 + (-1)^f1 * r2)
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ._group import Group

TWO_PI = 2.0 * math.pi
#: Two angles closer than this (modulo 2*pi) name the same element of SO(2)/O(2).
ANGLE_ATOL = 1e-9


# angles within ~1e-12 rad of a multiple of 2*pi/_ANGLE_GRID (every k*pi/N, N <= 16, and
# more) are snapped onto it, so that the same axis computed two ways is the same float
_ANGLE_GRID = 2 * 720720


def canonical_angle(theta: float) -> float:
    """`theta` wrapped into ``[0, 2*pi)``; snapped to the exact multiple of
    ``2*pi / 1441440`` when within round-off of one (e.g. ``k*pi/N`` for N <= 16)."""
    t = float(theta) % TWO_PI
    q = t / TWO_PI * _ANGLE_GRID
    if abs(q - round(q)) < 1e-7:
        t = (round(q) % _ANGLE_GRID) / _ANGLE_GRID * TWO_PI
    return t


def angle_key(theta: float) -> int:
    """A hashable key equal for angles that agree to ~1e-12 rad (modulo 2*pi)."""
    return round(float(theta) % TWO_PI / TWO_PI * 2**40) % 2**40


def _wrap_angle(theta: float) -> float:
    theta = float(theta) % TWO_PI
    # fold angles that are numerically 2*pi onto 0 so that equal elements compare equal
    if TWO_PI - theta < ANGLE_ATOL:
        theta = 0.0
    return theta


class GroupElement:
    """An element ``r^rotation f^flip`` of a subgroup of O(2).

    Build elements with `Group.element`, `Group.identity`, `Group.elements`, or by
    composing others: ``g @ h`` (composition), ``~g`` (inverse).

    **Attributes:**

    - `group`: the group the element belongs to.
    - `flip`: 0 or 1, whether the element contains a reflection.
    - `rotation`: the integer rotation step (finite groups) or the angle in radians in
      ``[0, 2*pi)`` (SO(2), O(2)).
    """

    __slots__ = ("group", "flip", "rotation")

    def __init__(self, group: Group, flip: int, rotation: int | float):
        object.__setattr__(self, "group", group)
        object.__setattr__(self, "flip", flip)
        object.__setattr__(self, "rotation", rotation)

    def __setattr__(self, name, value):
        raise AttributeError("GroupElement is immutable")

    @property
    def angle(self) -> float:
        """The rotation angle in radians, in ``[0, 2*pi)``."""
        if self.group.continuous:
            return float(self.rotation)
        return TWO_PI * self.rotation / self.group.rotation_order

    @property
    def value(self):
        """escnn's parametrisation: ``r`` (C_N), ``(f, r)`` (D_N), ``theta`` (SO(2)),
        ``(f, theta)`` (O(2)), i.e. the element in the parametrisation `param`."""
        if self.group.has_flips:
            return (self.flip, self.rotation)
        return self.rotation

    @property
    def param(self) -> str:
        """The parametrisation of `value`, the group's default, `Group.PARAM` (``'int'`` for
        C_N and D_N, ``'radians'`` for SO(2) and O(2)), as in escnn."""
        return self.group.PARAM

    def to(self, param: str):
        """The element in the parametrisation `param` (one of `Group.PARAMETRIZATIONS`), as
        escnn's ``GroupElement.to``:

        - ``'int'`` (C_N, D_N): ``r`` / ``(f, r)`` with the integer rotation step r;
        - ``'radians'``: ``theta`` / ``(f, theta)`` with the rotation angle in ``[0, 2*pi)``;
        - ``'MAT'``: the ``2 x 2`` rotation matrix ``R(theta)`` / ``(f, R(theta))``.

        Groups with reflections give a pair ``(flip, rotation)``, the others the rotation alone.

        **Raises:** `ValueError` if `param` is not a parametrisation of the group.
        """
        param = self.group._check_param(param)
        if param == "int":
            rot = self.rotation
        elif param == "radians":
            rot = self.angle
        else:
            c, s = math.cos(self.angle), math.sin(self.angle)
            rot = np.array([[c, -s], [s, c]])
        return (self.flip, rot) if self.group.has_flips else rot

    def __matmul__(self, other: GroupElement) -> GroupElement:
        # anything else (e.g. a GeometricTensor) gets the chance to act: ``g @ x`` falls back
        # to ``type(x).__rmatmul__(x, g)``, as in escnn
        if not isinstance(other, GroupElement):
            return NotImplemented
        if other.group != self.group:
            raise ValueError(f"cannot compose elements of different groups: {self.group.name} and {other.group.name}")
        sign = -1 if self.flip else 1
        return self.group._make(self.flip ^ other.flip, self.rotation + sign * other.rotation)

    def __invert__(self) -> GroupElement:
        if self.flip:
            return self
        return self.group._make(0, -self.rotation)

    def is_identity(self) -> bool:
        return self == self.group.identity

    def __eq__(self, other) -> bool:
        if not isinstance(other, GroupElement):
            return NotImplemented
        if other.group != self.group or other.flip != self.flip:
            return False
        if self.group.continuous:
            d = abs(self.rotation - other.rotation) % TWO_PI
            return min(d, TWO_PI - d) < ANGLE_ATOL
        return self.rotation == other.rotation

    def __hash__(self) -> int:
        # continuous groups compare angles with a tolerance: hash only what is exact
        if self.group.continuous:
            return hash((self.group, self.flip))
        return hash((self.group, self.flip, self.rotation))

    def __repr__(self) -> str:
        if self.group.continuous:
            rot = f"{self.rotation:.6g}"
        else:
            rot = str(self.rotation)
        return f"{self.group.name}[{'f' if self.flip else '+'},{rot}]"

    def __reduce__(self):
        return (self.group._make, (self.flip, self.rotation))


class ElementList(list):
    """A list of group elements that can also be called, returning itself.

    This is the value of the gspaces' `testing_elements` property: iterate it as in escnn
    (``for g in gspace.testing_elements:``); the older equijax form
    ``gspace.testing_elements()`` keeps working and gives the same list.
    """

    def __call__(self) -> ElementList:
        return self
