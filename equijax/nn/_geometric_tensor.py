"""`GeometricTensor`: an array of feature fields with its `FieldType` (a pytree)."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from ..group import GroupElement
from ._field_type import FieldType


class GeometricTensor(eqx.Module):
    """An array of shape ``(*batch, C, H, W)`` (or ``(*batch, C)`` with no base space)
    whose channels are the fields of `type`.

    A registered pytree: `tensor` is the only leaf and `type` is static, so geometric
    tensors pass through `jax.jit`, `jax.vmap`, `jax.grad`, `lax.scan` and `jax.tree.map`.
    Any number of leading batch axes is allowed.

    **Arguments:**

    - `tensor`: the array (jax or numpy; kept as given, numpy converted to jax).
    - `type`: its `FieldType`.

    **Raises:** `TypeError` if `type` is not a `FieldType`; `ValueError` if the channel
    count or number of dimensions does not match the type.
    """

    tensor: jnp.ndarray
    type: FieldType = eqx.field(static=True)

    def __init__(self, tensor, type: FieldType):
        if not isinstance(type, FieldType):
            raise TypeError(f"`type` (={type!r}) must be a FieldType")
        if isinstance(tensor, GeometricTensor):
            raise TypeError("`tensor` is already a GeometricTensor; pass `x.tensor` to rewrap it")
        if isinstance(tensor, np.ndarray) or not hasattr(tensor, "shape"):
            tensor = jnp.asarray(tensor)
        need = 1 + type.gspace.dimensionality
        if tensor.ndim < need or tensor.shape[type.channel_axis] != type.size:
            layout = "(*batch, C, H, W)" if need == 3 else "(*batch, C)"
            raise ValueError(
                f"`tensor` of shape {tuple(tensor.shape)} does not match {type!r}: "
                f"expected {layout} with C = {type.size}"
            )
        self.tensor = tensor
        self.type = type

    # -- shape -------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.tensor.shape)

    @property
    def ndim(self) -> int:
        return self.tensor.ndim

    @property
    def dtype(self):
        return self.tensor.dtype

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return self.shape[: self.ndim - 1 - self.type.gspace.dimensionality]

    def __getitem__(self, index) -> GeometricTensor:
        """Index the leading batch axes only (``x[0]``, ``x[1:3]``, ``x[:, 2]``)."""
        items = index if isinstance(index, tuple) else (index,)
        nb = len(self.batch_shape)
        ok = all(i is Ellipsis or isinstance(i, (slice, numbers.Integral)) for i in items)
        if not ok or Ellipsis in items or len(items) > nb:
            raise IndexError(
                f"a GeometricTensor can only be indexed along its {nb} leading batch axes with integers and "
                f"slices, got {index!r}"
            )
        return GeometricTensor(self.tensor[index], self.type)

    # -- arithmetic --------------------------------------------------------------------
    def _check_same(self, other, op: str) -> None:
        if not isinstance(other, GeometricTensor):
            raise TypeError(f"cannot {op} a GeometricTensor and {type(other).__name__}")
        if other.type != self.type:
            raise ValueError(f"cannot {op} geometric tensors of different types: {self.type!r} and {other.type!r}")

    def __add__(self, other: GeometricTensor) -> GeometricTensor:
        self._check_same(other, "add")
        return GeometricTensor(self.tensor + other.tensor, self.type)

    def __sub__(self, other: GeometricTensor) -> GeometricTensor:
        self._check_same(other, "subtract")
        return GeometricTensor(self.tensor - other.tensor, self.type)

    def __neg__(self) -> GeometricTensor:
        return GeometricTensor(-self.tensor, self.type)

    def __mul__(self, other) -> GeometricTensor:
        if isinstance(other, GeometricTensor) or getattr(other, "ndim", 0) != 0:
            raise TypeError("a GeometricTensor can only be multiplied by a scalar (other products break equivariance)")
        return GeometricTensor(self.tensor * other, self.type)

    __rmul__ = __mul__

    def __truediv__(self, other) -> GeometricTensor:
        if isinstance(other, GeometricTensor) or getattr(other, "ndim", 0) != 0:
            raise TypeError("a GeometricTensor can only be divided by a scalar")
        return GeometricTensor(self.tensor / other, self.type)

    # -- geometry ----------------------------------------------------------------------
    def transform(self, g: GroupElement) -> GeometricTensor:
        """The tensor moved by g (spatial and fibre action; see `FieldType.transform`)."""
        return GeometricTensor(self.type.transform(self.tensor, g), self.type)

    def transform_fibers(self, g: GroupElement) -> GeometricTensor:
        return GeometricTensor(self.type.transform_fibers(self.tensor, g), self.type)

    def restrict(self, subgroup_id) -> GeometricTensor:
        """The same data as fields of the subgroup `subgroup_id`."""
        return GeometricTensor(self.tensor, self.type.restrict(subgroup_id))

    def split(self, breakpoints: Sequence[int | None]) -> list[GeometricTensor]:
        """Split at field indices: ``x.split([None, 2, None])`` gives fields ``[0:2]`` and ``[2:]``.
        `breakpoints` are increasing field indices; ``None`` stands for the start or the end."""
        n = len(self.type)
        pts = list(breakpoints)
        if len(pts) < 2:
            raise ValueError(f"`breakpoints` (={breakpoints!r}) needs at least two entries")
        pts = [0 if (p is None and i == 0) else n if p is None else p for i, p in enumerate(pts)]
        ok = all(isinstance(p, numbers.Integral) for p in pts) and all(a < b for a, b in zip(pts[:-1], pts[1:]))
        if not ok or pts[0] < 0 or pts[-1] > n:
            raise ValueError(f"`breakpoints` (={breakpoints!r}) must be strictly increasing field indices in [0, {n}]")
        starts = list(self.type.fields_start) + [self.type.size]
        ax = self.ndim + self.type.channel_axis
        out = []
        for a, b in zip(pts[:-1], pts[1:]):
            sub = self.type.index_select(range(a, b))
            idx = [slice(None)] * self.ndim
            idx[ax] = slice(starts[a], starts[b])
            out.append(GeometricTensor(self.tensor[tuple(idx)], sub))
        return out

    def __repr__(self) -> str:
        return f"GeometricTensor(shape={self.shape}, dtype={self.tensor.dtype}, type={self.type!r})"


def tensor_directsum(tensors: Sequence[GeometricTensor]) -> GeometricTensor:
    """Concatenate geometric tensors along the channel axis; the type is the sum of types.

    **Raises:** `ValueError` if `tensors` is empty, or the gspaces or batch/spatial shapes
    differ.
    """
    tensors = list(tensors)
    if not tensors:
        raise ValueError("`tensors` must contain at least one GeometricTensor")
    for t in tensors:
        if not isinstance(t, GeometricTensor):
            raise TypeError(f"`tensors` contains {type(t).__name__}, not a GeometricTensor")
    ftype = tensors[0].type
    for t in tensors[1:]:
        ftype = ftype + t.type
    ax = tensors[0].type.channel_axis
    shapes = {t.shape[:ax] + (t.shape[ax + 1 :] if ax != -1 else ()) for t in tensors}
    if len(shapes) > 1:
        raise ValueError(f"`tensors` have different batch or spatial shapes: {sorted(shapes)}")
    return GeometricTensor(jnp.concatenate([t.tensor for t in tensors], axis=ax), ftype)
