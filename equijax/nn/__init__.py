"""Equivariant Equinox modules, field types and geometric tensors (escnn's ``nn``)."""

from ._batchnorm import (
    ChannelAffine as ChannelAffine,
    IIDBatchNorm1d as IIDBatchNorm1d,
    IIDBatchNorm2d as IIDBatchNorm2d,
    InnerBatchNorm as InnerBatchNorm,
    NormBatchNorm as NormBatchNorm,
)
from ._conv import R2Conv as R2Conv, R2ConvTransposed as R2ConvTransposed
from ._field_type import FieldType as FieldType
from ._geometric_tensor import GeometricTensor as GeometricTensor, tensor_directsum as tensor_directsum
from ._linear import Linear as Linear
from ._module import EquivariantModule as EquivariantModule
from ._nonlinearities import (
    ELU as ELU,
    LeakyReLU as LeakyReLU,
    NormNonLinearity as NormNonLinearity,
    PointwiseNonLinearity as PointwiseNonLinearity,
    ReLU as ReLU,
)
from ._pooling import (
    GroupPooling as GroupPooling,
    NormPool as NormPool,
    PointwiseAdaptiveAvgPool as PointwiseAdaptiveAvgPool,
    PointwiseAdaptiveAvgPool2D as PointwiseAdaptiveAvgPool2D,
    PointwiseAdaptiveMaxPool as PointwiseAdaptiveMaxPool,
    PointwiseAdaptiveMaxPool2D as PointwiseAdaptiveMaxPool2D,
    PointwiseAvgPool as PointwiseAvgPool,
    PointwiseAvgPool2D as PointwiseAvgPool2D,
    PointwiseAvgPoolAntialiased as PointwiseAvgPoolAntialiased,
    PointwiseAvgPoolAntialiased2D as PointwiseAvgPoolAntialiased2D,
    PointwiseMaxPool as PointwiseMaxPool,
    PointwiseMaxPool2D as PointwiseMaxPool2D,
    PointwiseMaxPoolAntialiased as PointwiseMaxPoolAntialiased,
    PointwiseMaxPoolAntialiased2D as PointwiseMaxPoolAntialiased2D,
)
from ._structure import IdentityModule as IdentityModule, MaskModule as MaskModule, SequentialModule as SequentialModule

__all__ = [
    "ChannelAffine",
    "ELU",
    "EquivariantModule",
    "FieldType",
    "GeometricTensor",
    "GroupPooling",
    "IIDBatchNorm1d",
    "IIDBatchNorm2d",
    "IdentityModule",
    "InnerBatchNorm",
    "LeakyReLU",
    "Linear",
    "MaskModule",
    "NormBatchNorm",
    "NormNonLinearity",
    "NormPool",
    "PointwiseAdaptiveAvgPool",
    "PointwiseAdaptiveAvgPool2D",
    "PointwiseAdaptiveMaxPool",
    "PointwiseAdaptiveMaxPool2D",
    "PointwiseAvgPool",
    "PointwiseAvgPool2D",
    "PointwiseAvgPoolAntialiased",
    "PointwiseAvgPoolAntialiased2D",
    "PointwiseMaxPool",
    "PointwiseMaxPool2D",
    "PointwiseMaxPoolAntialiased",
    "PointwiseMaxPoolAntialiased2D",
    "PointwiseNonLinearity",
    "R2Conv",
    "R2ConvTransposed",
    "ReLU",
    "SequentialModule",
    "tensor_directsum",
]
