"""The nonlinearities after issue 14's re-cut by concept: every class keeps its public
signature (escnn's argument names and order) and import path, the two one-tensor gated
nonlinearities share one abstract base, and the field-norm helpers have one home."""

import inspect

import pytest

from equijax import nn
from equijax.nn import _gated, _induced_nonlinearities, _norm_nonlinearities

_GRID = ["inplace", "out_irreps", "normalize", "grid", "type", "N", "seed"]

SIGNATURES = {
    nn.PointwiseNonLinearity: ["in_type", "function"],
    nn.ReLU: ["in_type", "inplace"],
    nn.ELU: ["in_type", "alpha", "inplace"],
    nn.LeakyReLU: ["in_type", "negative_slope", "inplace"],
    nn.NormNonLinearity: ["in_type", "function", "bias", "use_bias"],
    nn.InducedNormNonLinearity: ["in_type", "function", "bias", "use_bias"],
    nn.GatedNonLinearity1: ["in_type", "gates", "drop_gates", "key"],
    nn.InducedGatedNonLinearity1: ["in_type", "gates", "drop_gates", "key"],
    nn.GatedNonLinearity2: ["in_type", "key"],
    nn.GatedNonLinearityUniform: ["in_type", "gate", "key"],
    nn.ConcatenatedNonLinearity: ["in_type", "function"],
    nn.VectorFieldNonLinearity: ["in_type"],
    nn.FourierPointwise: ["gspace", "channels", "irreps", "function", *_GRID],
    nn.FourierELU: ["gspace", "channels", "irreps", *_GRID],
    nn.QuotientFourierPointwise: ["gspace", "subgroup_id", "channels", "irreps", "function", *_GRID],
    nn.QuotientFourierELU: ["gspace", "subgroup_id", "channels", "irreps", *_GRID],
    nn.TensorProductModule: ["in_type", "out_type", "initialize", "dtype", "key"],
}


@pytest.mark.parametrize("cls", list(SIGNATURES), ids=lambda c: c.__name__)
def test_signature_kept(cls):
    params = inspect.signature(cls).parameters
    assert list(params) == SIGNATURES[cls]
    if cls.__name__.startswith(("Fourier", "Quotient")):
        keyword_only = [n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY]
        assert keyword_only == [n for n in SIGNATURES[cls] if n == "function" or n in _GRID]
        assert [params[n].default for n in _GRID] == [True, None, True, None, "regular", None, None]
        if "function" in params:
            assert params["function"].default == "p_relu"


def test_one_tensor_gated_share_one_abstract_base():
    base = _gated.AbstractGatedNonLinearity1
    for cls in (nn.GatedNonLinearity1, nn.InducedGatedNonLinearity1):
        assert issubclass(cls, base)
        assert "__call__" not in vars(cls) and "export" not in vars(cls)
    assert nn.InducedGatedNonLinearity1.__module__ == _induced_nonlinearities.__name__
    with pytest.raises(TypeError, match="abstract"):
        base(None)


def test_escnn_class_relations_kept():
    assert issubclass(nn.FourierELU, nn.FourierPointwise)
    assert issubclass(nn.QuotientFourierELU, nn.QuotientFourierPointwise)
    for cls in (nn.ReLU, nn.ELU, nn.LeakyReLU):
        assert issubclass(cls, nn.PointwiseNonLinearity)


def test_field_norm_helpers_have_one_home():
    from equijax.nn import _channel_pooling, _normalization, _pooling

    assert _pooling.field_norms is _norm_nonlinearities.field_norms
    assert _channel_pooling.field_membership is _norm_nonlinearities.field_membership
    assert _normalization.field_membership is _norm_nonlinearities.field_membership
