"""Equivariant Equinox modules, field types and geometric tensors (escnn's ``nn``)."""

from ._conv import R2Conv as R2Conv, R2ConvTransposed as R2ConvTransposed
from ._field_type import FieldType as FieldType
from ._geometric_tensor import GeometricTensor as GeometricTensor, tensor_directsum as tensor_directsum
from ._linear import Linear as Linear
from ._module import EquivariantModule as EquivariantModule

__all__ = [
    "EquivariantModule",
    "FieldType",
    "GeometricTensor",
    "Linear",
    "R2Conv",
    "R2ConvTransposed",
    "tensor_directsum",
]
