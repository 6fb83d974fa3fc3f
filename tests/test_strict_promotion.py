"""Library code runs under JAX's strict dtype promotion (``jax_numpy_dtype_promotion="strict"``),
which users may enable: no implicit mixing of dtypes in rotations, mixed-precision batch norms,
filter expansions or the train step."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from equijax import data, gspaces, nn


def test_rotations_under_strict_promotion(rng):
    x = jnp.asarray(rng.random((2, 1, 9, 9)), jnp.float32)
    with jax.numpy_dtype_promotion("strict"):
        out = data.rotate_images(x, jnp.full(2, np.pi / 2, jnp.float32))
        data.random_rotations(jax.random.key(0), x)
    np.testing.assert_allclose(out, np.rot90(np.asarray(x), 1, axes=(-2, -1)), atol=1e-5)


def test_bfloat16_conv_and_batch_norm_under_strict_promotion():
    gs = gspaces.rot2dOnR2(4)
    t = nn.FieldType(gs, 2 * [gs.regular_repr])
    conv = nn.R2Conv(t, t, 3, padding=1, dtype=jnp.bfloat16, key=jax.random.key(0))

    bn, state = eqx.nn.make_with_state(nn.InnerBatchNorm)(t)
    x = nn.GeometricTensor(jnp.ones((2, 8, 5, 5), jnp.bfloat16), t)
    with jax.numpy_dtype_promotion("strict"):
        y, _ = bn(conv(x), state)
    assert y.tensor.dtype == jnp.bfloat16


def test_strict_mode_is_really_on():
    """Negative control: the context refuses an implicit promotion."""
    with jax.numpy_dtype_promotion("strict"), pytest.raises(Exception, match="[Pp]romot"):
        jnp.ones(2, jnp.float32) + jnp.ones(2, jnp.int32)
