"""Pooling by field norms (`NormMaxPool` over space, `InducedNormPool` over the blocks of
induced fields) and `MaxPoolChannels`, a plain max over groups of consecutive channels."""

from __future__ import annotations

import numbers

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jax import lax

from ._field_type import FieldType
from ._geometric_tensor import GeometricTensor
from ._misc import check_bool, max_over_field_groups
from ._module import EquivariantModule, array_function, check_input
from ._norm_nonlinearities import field_membership
from ._normalization import induced_blocks
from ._pooling import _check_plane, _FieldPool, _pair


def pool_output_size(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """The output length of torch's max pooling along one axis (``ceil_mode`` included: a
    last window must start inside the input or its left padding)."""
    span = size + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


class NormMaxPool(EquivariantModule):
    """Spatial max pooling by field norms (escnn's ``NormMaxPool``): in each window, every
    field keeps its vector at the pixel where its norm is largest (the first such pixel on
    ties, in row-major window order, as torch does). Equivariant for any field type.

    The arguments other than `in_type` are those of ``torch.nn.MaxPool2d``.

    **Arguments:**

    - `in_type`: the field type on the plane (output type is the same).
    - `kernel_size`: the window, an integer or a pair.
    - `stride`: default `kernel_size`.
    - `padding`: implicit padding on both sides (padded pixels are never selected); at most
      half the dilated window, as in torch.
    - `dilation`: spacing between the window's pixels.
    - `ceil_mode`: round the output size up instead of down.

    **Raises:** `TypeError` / `ValueError` for a bad argument; at call, `ValueError` if the
    window does not fit the padded input.
    """

    in_type: FieldType = eqx.field(static=True)
    out_type: FieldType = eqx.field(static=True)
    kernel_size: tuple[int, int] = eqx.field(static=True)
    stride: tuple[int, int] = eqx.field(static=True)
    padding: tuple[int, int] = eqx.field(static=True)
    dilation: tuple[int, int] = eqx.field(static=True)
    ceil_mode: bool = eqx.field(static=True)

    def __init__(self, in_type: FieldType, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False):
        _check_plane(in_type, "NormMaxPool")
        self.in_type = self.out_type = in_type
        self.kernel_size = _pair("kernel_size", kernel_size, 1)
        self.stride = self.kernel_size if stride is None else _pair("stride", stride, 1)
        self.padding = _pair("padding", padding, 0)
        self.dilation = _pair("dilation", dilation, 1)
        self.ceil_mode = check_bool(ceil_mode, "ceil_mode")
        for p, k, d in zip(self.padding, self.kernel_size, self.dilation):
            if p > ((k - 1) * d + 1) // 2:
                raise ValueError(
                    f"`padding` (={padding!r}) must be at most half the dilated window "
                    f"(kernel_size={self.kernel_size}, dilation={self.dilation})"
                )

    def __call__(self, x: GeometricTensor, *, key=None) -> GeometricTensor:
        """**Arguments:** `x`, a `GeometricTensor` of `in_type`; `key` (unused).

        **Returns:** the pooled `GeometricTensor`.
        """
        del key
        check_input(self, x)
        t = x.tensor
        H, W = t.shape[-2:]
        out, pads = [], []
        for size, k, s, p, d, axis in zip((H, W), self.kernel_size, self.stride, self.padding, self.dilation, "HW"):
            if d * (k - 1) + 1 > size + 2 * p:
                raise ValueError(
                    f"NormMaxPool: the dilated window ({d * (k - 1) + 1}) is larger than the padded input "
                    f"{'height' if axis == 'H' else 'width'} ({size} + 2*{p}); `x` has shape {x.shape}"
                )
            o = pool_output_size(size, k, s, p, d, self.ceil_mode)
            out.append(o)
            pads.append((p, max(0, (o - 1) * s + d * (k - 1) + 1 - size - p)))
        batch = ((0, 0),) * (t.ndim - 2)
        M = jnp.asarray(field_membership(self.in_type), t.dtype)
        sq = jnp.moveaxis(lax.stop_gradient(jnp.moveaxis(t * t, -3, -1) @ M), -1, -3)  # (*batch, F, H, W)
        sq = jnp.pad(sq, batch + tuple(pads), constant_values=-jnp.inf)
        tp = jnp.pad(t, batch + tuple(pads))
        (kh, kw), (sh, sw), (dh, dw) = self.kernel_size, self.stride, self.dilation
        (oh, ow) = out

        def windows(a):  # (*batch, c, kh * kw, oh, ow): the window's pixels, row-major
            return jnp.stack(
                [
                    a[..., i * dh : i * dh + (oh - 1) * sh + 1 : sh, j * dw : j * dw + (ow - 1) * sw + 1 : sw]
                    for i in range(kh)
                    for j in range(kw)
                ],
                axis=-3,
            )

        best = jnp.argmax(windows(sq), axis=-3)  # (*batch, F, oh, ow)
        chan_field = np.repeat(np.arange(len(self.in_type)), [r.size for r in self.in_type.representations])
        best = jnp.take(best, jnp.asarray(chan_field), axis=-3)  # (*batch, C, oh, ow)
        y = jnp.take_along_axis(windows(tp), best[..., None, :, :], axis=-3)[..., 0, :, :]
        return GeometricTensor(y, self.out_type)

    def export(self):
        """A function on ``(*batch, C, H, W)`` arrays computing the same pooling."""
        return array_function(self)

    def _testing_input_size(self) -> int:
        for size in range(9, 64):
            if size % 2 and all(
                (size + 2 * p - d * (k - 1) - 1) % s == 0
                for k, s, p, d in zip(self.kernel_size, self.stride, self.padding, self.dilation)
            ):
                return size
        return 17


class InducedNormPool(_FieldPool):
    """The largest block norm of each induced field (escnn's ``InducedNormPool``): a field
    induced from a ``d``-dimensional representation of a subgroup is ``n`` blocks of ``d``
    channels which the group permutes and rotates, so the maximum of the ``n`` block norms
    is invariant. One trivial (invariant) channel per field.

    **Arguments:** `in_type`, a field type whose representations are induced
    (`Representation.induced_from` is set).

    **Raises:** `ValueError` if a field is not an induced representation.
    """

    def _check(self, in_type):
        induced_blocks(in_type, "InducedNormPool")

    def _pool(self, t):
        ax = t.ndim + self.in_type.channel_axis
        blocks = induced_blocks(self.in_type, "InducedNormPool")
        # squared norm of every block: (*batch, n_blocks in total, *spatial)
        B = np.zeros((self.in_type.size, sum(n for n, _ in blocks)))
        first_block, start, col = [], 0, 0
        for n, d in blocks:
            first_block.append(col)
            for _ in range(n):
                B[start : start + d, col] = 1.0
                start, col = start + d, col + 1
        sq = jnp.moveaxis(jnp.moveaxis(t * t, ax, -1) @ jnp.asarray(B, t.dtype), -1, ax)
        safe = jnp.where(sq > 0, sq, 1.0)
        norms = jnp.where(sq > 0, jnp.sqrt(safe), 0.0)  # safe gradient at 0
        # fields with the same number of blocks are reduced together
        groups: dict[int, list[int]] = {}
        for f, (n, _) in enumerate(blocks):
            groups.setdefault(n, []).append(f)
        plan = []
        for n, fields in groups.items():
            idx = np.concatenate([np.arange(first_block[f], first_block[f] + n) for f in fields])
            plan.append((fields, None if len(groups) == 1 else idx, n))
        return max_over_field_groups(norms, ax, plan)


class MaxPoolChannels(eqx.Module):
    """The maximum within each group of `kernel_size` consecutive channels of a plain array
    (escnn's ``MaxPoolChannels``, the export of ``GroupPooling`` when all fields have
    `kernel_size` channels). It takes and returns arrays, not `GeometricTensor`s, and knows
    nothing of field types: with groups matching the fields of a type acting by
    permutations, it is group pooling; other groupings are in general not equivariant.

    **Arguments:**

    - `kernel_size`: the number of consecutive channels pooled together.
    - `channel_axis`: the channel axis of the input (default -3: ``(*batch, C, H, W)``;
      -1 for feature vectors ``(*batch, C)``).

    **Raises:** `ValueError` for a bad argument; at call, if the number of channels is not
    a multiple of `kernel_size`.
    """

    kernel_size: int = eqx.field(static=True)
    channel_axis: int = eqx.field(static=True)

    def __init__(self, kernel_size: int, channel_axis: int = -3):
        if not isinstance(kernel_size, numbers.Integral) or isinstance(kernel_size, bool) or kernel_size < 1:
            raise ValueError(f"`kernel_size` (={kernel_size!r}) must be a positive integer")
        if not isinstance(channel_axis, numbers.Integral) or isinstance(channel_axis, bool):
            raise ValueError(f"`channel_axis` (={channel_axis!r}) must be an integer")
        self.kernel_size = int(kernel_size)
        self.channel_axis = int(channel_axis)

    def __call__(self, x, *, key=None):
        """**Arguments:** `x`, an array with channels at `channel_axis`; `key` (unused).

        **Returns:** the array with ``C / kernel_size`` channels.
        """
        del key
        x = jnp.asarray(x)
        if not -x.ndim <= self.channel_axis < x.ndim:
            raise ValueError(f"`channel_axis` ({self.channel_axis}) is out of range for `x` of shape {x.shape}")
        ax = self.channel_axis % x.ndim
        C = x.shape[ax]
        if C % self.kernel_size:
            raise ValueError(
                f"MaxPoolChannels: the number of channels of `x` ({C}, shape {x.shape}) is not a multiple of "
                f"`kernel_size` ({self.kernel_size})"
            )
        shape = x.shape[:ax] + (C // self.kernel_size, self.kernel_size) + x.shape[ax + 1 :]
        return jnp.max(x.reshape(shape), axis=ax + 1)
