"""The bfloat16 mixed-precision policy: bfloat16 compute, float32 parameters and batch-norm
statistics; equivariance holds to bfloat16 rounding (relative tolerance BF16_RTOL)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from equijax import gspaces, models, nn, train
from equijax.data import load_sample, pad_images
from equijax.testing import assert_equivariant, random_input

# bfloat16 keeps 8 significant bits (relative rounding 2**-8 = 0.4%); a few layers of
# rounding, in a different order for the transformed input, stay well inside 2%.
BF16_RTOL = 2e-2


def clone(state):
    leaves, treedef = jax.tree_util.tree_flatten(state)
    return jax.tree_util.tree_unflatten(treedef, leaves)


def block(gs, key):
    k1, k2 = jax.random.split(key)
    t_in = nn.FieldType(gs, 2 * [gs.trivial_repr])
    t_mid = nn.FieldType(gs, 3 * [gs.regular_repr])
    t_out = nn.FieldType(gs, 2 * [gs.regular_repr] + [gs.irreps[-1]])
    return nn.SequentialModule(
        nn.R2Conv(t_in, t_mid, 5, padding=2, key=k1),
        nn.InnerBatchNorm(t_mid),
        nn.ReLU(t_mid),
        nn.PointwiseMaxPool2D(t_mid, 3, stride=2, padding=1),
        nn.R2Conv(t_mid, t_out, 3, padding=1, key=k2),
        nn.NormBatchNorm(t_out),
    )


@pytest.mark.parametrize(
    "gs",
    [pytest.param(gspaces.rot2dOnR2(4), marks=pytest.mark.slow), gspaces.flipRot2dOnR2(4), gspaces.rot2dOnR2(8)],
    ids=str,
)  # C4 is a subgroup of D4 (in the timed suite): -m slow
def test_bfloat16_policy_equivariance(gs, getkey):
    key = getkey()
    model, state = eqx.nn.make_with_state(block)(gs, key)
    x = random_input(model.in_type, key=jax.random.fold_in(key, 1), batch=4, size=17)
    x = nn.GeometricTensor(x.tensor.astype(jnp.bfloat16), x.type)
    y, new_state = model(x, clone(state))
    assert y.tensor.dtype == jnp.bfloat16
    assert all(p.dtype == jnp.float32 for p in jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_inexact_array)))
    assert all(s.dtype == jnp.float32 for s in jax.tree_util.tree_leaves(new_state))

    for inference in (False, True):
        m = eqx.nn.inference_mode(model, inference)
        assert_equivariant(lambda t, m=m: m(t, clone(state))[0], x, atol=0.0, rtol=BF16_RTOL)

    # negative control: a 5% position-dependent gain breaks equivariance beyond the tolerance
    ramp = jnp.linspace(1.0, 1.05, 17, dtype=jnp.bfloat16)[None, None, None, :]
    with pytest.raises(AssertionError, match="not equivariant"):
        assert_equivariant(
            lambda t: model(nn.GeometricTensor(t.tensor * ramp, t.type), clone(state))[0], x, atol=0.0, rtol=BF16_RTOL
        )


def test_c8_trains_and_stays_invariant_in_bfloat16():
    ds = load_sample()
    x = np.asarray(pad_images(ds.x_train[:320], 29)[:, None], np.float32)
    y = ds.y_train[:320]
    model, state = eqx.nn.make_with_state(models.C8SteerableCNN)(jax.random.key(0), width=0.125)
    opt = optax.adam(2e-3)
    opt_state = opt.init(eqx.filter(model, eqx.is_array))
    step = train.make_train_step(opt, augment=False, precision="bfloat16")
    losses = []
    for i in range(20):
        b = slice((i % 10) * 32, (i % 10) * 32 + 32)
        model, state, opt_state, loss, _ = step(jax.random.key(1), model, state, opt_state, x[b], y[b], i)
        losses.append(float(loss))
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5]), losses
    # parameters, optimizer moments and batch-norm statistics stay float32
    for tree in (eqx.filter(model, eqx.is_inexact_array), opt_state, state):
        assert all(
            a.dtype == jnp.float32 for a in jax.tree_util.tree_leaves(tree) if jnp.issubdtype(a.dtype, jnp.floating)
        )
    inv = train.invariance_error(model, state, x[:64], precision="bfloat16")
    assert inv["relative"] < BF16_RTOL, inv
    # the float32 policy on the same parameters is invariant to float32 rounding
    assert train.invariance_error(model, state, x[:64])["relative"] < 1e-5


def test_unknown_precision_is_rejected():
    with pytest.raises(ValueError, match="`precision`.*float16"):
        train.make_train_step(optax.adam(1e-3), precision="float16")
    with pytest.raises(ValueError, match="precision"):
        train.TrainConfig(precision="fp8")
