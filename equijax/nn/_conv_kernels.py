"""The 2D convolution every equijax conv runs, with a faster filter gradient on CPU.

XLA:CPU's default (Eigen) backend lowers the gradient of a convolution with respect to its
filter to a convolution contracting the batch and spatial axes, which it runs up to an order
of magnitude slower than the forward pass when the input is large (measured: 22 s against
1.7 s for a 192 -> 384 channel, 5x5 convolution of a 64 x 29 x 29 batch). There we compute
that gradient instead as one matrix product per filter tap, ``dW[:, :, i, j] = dy .
shifted(x)``, contracting the batch and spatial axes: 2.3 s for the same case. With XLA:CPU's
YNNPACK dot fusion enabled (``XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=dot,eltwise,reduce``,
see `ynn_enabled`) XLA's own filter gradient is the fastest (about 190 GFLOP/s on a 2-core
AVX-512 machine, against 120-160 for the per-tap products), and so it is on GPU/TPU.

Both CPU devices (the per-tap gradient, and the optimisation barrier that keeps a convolution
on the YNNPACK path) pay only for large convolutions (`is_large`): the k x k matrix products
of the per-tap gradient take XLA 3-8 s to compile and run slower than XLA's own gradient on
small inputs (measured on a 2-core AVX-512 CPU, XLA's / per-tap time: 0.4-0.9 for inputs of
2.5M-10M elements with at least 10,000 output positions per channel, 1.1-2.7 for the seed
models' layers at batch 16 or their 5x5 / 7x7 late layers at batch 64). A small convolution
is XLA's plain convolution, exactly what ``eqx.nn.Conv2d`` runs, so a small model compiles
as fast as a plain Equinox CNN of the same shapes.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from .._cpu import YNN_FLAG as YNN_FLAG, ynn_enabled as ynn_enabled
from .._misc import at_least_float32

_DN = ("NCHW", "OIHW", "NCHW")


def conv2d(x, w, stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1), groups: int = 1):
    """``lax.conv_general_dilated`` in NCHW / OIHW layout with explicit padding; on CPU, a
    large convolution (`is_large`) gets its filter gradient tap by tap, or, with the YNNPACK
    fusions on, an optimisation barrier (see the module docstring)."""
    stride, dilation = tuple(int(s) for s in stride), tuple(int(d) for d in dilation)
    padding = tuple((int(a), int(b)) for a, b in padding)
    if jax.default_backend() != "cpu" or not is_large(x.shape, w.shape, stride, padding, dilation):
        return _xla_conv(x, w, stride, padding, dilation, groups)
    if ynn_enabled():
        # keep XLA from fusing the neighbouring elementwise ops into the convolution, which
        # would take it off the YNNPACK path (measured: 2.78 s -> 2.20 s for two 5x5 layers)
        return lax.optimization_barrier(_xla_conv(x, w, stride, padding, dilation, groups))
    if groups != 1:
        return _xla_conv(x, w, stride, padding, dilation, groups)
    return _conv_fast_wgrad(x, w, stride, padding, dilation)


# A convolution is "large" (CPU: per-tap filter gradient / YNNPACK barrier) from an input of
# LARGE_INPUT elements (8 MiB in float32) with at least LARGE_POSITIONS output positions
# (batch x height x width), the contraction length of the filter gradient; chosen from the
# timings in the module docstring (benchmarks/README.md, "What makes the CPU step fast").
LARGE_INPUT = 2**21
LARGE_POSITIONS = 8192


def is_large(x_shape, w_shape, stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1)) -> bool:
    """Whether a convolution of an ``(N, C, H, W)`` input with an ``(O, I, kh, kw)`` filter
    is large enough for the CPU devices of `conv2d` to pay (see the module docstring)."""
    n, c, h, w = x_shape
    out = [
        (size + lo + hi - d * (k - 1) - 1) // s + 1
        for size, (lo, hi), d, k, s in zip((h, w), padding, dilation, w_shape[2:], stride)
    ]
    return n * c * h * w >= LARGE_INPUT and n * out[0] * out[1] >= LARGE_POSITIONS


def _xla_conv(x, w, stride, padding, dilation, groups=1):
    return lax.conv_general_dilated(
        x, w, stride, padding, rhs_dilation=dilation, feature_group_count=groups, dimension_numbers=_DN
    )


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _conv_fast_wgrad(x, w, stride, padding, dilation):
    return _xla_conv(x, w, stride, padding, dilation)


def _fwd(x, w, stride, padding, dilation):
    return _xla_conv(x, w, stride, padding, dilation), (x, w)


def _bwd(stride, padding, dilation, res, dy):
    x, w = res
    _, vjp_x = jax.vjp(lambda x_: _xla_conv(x_, w, stride, padding, dilation), x)
    (dx,) = vjp_x(dy)
    return dx, _filter_gradient(x, dy, w.shape, stride, padding, dilation).astype(w.dtype)


def _filter_gradient(x, dy, w_shape, stride, padding, dilation):
    _, _, kh, kw = w_shape
    ho, wo = dy.shape[-2:]
    xp = jnp.pad(x, ((0, 0), (0, 0)) + padding)
    (sh, sw), (dh, dw) = stride, dilation
    acc = at_least_float32(dy.dtype)  # accumulate in at least float32
    taps = []
    for i in range(kh):  # unrolled at trace time: kh * kw matrix products
        for j in range(kw):
            patch = lax.slice(
                xp,
                (0, 0, i * dh, j * dw),
                (xp.shape[0], xp.shape[1], i * dh + (ho - 1) * sh + 1, j * dw + (wo - 1) * sw + 1),
                (1, 1, sh, sw),
            )
            taps.append(jnp.einsum("bohw,bchw->oc", dy, patch, preferred_element_type=acc))
    return jnp.stack(taps, axis=-1).reshape(w_shape)


_conv_fast_wgrad.defvjp(_fwd, _bwd)
