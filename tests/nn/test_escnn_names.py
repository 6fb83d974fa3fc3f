"""equijax.nn offers escnn's planar vocabulary: every name of ``escnn.nn.__all__`` except the
3D / volumetric / point-cloud ones.

The list is escnn's ``escnn/nn/__init__.py`` (``FieldType``, ``GeometricTensor``,
``tensor_directsum``, the modules of ``escnn/nn/modules/__init__.py`` and ``init``), copied
from escnn 1.0.x (QUVA-Lab/escnn). Exclusion rule: names that only make sense for signals on
R^3, on volumetric grids or on point clouds are out of equijax's scope (planar gspaces only):
``R3*`` convolutions and upsampling, ``*3D`` / ``*3d`` pooling and batch norms, the
icosahedral convolutions, ``HarmonicPolynomialR3``, and the point convolutions
(``R2PointConv`` and ``R3PointConv``, which work on graphs of points and are optional in escnn
itself, behind torch_geometric). The most recent escnn also exports ``FourierFieldType`` and
``GridTensor``, data types of its group-Fourier machinery for spherical/3D groups; they are not
planar modules and are excluded too.
"""

import pytest

from equijax import nn

ESCNN_NN_ALL = [
    # escnn/nn/__init__.py
    "FieldType",
    "GeometricTensor",
    "tensor_directsum",
    "init",
    # escnn/nn/modules/__init__.py
    "EquivariantModule",
    "BranchingModule",
    "MergeModule",
    "MultipleModule",
    "Linear",
    "R2PointConv",
    "R3PointConv",
    "R3Conv",
    "R2Conv",
    "R2ConvTransposed",
    "R3ConvTransposed",
    "R3IcoConv",
    "R3IcoConvTransposed",
    "R2Upsampling",
    "R3Upsampling",
    "GatedNonLinearity1",
    "GatedNonLinearity2",
    "GatedNonLinearityUniform",
    "InducedGatedNonLinearity1",
    "NormNonLinearity",
    "InducedNormNonLinearity",
    "PointwiseNonLinearity",
    "ConcatenatedNonLinearity",
    "VectorFieldNonLinearity",
    "ReLU",
    "ELU",
    "LeakyReLU",
    "FourierPointwise",
    "FourierELU",
    "QuotientFourierPointwise",
    "QuotientFourierELU",
    "TensorProductModule",
    "ReshuffleModule",
    "NormMaxPool",
    "PointwiseMaxPool2D",
    "PointwiseMaxPool",
    "PointwiseMaxPool3D",
    "PointwiseMaxPoolAntialiased2D",
    "PointwiseMaxPoolAntialiased",
    "PointwiseMaxPoolAntialiased3D",
    "PointwiseAvgPool2D",
    "PointwiseAvgPool",
    "PointwiseAvgPoolAntialiased2D",
    "PointwiseAvgPoolAntialiased",
    "PointwiseAvgPool3D",
    "PointwiseAvgPoolAntialiased3D",
    "PointwiseAdaptiveAvgPool2D",
    "PointwiseAdaptiveAvgPool",
    "PointwiseAdaptiveAvgPool3D",
    "PointwiseAdaptiveMaxPool2D",
    "PointwiseAdaptiveMaxPool",
    "PointwiseAdaptiveMaxPool3D",
    "GroupPooling",
    "MaxPoolChannels",
    "NormPool",
    "InducedNormPool",
    "InnerBatchNorm",
    "NormBatchNorm",
    "InducedNormBatchNorm",
    "GNormBatchNorm",
    "IIDBatchNorm1d",
    "IIDBatchNorm2d",
    "IIDBatchNorm3d",
    "FieldNorm",
    "RestrictionModule",
    "DisentangleModule",
    "FieldDropout",
    "PointwiseDropout",
    "SequentialModule",
    "IdentityModule",
    "MaskModule",
    "HarmonicPolynomialR3",
    # newest escnn/nn/__init__.py
    "FourierFieldType",
    "GridTensor",
]

EXCLUDED = {
    # signals on R^3 / volumetric grids
    "R3Conv",
    "R3ConvTransposed",
    "R3IcoConv",
    "R3IcoConvTransposed",
    "R3Upsampling",
    "PointwiseMaxPool3D",
    "PointwiseMaxPoolAntialiased3D",
    "PointwiseAvgPool3D",
    "PointwiseAvgPoolAntialiased3D",
    "PointwiseAdaptiveAvgPool3D",
    "PointwiseAdaptiveMaxPool3D",
    "IIDBatchNorm3d",
    "HarmonicPolynomialR3",
    # point clouds (graphs of points; optional in escnn itself)
    "R2PointConv",
    "R3PointConv",
    # data types of escnn's Fourier machinery for 3D groups, not planar modules
    "FourierFieldType",
    "GridTensor",
}

PLANAR = [name for name in ESCNN_NN_ALL if name not in EXCLUDED]


def test_exclusions_follow_the_rule():
    assert EXCLUDED <= set(ESCNN_NN_ALL)
    for name in EXCLUDED - {"R2PointConv", "FourierFieldType", "GridTensor"}:
        assert "3" in name, name
    assert len(PLANAR) == len(set(PLANAR)) == 61


@pytest.mark.parametrize("name", PLANAR)
def test_escnn_name_exists(name):
    assert hasattr(nn, name), f"equijax.nn has no {name!r} (escnn.nn.{name})"
    assert name in nn.__all__, f"{name!r} is not in equijax.nn.__all__"
