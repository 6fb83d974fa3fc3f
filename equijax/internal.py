"""The sanctioned door to equijax's internal helpers (not public API).

Helpers that one of equijax's packages needs from another live in a private file of their
home package and are re-exported here, as `lineax.internal` does: sibling packages import
them from this module, never from another package's private file. Nothing here is part of
the public API: names may change without notice.

- `cached_subgroup(group, id)`: ``(H, inclusion, restriction)`` for an already validated
  subgroup id, cached by value (`Group.subgroup` checks the id, then calls it).
- `angle_key`, `canonical_angle`: the angle conventions of the elements of SO(2) and O(2).
- `quadrature_elements(group, bandwidth)`: elements over which the group mean of a
  trigonometric polynomial of degree <= `bandwidth` is exact.
- `split_key`, `dense_layer`: PRNG keys and `eqx.nn.Linear` layers made without compiling.
- `is_int`, `is_real`: checks of plain numbers (bools are refused).
- `HashedValue`: the base of immutable values hashed once (`Representation`, `nn.FieldType`).
- `sampling_grid`, `fourier_layout`, `spectral_representation`, `coset_representatives`,
  `fourier_matrices`: the Fourier transforms on a group or its cosets (numpy) behind
  `equijax.nn.FourierPointwise`.

This module imports only `equijax._misc` and `equijax.group`, so any package may import it
without an import cycle.
"""

from ._misc import (
    dense_layer as dense_layer,
    is_int as is_int,
    is_real as is_real,
    split_key as split_key,
)
from .group._decompose import quadrature_elements as quadrature_elements
from .group._element import angle_key as angle_key, canonical_angle as canonical_angle
from .group._fourier_matrices import (
    coset_representatives as coset_representatives,
    fourier_layout as fourier_layout,
    fourier_matrices as fourier_matrices,
    sampling_grid as sampling_grid,
    spectral_representation as spectral_representation,
)
from .group._subgroups import _subgroup as cached_subgroup
from .group._value import HashedValue as HashedValue

__all__ = [
    "HashedValue",
    "angle_key",
    "cached_subgroup",
    "canonical_angle",
    "coset_representatives",
    "dense_layer",
    "fourier_layout",
    "fourier_matrices",
    "is_int",
    "is_real",
    "quadrature_elements",
    "sampling_grid",
    "spectral_representation",
    "split_key",
]
