"""Messages for misuse of the batch norms (state, axis names), the pointwise nonlinearities'
parameters and escnn's `bias` name next to Equinox's `use_bias` (issue 13, "Smaller
messages"): one line, naming the argument and what to write instead, never a private class."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from equijax import gspaces, nn

C4 = gspaces.rot2dOnR2(4)
REG2 = nn.FieldType(C4, [C4.regular_repr] * 2)
REG3 = nn.FieldType(C4, [C4.regular_repr] * 3)
MIXED = nn.FieldType(C4, [C4.irrep(1), C4.trivial_repr])
INDUCED = nn.FieldType(C4, [C4.fibergroup.induced_representation(2, C4.fibergroup.subgroup(2)[0].irrep(1))])

BATCH_NORMS = [
    lambda **kw: nn.InnerBatchNorm(REG2, **kw),
    lambda **kw: nn.NormBatchNorm(MIXED, **kw),
    lambda **kw: nn.GNormBatchNorm(MIXED, **kw),
    lambda **kw: nn.IIDBatchNorm2d(MIXED, **kw),
    lambda **kw: nn.InducedNormBatchNorm(INDUCED, **kw),
]
IDS = ["InnerBatchNorm", "NormBatchNorm", "GNormBatchNorm", "IIDBatchNorm2d", "InducedNormBatchNorm"]


def one_line(e) -> str:
    msg = str(e.value)
    assert "\n" not in msg, msg
    assert "_SegmentBatchNorm" not in msg and "_IrrepsBasisBatchNorm" not in msg, msg
    return msg


def x_for(bn, batch=(3,)):
    return nn.GeometricTensor(jnp.ones(batch + (bn.in_type.size, 4, 4)), bn.in_type)


# -- batch-norm state misuse ----------------------------------------------------------------------


@pytest.mark.parametrize("make", BATCH_NORMS, ids=IDS)
def test_batchnorm_called_without_state(make):
    bn, _ = eqx.nn.make_with_state(make)()
    with pytest.raises(ValueError, match="keeps state") as e:
        bn(x_for(bn))
    msg = one_line(e)
    assert type(bn).__name__ in msg and "eqx.nn.make_with_state" in msg and "y, state = " in msg


@pytest.mark.parametrize("make", BATCH_NORMS, ids=IDS)
@pytest.mark.parametrize("bad", [None, {}, (), "state"], ids=["None", "dict", "tuple", "str"])
def test_batchnorm_state_of_wrong_kind(make, bad):
    bn, _ = eqx.nn.make_with_state(make)()
    with pytest.raises(TypeError, match=r"`state` \(.*\) must be an `eqx.nn.State`") as e:
        bn(x_for(bn), bad)
    msg = one_line(e)
    assert type(bn).__name__ in msg and "eqx.nn.make_with_state" in msg
    # also through a SequentialModule, and for frozen_affine / export
    with pytest.raises(TypeError, match="must be an `eqx.nn.State`"):
        nn.SequentialModule(bn)(x_for(bn), bad)
    with pytest.raises(TypeError, match="must be an `eqx.nn.State`"):
        bn.frozen_affine(bad)


def test_batchnorm_state_of_another_model_is_detected():
    bn, state = eqx.nn.make_with_state(nn.InnerBatchNorm)(REG2)
    x = x_for(bn)
    # a state made for a different bare batch norm: same index path, statistics of another size
    _, other = eqx.nn.make_with_state(nn.InnerBatchNorm)(REG3)
    with pytest.raises(ValueError, match="another model") as e:
        bn(x, other)
    msg = one_line(e)
    assert "(2,)" in msg and "(3,)" in msg and "eqx.nn.make_with_state" in msg
    # a state made for a model of another structure: this module's StateIndex is missing
    seq, seq_state = eqx.nn.make_with_state(nn.SequentialModule)(nn.ReLU(REG2), nn.InnerBatchNorm(REG2))
    with pytest.raises(ValueError, match="does not hold the running statistics") as e:
        bn(x, seq_state)
    assert "another model" in one_line(e)
    with pytest.raises(ValueError, match="does not hold the running statistics"):
        seq[1](x, state)  # the bare module's state for the member of the sequential model
    with pytest.raises(ValueError, match="does not hold"):
        bn.export(seq_state)
    # a state built with eqx.nn.State from another instance (unique object markers)
    with pytest.raises(ValueError, match="does not hold"):
        bn(x, eqx.nn.State(nn.InnerBatchNorm(REG2)))
    # the state of an identical model is interchangeable (same index paths, same shapes) and accepted
    _, twin = eqx.nn.make_with_state(nn.InnerBatchNorm)(REG2)
    y, _ = bn(x, twin)
    assert y.shape == x.shape


# -- axis names -----------------------------------------------------------------------------------


@pytest.mark.parametrize("make", BATCH_NORMS[:3], ids=IDS[:3])
def test_vmap_under_another_axis_name(make):
    bn, state = eqx.nn.make_with_state(make)(axis_name="batch")
    x = x_for(bn)
    f = jax.vmap(bn, axis_name="examples", in_axes=(0, None), out_axes=(0, None))
    with pytest.raises(ValueError, match="needs a batch") as e:
        f(x, state)
    msg = one_line(e)
    assert "axis_name='batch'" in msg and "'examples'" in msg and "jax.vmap(..., axis_name='batch')" in msg


def test_vmap_without_axis_name():
    # built with an axis name, vmapped without one
    bn, state = eqx.nn.make_with_state(nn.InnerBatchNorm)(REG2, axis_name="batch")
    x = x_for(bn)
    with pytest.raises(ValueError, match="needs a batch") as e:
        jax.vmap(bn, in_axes=(0, None), out_axes=(0, None))(x, state)
    msg = one_line(e)
    assert "axis_name='batch'" in msg and "not bound" in msg
    # the expected name works
    y, _ = jax.vmap(bn, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(x, state)
    assert y.shape == x.shape
    # built without one, vmapped with one: say which name to give
    bn, state = eqx.nn.make_with_state(nn.InnerBatchNorm)(REG2)
    with pytest.raises(ValueError, match="needs a batch") as e:
        jax.vmap(bn, axis_name="b", in_axes=(0, None), out_axes=(0, None))(x, state)
    msg = one_line(e)
    assert "axis_name=None" in msg and "axis_name='b'" in msg
    # neither: the plain message
    with pytest.raises(ValueError, match="needs a batch") as e:
        bn(x_for(bn, batch=()), state)
    assert "leading batch axes" in one_line(e)


# -- ELU / LeakyReLU parameters ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: nn.ELU(REG2, "1"), TypeError, r"`alpha` \(='1'\) must be a real number"),
        (lambda: nn.ELU(REG2, True), TypeError, r"`alpha` \(=True\) must be a real number"),
        (lambda: nn.ELU(REG2, None), TypeError, r"`alpha` \(=None\)"),
        (lambda: nn.ELU(REG2, 1 + 2j), TypeError, "`alpha`"),
        (lambda: nn.ELU(REG2, math.nan), ValueError, r"`alpha` \(=nan\) must be finite"),
        (lambda: nn.ELU(REG2, math.inf), ValueError, r"`alpha` \(=inf\) must be finite"),
        (lambda: nn.ELU(REG2, jnp.ones(2)), TypeError, "`alpha`"),
        (lambda: nn.ELU(REG2, alpha=1.0, inplace="yes"), TypeError, r"`inplace` \(='yes'\) must be a bool"),
        (lambda: nn.LeakyReLU(REG2, "0.1"), TypeError, r"`negative_slope` \(='0.1'\) must be a real number"),
        (lambda: nn.LeakyReLU(REG2, False), TypeError, "`negative_slope`"),
        (lambda: nn.LeakyReLU(REG2, -math.inf), ValueError, r"`negative_slope` \(=-inf\) must be finite"),
        (lambda: nn.LeakyReLU(REG2, np.float64("nan")), ValueError, "`negative_slope`"),
        (lambda: nn.ReLU(REG2, inplace=None), TypeError, "`inplace`"),
    ],
)
def test_pointwise_parameters_are_checked(call, exc, match):
    with pytest.raises(exc, match=match) as e:
        call()
    assert "\n" not in str(e.value)


def test_pointwise_parameters_escnn_order():
    """escnn's names and positional order: ELU(in_type, alpha, inplace), LeakyReLU(in_type, negative_slope, inplace)."""
    e = nn.ELU(REG2, 0.5, True)
    assert e.alpha == 0.5 and isinstance(e.alpha, float)
    assert nn.ELU(REG2, np.float32(2)).alpha == 2.0 and nn.ELU(REG2, 2).alpha == 2.0
    lr = nn.LeakyReLU(REG2, 0.2, False)
    assert lr.negative_slope == 0.2
    assert nn.LeakyReLU(REG2, negative_slope=np.asarray(0.3)).negative_slope == pytest.approx(0.3)
    x = nn.GeometricTensor(jnp.full((1, 8, 1, 1), -1.0), REG2)
    np.testing.assert_allclose(e(x).tensor, 0.5 * (math.exp(-1) - 1), rtol=1e-6)
    np.testing.assert_allclose(lr(x).tensor, -0.2, rtol=1e-6)


