"""`R2Upsampling`: nearest / bilinear resizing of fields on the plane with the semantics of
``torch.nn.functional.interpolate`` (escnn's ``R2Upsampling``)."""

from __future__ import annotations

import math
import numbers
from fractions import Fraction

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from ._field_type import FieldType
from ._geometric_tensor import GeometricTensor
from ._misc import check_bool
from ._module import EquivariantModule, array_function, check_input
from ._pooling import _check_plane, _pair

_MODES = ("nearest", "bilinear")


def _positive_pair(name: str, value) -> tuple[float, float]:
    def ok(v):
        return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) and v > 0

    vals = (value, value) if ok(value) else value
    if not (isinstance(vals, (tuple, list)) and len(vals) == 2 and all(ok(v) for v in vals)):
        raise ValueError(f"`{name}` (={value!r}) must be a positive number or a pair of them")
    return float(vals[0]), float(vals[1])


def interpolation_indices(
    n_in: int, n_out: int, scale_factor: float | None, mode: str, align_corners: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(i0, i1, w1)`` along one axis: output pixel ``o`` is
    ``(1 - w1[o]) * x[i0[o]] + w1[o] * x[i1[o]]``, as ``torch.nn.functional.interpolate``
    computes it (source coordinates in exact arithmetic). With a `scale_factor`, torch maps
    coordinates with ``1 / scale_factor``; otherwise with ``n_in / n_out``."""
    o = np.arange(n_out)
    if mode == "nearest":
        # floor(o * scale), clamped, in exact rational arithmetic
        ratio = 1 / Fraction(scale_factor) if scale_factor is not None else Fraction(n_in, n_out)
        i0 = np.minimum(np.array([math.floor(k * ratio) for k in range(n_out)], dtype=np.int64), n_in - 1)
        return i0, i0, np.zeros(n_out)
    if n_in == n_out:
        return o, o, np.zeros(n_out)
    if align_corners:
        ratio = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        src = o * ratio
    else:
        ratio = 1.0 / scale_factor if scale_factor is not None else n_in / n_out
        src = np.maximum((o + 0.5) * ratio - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    w1 = np.clip(src - i0, 0.0, 1.0)
    i1 = np.where(i0 < n_in - 1, i0 + 1, i0)
    return i0, i1, w1


def _resize_axis(t, axis: int, i0: np.ndarray, i1: np.ndarray, w1: np.ndarray):
    a = jnp.take(t, jnp.asarray(i0), axis=axis)
    if not w1.any():
        return a
    b = jnp.take(t, jnp.asarray(i1), axis=axis)
    shape = [1] * t.ndim
    shape[axis] = -1
    w = jnp.asarray(w1, t.dtype).reshape(shape)
    return a * (1 - w) + b * w


class R2Upsampling(EquivariantModule):
    """Resizes fields on the plane like ``torch.nn.functional.interpolate`` (escnn's
    ``R2Upsampling``): each channel is interpolated alike, a linear map commuting with the
    action on the fibres, so any field type is allowed.

    Equivariance on the grid (rotations by multiples of 90 degrees, reflections along the
    grid axes) holds exactly when the sampling positions are symmetric about the grid's
    centre: always for ``'bilinear'`` with ``align_corners=True``; for ``'bilinear'`` with
    ``align_corners=False`` when the output size is exactly ``scale_factor`` times the input
    size (or `size` is given); for ``'nearest'`` with an integer `scale_factor` (other
    ratios pick pixels lopsidedly, which is why escnn calls nearest non-equivariant).
    90-degree rotations also need a square input and output.

    **Arguments:**

    - `in_type`: the field type on the plane (output type is the same).
    - `scale_factor`: the output size is ``floor(input size * scale_factor)`` (a number or a
      pair); give this or `size`.
    - `size`: the output size ``(H, W)`` (an integer or a pair).
    - `mode`: ``'bilinear'`` (default) or ``'nearest'`` (torch's legacy nearest,
      ``floor(o * in / out)``).
    - `align_corners`: as in torch, for ``'bilinear'`` (ignored for ``'nearest'``, as in
      escnn).

    **Raises:** `TypeError` / `ValueError` for a bad argument or if both or neither of
    `scale_factor` and `size` are given; at call, `ValueError` if the output would be empty.
    """

    in_type: FieldType = eqx.field(static=True)
    out_type: FieldType = eqx.field(static=True)
    scale_factor: tuple[float, float] | None = eqx.field(static=True)
    size: tuple[int, int] | None = eqx.field(static=True)
    mode: str = eqx.field(static=True)
    align_corners: bool = eqx.field(static=True)

    def __init__(self, in_type: FieldType, scale_factor=None, size=None, mode: str = "bilinear",
                 align_corners: bool = False):  # fmt: skip
        _check_plane(in_type, "R2Upsampling")
        if (scale_factor is None) == (size is None):
            raise ValueError(f"give exactly one of `scale_factor` (={scale_factor!r}) and `size` (={size!r})")
        if mode not in _MODES:
            raise ValueError(f"`mode` (={mode!r}) must be one of {list(_MODES)}")
        check_bool(align_corners, "align_corners")
        self.in_type = self.out_type = in_type
        self.scale_factor = None if scale_factor is None else _positive_pair("scale_factor", scale_factor)
        self.size = None if size is None else _pair("size", size, 1)
        self.mode = mode
        self.align_corners = align_corners if mode == "bilinear" else False

    def output_size(self, H: int, W: int) -> tuple[int, int]:
        """The output ``(H, W)`` for an ``H x W`` input."""
        if self.size is not None:
            return self.size
        return math.floor(H * self.scale_factor[0]), math.floor(W * self.scale_factor[1])

    def __call__(self, x: GeometricTensor, *, key=None) -> GeometricTensor:
        """**Arguments:** `x`, a `GeometricTensor` of `in_type`; `key` (unused).

        **Returns:** the resized `GeometricTensor`.
        """
        del key
        check_input(self, x)
        H, W = x.shape[-2:]
        out = self.output_size(H, W)
        if min(out) < 1:
            raise ValueError(f"R2Upsampling: the output size {out} of an input of shape {x.shape} is empty")
        t = x.tensor
        for axis, n_in, n_out, k in ((-2, H, out[0], 0), (-1, W, out[1], 1)):
            sf = None if self.scale_factor is None else self.scale_factor[k]
            i0, i1, w1 = interpolation_indices(n_in, n_out, sf, self.mode, self.align_corners)
            t = _resize_axis(t, t.ndim + axis, i0, i1, w1)
        return GeometricTensor(t, self.out_type)

    def export(self):
        """A function on ``(*batch, C, H, W)`` arrays computing the same resizing."""
        return array_function(self)

    def _testing_input_size(self) -> int:
        return 9
