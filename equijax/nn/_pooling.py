"""Spatial pooling of fields on the plane, and pooling over the group (invariant features)."""

from __future__ import annotations

import math
import numbers

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jax import lax

from ._field_type import FieldType
from ._geometric_tensor import GeometricTensor
from ._misc import channel_index, check_field_type, max_over_field_groups, trivial_type
from ._module import EquivariantModule, array_function, check_input
from ._norm_nonlinearities import field_norms
from ._pointwise import check_pointwise


def _pair(name: str, value, minimum: int) -> tuple[int, int]:
    vals = (value, value) if isinstance(value, numbers.Integral) and not isinstance(value, bool) else value
    if not (
        isinstance(vals, (tuple, list))
        and len(vals) == 2
        and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= minimum for v in vals)
    ):
        raise ValueError(f"`{name}` (={value!r}) must be an integer >= {minimum} or a pair of them")
    return int(vals[0]), int(vals[1])


def _check_plane(in_type, module: str) -> None:
    check_field_type(in_type)
    if in_type.gspace.dimensionality != 2:
        raise ValueError(f"{module} pools over the plane, but `in_type` lives on {in_type.gspace.name}")


def _check_fits(x: GeometricTensor, window: tuple[int, int], padding: tuple[int, int], module: str) -> None:
    H, W = x.shape[-2:]
    for size, k, p, axis in zip((H, W), window, padding, ("height", "width")):
        if k > size + 2 * p:
            raise ValueError(
                f"{module}: the pooling window ({k}) is larger than the padded input {axis} ({size} + 2*{p}); "
                f"`x` has shape {x.shape}"
            )


def _window(t, init, op, window, stride, padding):
    batch = t.ndim - 2
    return lax.reduce_window(
        t,
        init,
        op,
        (1,) * batch + window,
        (1,) * batch + stride,
        ((0, 0),) * batch + tuple((p, p) for p in padding),
    )


class _SpatialPool(EquivariantModule):
    in_type: FieldType = eqx.field(static=True)
    out_type: FieldType = eqx.field(static=True)
    kernel_size: tuple[int, int] = eqx.field(static=True)
    stride: tuple[int, int] = eqx.field(static=True)
    padding: tuple[int, int] = eqx.field(static=True)

    _pointwise = False

    def __init__(self, in_type: FieldType, kernel_size, stride=None, padding=0):
        self._setup(in_type, kernel_size, stride, padding, pointwise=self._pointwise)

    def _setup(self, in_type, kernel_size, stride, padding, pointwise: bool):
        _check_plane(in_type, type(self).__name__)
        if pointwise:
            check_pointwise(in_type, type(self).__name__)
        self.in_type = self.out_type = in_type
        self.kernel_size = _pair("kernel_size", kernel_size, 1)
        self.stride = self.kernel_size if stride is None else _pair("stride", stride, 1)
        self.padding = _pair("padding", padding, 0)
        if pointwise and any(p > k // 2 for p, k in zip(self.padding, self.kernel_size)):
            raise ValueError(
                f"`padding` (={padding!r}) must be at most half the kernel size {self.kernel_size} for max pooling "
                "(a window made of padding alone has no maximum)"
            )

    def __call__(self, x: GeometricTensor, *, key=None) -> GeometricTensor:
        """**Arguments:** `x`, a `GeometricTensor` of `in_type`; `key` (unused).

        **Returns:** the pooled `GeometricTensor`.
        """
        del key
        check_input(self, x)
        _check_fits(x, self.kernel_size, self.padding, type(self).__name__)
        return GeometricTensor(self._pool(x.tensor), self.out_type)

    def export(self):
        """A function on ``(*batch, C, H, W)`` arrays computing the same pooling."""
        return array_function(self)

    def _testing_input_size(self) -> int:
        for size in range(9, 64):
            if size % 2 and all(
                (size + 2 * p - k) % s == 0 for k, s, p in zip(self.kernel_size, self.stride, self.padding)
            ):
                return size
        return 17


class PointwiseMaxPool2D(_SpatialPool):
    """Channel-wise spatial max pooling (fields acting by permutations only; padding
    counts as -inf). `stride` defaults to `kernel_size`."""

    _pointwise = True

    def _pool(self, t):
        return _window(t, -jnp.inf, lax.max, self.kernel_size, self.stride, self.padding)


class PointwiseAvgPool2D(_SpatialPool):
    """Channel-wise spatial average pooling (a linear, isotropic map: any field type;
    zero padding counts in the average, as in torch). `stride` defaults to `kernel_size`."""

    def _pool(self, t):
        return _window(t, 0.0, lax.add, self.kernel_size, self.stride, self.padding) / math.prod(self.kernel_size)


def gaussian_filter(sigma: float) -> np.ndarray:
    """The antialiasing filter of `PointwiseAvgPoolAntialiased2D` (escnn's average-pool
    filter): a normalised Gaussian of width `sigma` on a ``2*round(3*sigma)+1`` square grid."""
    size = 2 * int(round(3 * sigma)) + 1
    r = np.arange(size) - (size - 1) / 2
    g = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma**2))
    return g / g.sum()


