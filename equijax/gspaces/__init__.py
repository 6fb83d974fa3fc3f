"""GSpaces: groups acting on the plane (escnn's factories) or on no space."""

from ._gspace import (
    GSpace as GSpace,
    GSpace0D as GSpace0D,
    GSpace2D as GSpace2D,
    flip2dOnR2 as flip2dOnR2,
    flipRot2dOnR2 as flipRot2dOnR2,
    no_base_space as no_base_space,
    rot2dOnR2 as rot2dOnR2,
    transform_grid as transform_grid,
    trivialOnR2 as trivialOnR2,
)

__all__ = [
    "GSpace",
    "GSpace0D",
    "GSpace2D",
    "flip2dOnR2",
    "flipRot2dOnR2",
    "no_base_space",
    "rot2dOnR2",
    "transform_grid",
    "trivialOnR2",
]
