"""Equivariant Equinox modules, field types and geometric tensors (escnn's ``nn``)."""

from . import init as init
from ._batchnorm import (
    ChannelAffine as ChannelAffine,
    IIDBatchNorm1d as IIDBatchNorm1d,
    IIDBatchNorm2d as IIDBatchNorm2d,
    InnerBatchNorm as InnerBatchNorm,
    NormBatchNorm as NormBatchNorm,
)
from ._branching import (
    BranchingModule as BranchingModule,
    MergeModule as MergeModule,
    MultipleModule as MultipleModule,
)
from ._channel_pooling import (
    InducedNormPool as InducedNormPool,
    MaxPoolChannels as MaxPoolChannels,
    NormMaxPool as NormMaxPool,
)
from ._concatenated import (
    ConcatenatedNonLinearity as ConcatenatedNonLinearity,
    VectorFieldNonLinearity as VectorFieldNonLinearity,
)
from ._conv import R2Conv as R2Conv, R2ConvTransposed as R2ConvTransposed
from ._dropout import FieldDropout as FieldDropout, PointwiseDropout as PointwiseDropout
from ._field_type import FieldType as FieldType
from ._fourier import (
    FourierELU as FourierELU,
    FourierPointwise as FourierPointwise,
    QuotientFourierELU as QuotientFourierELU,
    QuotientFourierPointwise as QuotientFourierPointwise,
)
from ._gated import (
    GatedNonLinearity1 as GatedNonLinearity1,
    GatedNonLinearity2 as GatedNonLinearity2,
    GatedNonLinearityUniform as GatedNonLinearityUniform,
)
from ._geometric_tensor import GeometricTensor as GeometricTensor, tensor_directsum as tensor_directsum
from ._induced_nonlinearities import (
    InducedGatedNonLinearity1 as InducedGatedNonLinearity1,
    InducedNormNonLinearity as InducedNormNonLinearity,
)
from ._linear import Linear as Linear
from ._module import EquivariantModule as EquivariantModule, FieldTypeMismatchError as FieldTypeMismatchError
from ._norm_nonlinearities import NormNonLinearity as NormNonLinearity
from ._normalization import (
    FieldNorm as FieldNorm,
    GNormBatchNorm as GNormBatchNorm,
    InducedNormBatchNorm as InducedNormBatchNorm,
)
from ._pointwise import (
    ELU as ELU,
    LeakyReLU as LeakyReLU,
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
from ._restriction import (
    DisentangleModule as DisentangleModule,
    ReshuffleModule as ReshuffleModule,
    RestrictionModule as RestrictionModule,
)
from ._structure import IdentityModule as IdentityModule, MaskModule as MaskModule, SequentialModule as SequentialModule
from ._tensor_product import TensorProductModule as TensorProductModule
from ._upsampling import R2Upsampling as R2Upsampling

__all__ = [
    "BranchingModule",
    "ChannelAffine",
    "ConcatenatedNonLinearity",
    "DisentangleModule",
    "ELU",
    "EquivariantModule",
    "FieldDropout",
    "FieldNorm",
    "FieldType",
    "FieldTypeMismatchError",
    "FourierELU",
    "FourierPointwise",
    "GNormBatchNorm",
    "GatedNonLinearity1",
    "GatedNonLinearity2",
    "GatedNonLinearityUniform",
    "GeometricTensor",
    "GroupPooling",
    "IIDBatchNorm1d",
    "IIDBatchNorm2d",
    "IdentityModule",
    "InducedGatedNonLinearity1",
    "InducedNormBatchNorm",
    "InducedNormNonLinearity",
    "InducedNormPool",
    "InnerBatchNorm",
    "LeakyReLU",
    "Linear",
    "MaskModule",
    "MaxPoolChannels",
    "MergeModule",
    "MultipleModule",
    "NormBatchNorm",
    "NormMaxPool",
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
    "PointwiseDropout",
    "PointwiseMaxPool",
    "PointwiseMaxPool2D",
    "PointwiseMaxPoolAntialiased",
    "PointwiseMaxPoolAntialiased2D",
    "PointwiseNonLinearity",
    "QuotientFourierELU",
    "QuotientFourierPointwise",
    "R2Conv",
    "R2ConvTransposed",
    "R2Upsampling",
    "ReLU",
    "ReshuffleModule",
    "RestrictionModule",
    "SequentialModule",
    "TensorProductModule",
    "VectorFieldNonLinearity",
    "init",
    "tensor_directsum",
]