def _band_matrix(taps: np.ndarray, n_in: int, stride: int, pad: int) -> np.ndarray:
    """The ``(n_out, n_in)`` matrix of a 1D correlation with `taps`, zero padding and stride."""
    k = len(taps)
    n_out = (n_in + 2 * pad - k) // stride + 1
    A = np.zeros((n_out, n_in))
    for o in range(n_out):
        for t in range(k):
            h = o * stride - pad + t
            if 0 <= h < n_in:
                A[o, h] = taps[t]
    return A


def _blur(t, filt: np.ndarray, stride, padding):
    """Depthwise correlation of ``(*batch, C, H, W)`` with one 2D filter.

    A separable filter (an outer product, like the Gaussians of the antialiased pools) is
    applied as two small matrix products, ``A_h x A_w^T``, which XLA runs far faster, forward
    and backward, than a depthwise convolution on CPU; others as a convolution."""
    u, sv, vt = np.linalg.svd(filt)
    if sv[1:].sum() <= 1e-12 * sv[0]:
        col, row = u[:, 0] * np.sqrt(sv[0]), vt[0] * np.sqrt(sv[0])
        A_h = jnp.asarray(_band_matrix(col, t.shape[-2], stride[0], padding[0]), t.dtype)
        A_w = jnp.asarray(_band_matrix(row, t.shape[-1], stride[1], padding[1]), t.dtype)
        return jnp.einsum("oh,...hw,pw->...op", A_h, t, A_w)
    batch, C = t.shape[:-3], t.shape[-3]
    flat = t.reshape((-1, 1) + t.shape[-2:])
    k = jnp.asarray(filt, t.dtype)[None, None]
    y = lax.conv_general_dilated(flat, k, stride, tuple((p, p) for p in padding))
    return y.reshape(batch + (C,) + y.shape[-2:])


