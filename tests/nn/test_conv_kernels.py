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


_YNN_SCRIPT = r"""
import jax, jax.numpy as jnp, numpy as np, equinox as eqx
from equijax import gspaces, nn
from equijax.nn._conv_kernels import _filter_gradient, conv2d, ynn_enabled
from equijax.testing import assert_equivariant, random_input

assert ynn_enabled()
rng = np.random.default_rng(0)
x = jnp.asarray(rng.normal(size=(3, 4, 13, 13)), jnp.float32)
w = jnp.asarray(rng.normal(size=(5, 4, 3, 3)), jnp.float32)
pad = ((1, 1), (1, 1))
gx, gw = jax.jit(jax.grad(lambda x, w: jnp.sum(jnp.sin(conv2d(x, w, padding=pad))), argnums=(0, 1)))(x, w)
dy = jnp.cos(conv2d(x, w, padding=pad))
np.testing.assert_allclose(gw, _filter_gradient(x, dy, w.shape, (1, 1), pad, (1, 1)), rtol=1e-4, atol=1e-4)
gs = gspaces.flipRot2dOnR2(4)
a, b = nn.FieldType(gs, [gs.regular_repr]), nn.FieldType(gs, 2 * [gs.regular_repr])
conv = nn.R2Conv(a, b, 5, padding=2, key=jax.random.key(0))
assert_equivariant(conv, random_input(a, key=jax.random.key(1), size=11))
print("ok")
"""


def test_ynn_fusion_path(tmp_path):
    """With XLA:CPU's YNNPACK fusions on (equijax.enable_fast_cpu_convolutions), convolutions
    use XLA's own gradients: same values, still equivariant."""
    import os
    import subprocess
    import sys

    from equijax.nn._conv_kernels import YNN_FLAG

    env = dict(os.environ, XLA_FLAGS=YNN_FLAG, JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", _YNN_SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-3000:]


def test_enable_fast_cpu_convolutions_after_start_raises(monkeypatch):
    import equijax

    jnp.ones(1).block_until_ready()  # backends started
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    with pytest.raises(RuntimeError, match="before any JAX computation"):
        equijax.enable_fast_cpu_convolutions()
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_experimental_ynn_fusion_type=eltwise")
    assert equijax.enable_fast_cpu_convolutions() is False  # the user's own setting is kept
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_experimental_ynn_fusion_type=dot,eltwise")
    assert equijax.enable_fast_cpu_convolutions() is True
