"""The CPU fast path for the filter gradient equals XLA's gradient."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from equijax.nn._conv_kernels import _xla_conv, conv2d

CASES = [
    ((1, 1), ((2, 2), (2, 2)), (1, 1), 5),
    ((2, 2), ((1, 0), (2, 1)), (1, 1), 3),
    ((1, 2), ((0, 0), (0, 0)), (2, 1), 3),
    ((3, 1), ((1, 1), (0, 2)), (1, 2), 4),
]


@pytest.mark.parametrize("stride, padding, dilation, k", CASES)
def test_filter_gradient_matches_xla(stride, padding, dilation, k, rng):
    x = jnp.asarray(rng.normal(size=(3, 4, 13, 14)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(5, 4, k, k)), jnp.float32)

    def loss(conv):
        return lambda x, w: jnp.sum(jnp.sin(conv(x, w, stride, padding, dilation)))

    ours = jax.jit(jax.grad(loss(conv2d), argnums=(0, 1)))(x, w)
    ref = jax.grad(loss(_xla_conv), argnums=(0, 1))(x, w)
    np.testing.assert_allclose(conv2d(x, w, stride, padding, dilation), _xla_conv(x, w, stride, padding, dilation))
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    # negative control: a wrong tap order would not match
    flipped = ours[1][..., ::-1, :]
    assert np.abs(np.asarray(flipped) - np.asarray(ref[1])).max() > 1e-2


def test_filter_gradient_float64_and_vmap(rng):
    with jax.enable_x64(True):
        x = jnp.asarray(rng.normal(size=(2, 3, 9, 9)))
        w = jnp.asarray(rng.normal(size=(4, 3, 3, 3)))
        f = lambda conv: lambda w: jnp.sum(conv(x, w, (1, 1), ((1, 1), (1, 1)), (1, 1)) ** 2)  # noqa: E731
        g = jax.grad(f(conv2d))(w)
        assert g.dtype == jnp.float64
        np.testing.assert_allclose(g, jax.grad(f(_xla_conv))(w), rtol=1e-12)
    ws = jnp.asarray(rng.normal(size=(2, 4, 3, 3, 3)), jnp.float32)
    xs = jnp.asarray(rng.normal(size=(2, 3, 9, 9)), jnp.float32)
    per = jax.vmap(jax.grad(lambda w: jnp.sum(conv2d(xs, w, (1, 1), ((1, 1), (1, 1))) ** 2)))(ws)
    ref = jax.vmap(jax.grad(lambda w: jnp.sum(_xla_conv(xs, w, (1, 1), ((1, 1), (1, 1)), (1, 1)) ** 2)))(ws)
    np.testing.assert_allclose(per, ref, rtol=1e-4, atol=1e-3)