class PointwiseAvgPoolAntialiased2D(_SpatialPool):
    """Gaussian blur then subsampling (escnn's antialiased average pooling): isotropic and
    linear, so equivariant for any field type.

    **Arguments:** `in_type`; `sigma` (the Gaussian's width; the filter is
    ``2*round(3*sigma)+1`` wide); `stride`; `padding` (default: half the filter size).
    """

    sigma: float = eqx.field(static=True)

    def __init__(self, in_type: FieldType, sigma: float, stride=2, padding=None):
        if not (isinstance(sigma, numbers.Real) and sigma > 0):
            raise ValueError(f"`sigma` (={sigma!r}) must be a positive number")
        size = gaussian_filter(sigma).shape[0]
        self.sigma = float(sigma)
        self._setup(in_type, size, stride, (size - 1) // 2 if padding is None else padding, pointwise=False)

    def _pool(self, t):
        return _blur(t, gaussian_filter(self.sigma), self.stride, self.padding)


class PointwiseMaxPoolAntialiased2D(_SpatialPool):
    """Max pooling with stride 1, then antialiased subsampling by a Gaussian blur
    (`gaussian_filter(sigma)`, padded by half its size) with `stride` (fields acting by
    permutations only). The blur's size and padding follow the average-pool variant; they
    may differ from escnn's max-pool variant for sigma far from 0.6."""

    sigma: float = eqx.field(static=True)

    def __init__(self, in_type: FieldType, kernel_size, stride=None, padding=0, sigma: float = 0.6):
        if not (isinstance(sigma, numbers.Real) and sigma > 0):
            raise ValueError(f"`sigma` (={sigma!r}) must be a positive number")
        self.sigma = float(sigma)
        self._setup(in_type, kernel_size, stride, padding, pointwise=True)

    def _pool(self, t):
        y = _window(t, -jnp.inf, lax.max, self.kernel_size, (1, 1), self.padding)
        filt = gaussian_filter(self.sigma)
        p = (filt.shape[0] - 1) // 2
        return _blur(y, filt, self.stride, (p, p))


def _adaptive_bounds(size: int, out: int) -> list[tuple[int, int]]:
    return [(math.floor(i * size / out), math.ceil((i + 1) * size / out)) for i in range(out)]


class _AdaptivePool(EquivariantModule):
    in_type: FieldType = eqx.field(static=True)
    out_type: FieldType = eqx.field(static=True)
    output_size: tuple[int, int] = eqx.field(static=True)

    def __init__(self, in_type: FieldType, output_size):
        _check_plane(in_type, type(self).__name__)
        if self._pointwise:
            check_pointwise(in_type, type(self).__name__)
        self.in_type = self.out_type = in_type
        self.output_size = _pair("output_size", output_size, 1)

    _pointwise = False

    def __call__(self, x: GeometricTensor, *, key=None) -> GeometricTensor:
        del key
        check_input(self, x)
        H, W = x.shape[-2:]
        if self.output_size[0] > H or self.output_size[1] > W:
            raise ValueError(f"{type(self).__name__}: `output_size` {self.output_size} exceeds the input size {(H, W)}")
        rows = []
        for a, b in _adaptive_bounds(H, self.output_size[0]):
            rows.append(
                jnp.stack(
                    [self._reduce(x.tensor[..., a:b, c:d]) for c, d in _adaptive_bounds(W, self.output_size[1])], -1
                )
            )
        return GeometricTensor(jnp.stack(rows, -2), self.out_type)

    def export(self):
        return array_function(self)


class PointwiseAdaptiveAvgPool2D(_AdaptivePool):
    """Average over an adaptive grid of regions giving `output_size` (torch semantics).
    Exactly equivariant when the regions are symmetric (e.g. the size divides evenly)."""

    def _reduce(self, t):
        return jnp.mean(t, axis=(-2, -1))


class PointwiseAdaptiveMaxPool2D(_AdaptivePool):
    """Max over an adaptive grid of regions (fields acting by permutations only)."""

    _pointwise = True

    def _reduce(self, t):
        return jnp.max(t, axis=(-2, -1))


class _FieldPool(EquivariantModule):
    """The pools over the channels of each field, to one invariant (trivial) channel per
    field: `_check` refuses an unsuitable `in_type`, `_pool` maps the input array to the
    output array."""

    in_type: FieldType = eqx.field(static=True)
    out_type: FieldType = eqx.field(static=True)

    def __init__(self, in_type: FieldType):
        self._check(in_type)
        self.in_type = in_type
        self.out_type = trivial_type(in_type)

    def __call__(self, x: GeometricTensor, *, key=None) -> GeometricTensor:
        """**Arguments:** `x`, a `GeometricTensor` of `in_type`; `key` (unused).

        **Returns:** a `GeometricTensor` with one trivial channel per field.
        """
        del key
        check_input(self, x)
        return GeometricTensor(self._pool(x.tensor), self.out_type)

    def export(self):
        """A function on ``(*batch, C, *spatial)`` arrays computing the same pooling."""
        return array_function(self)


class GroupPooling(_FieldPool):
    """Max over the channels of each field: one invariant (trivial) channel per field.
    Fields must act by permutations (regular, quotient, trivial)."""

    def _check(self, in_type):
        check_pointwise(in_type, "GroupPooling")

    def _pool(self, t):
        # fields of one representation are gathered and reduced together
        groups: dict = {}
        for f, r in enumerate(self.in_type.representations):
            groups.setdefault(r, []).append(f)
        blocks = [(fields, channel_index(self.in_type, fields), r.size) for r, fields in groups.items()]
        return max_over_field_groups(t, t.ndim + self.in_type.channel_axis, blocks)


class NormPool(_FieldPool):
    """The norm of each field: one invariant (trivial) channel per field, any field type."""

    def _check(self, in_type):
        check_field_type(in_type)

    def _pool(self, t):
        return field_norms(self.in_type, t)


# escnn's short names
PointwiseMaxPool = PointwiseMaxPool2D
PointwiseAvgPool = PointwiseAvgPool2D
PointwiseAvgPoolAntialiased = PointwiseAvgPoolAntialiased2D
PointwiseMaxPoolAntialiased = PointwiseMaxPoolAntialiased2D
PointwiseAdaptiveAvgPool = PointwiseAdaptiveAvgPool2D
PointwiseAdaptiveMaxPool = PointwiseAdaptiveMaxPool2D