# -- bias= next to use_bias= ---------------------------------------------------------------------------


def test_norm_nonlinearity_bias_and_use_bias():
    t = nn.FieldType(C4, [C4.irrep(1)] * 2)
    # escnn's name, positionally and by keyword, default True as in escnn
    assert nn.NormNonLinearity(t).log_bias is not None
    assert nn.NormNonLinearity(t, "n_relu", False).log_bias is None
    assert nn.NormNonLinearity(t, bias=False).log_bias is None
    # Equinox's name
    assert nn.NormNonLinearity(t, use_bias=False).log_bias is None
    assert nn.NormNonLinearity(t, "squash", use_bias=False).log_bias is None
    assert nn.NormNonLinearity(t, use_bias=True, bias=True).log_bias is not None
    with pytest.raises(ValueError, match="`bias`.*`use_bias`") as e:
        nn.NormNonLinearity(t, bias=True, use_bias=False)
    assert "\n" not in str(e.value)
    with pytest.raises(TypeError, match=r"`use_bias` \(=1\) must be a bool"):
        nn.NormNonLinearity(t, use_bias=1)
    with pytest.raises(ValueError, match="`bias` must be False"):
        nn.NormNonLinearity(t, "squash")


# -- dtype of the batch norms' parameters and statistics --------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda d: nn.InnerBatchNorm(REG2, dtype=d),
        lambda d: nn.GNormBatchNorm(MIXED, dtype=d),
        lambda d: nn.InducedNormBatchNorm(INDUCED, dtype=d),
        lambda d: nn.FieldNorm(MIXED, dtype=d),
    ],
    ids=["InnerBatchNorm", "GNormBatchNorm", "InducedNormBatchNorm", "FieldNorm"],
)
def test_norm_dtype_is_checked(make):
    for bad in ("flaot32", jnp.int32, "int8"):
        with pytest.raises(ValueError, match=r"`dtype` \(=") as e:
            make(bad)
        assert "\n" not in str(e.value)
    assert make("float32").weight.dtype == jnp.float32
