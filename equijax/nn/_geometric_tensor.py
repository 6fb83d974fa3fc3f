"""`GeometricTensor`: an array of feature fields with its `FieldType` (a pytree)."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ..group import GroupElement
from ..internal import is_int
from ._field_type import FieldType, explain_mismatch


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
        """Slice a geometric tensor as in escnn: the channel axis is indexed by FIELD.

        - Batch axes (the leading ones): integers (which drop the axis, as in numpy),
          slices, and integer or boolean arrays.
        - The channel axis: a field index, a slice of fields (any step), a list or numpy
          array of field indices, or a boolean mask with one entry per field. The result
          has the selected fields' `FieldType` (``x[:, 1:3]`` has type
          ``x.type.index_select([1, 2])``); an integer keeps the axis, as in escnn.
        - Spatial axes: slices (crops, ``x[..., 2:5, 2:5]``) and integers (which keep the
          axis with size 1, as in escnn).

        Indices count axes from the left as in numpy (an unbatched ``(C, H, W)`` tensor's
        first index is the field index); one ``...`` stands for the axes not indexed.
        Field selections are static (Python or numpy values): the result's type depends on
        them.

        **Raises:** `IndexError` saying what is wrong: too many indices, ``None``, an index
        of a kind the axis does not take, a field index out of range (the channel axis
        counts fields, not channels), or a selection with no field or no pixel.
        """
        items = index if isinstance(index, tuple) else (index,)
        nd, ax = self.ndim, self.ndim + self.type.channel_axis
        if any(i is None for i in items):
            raise IndexError(
                f"a GeometricTensor cannot be indexed with None (a new axis) in {index!r}: index `x.tensor` to "
                "reshape the array"
            )
        n_ellipsis = sum(i is Ellipsis for i in items)
        if n_ellipsis > 1:
            raise IndexError(f"an index may contain at most one Ellipsis (`...`), got {index!r}")
        if len(items) - n_ellipsis > nd:
            raise IndexError(
                f"too many indices ({len(items) - n_ellipsis}) for a GeometricTensor of shape {self.shape}"
            )
        if n_ellipsis:
            p = items.index(Ellipsis)
            items = items[:p] + (slice(None),) * (nd - len(items) + 1) + items[p + 1 :]
        items = items + (slice(None),) * (nd - len(items))
        basic: list = []
        for axis, it in enumerate(items):
            if axis < ax:
                basic.append(_batch_index(it, axis))
            elif axis == ax:
                basic.append(slice(None))
            else:
                basic.append(_spatial_index(it, axis, self.shape[axis]))
        fields = _field_selection(items[ax], self.type)
        t = self.tensor[tuple(basic)]
        ftype = self.type if fields == list(range(len(self.type))) else self.type.index_select(fields)
        if ftype is not self.type:
            chans = np.concatenate(
                [np.arange(self.type.fields_start[f], self.type.fields_end[f]) for f in fields]
            ).astype(np.int64)
            cax = t.ndim + self.type.channel_axis
            if np.array_equal(chans, np.arange(chans[0], chans[0] + len(chans))):
                t = lax.slice_in_dim(t, int(chans[0]), int(chans[0]) + len(chans), axis=cax)
            else:
                t = jnp.take(t, chans.astype(np.int32), axis=cax)
        return GeometricTensor(t, ftype)

    # -- arithmetic --------------------------------------------------------------------
    def _check_same(self, other, op: str) -> None:
        if not isinstance(other, GeometricTensor):
            raise TypeError(f"cannot {op} a GeometricTensor and {type(other).__name__}")
        if other.type != self.type:
            raise ValueError(
                f"cannot {op} geometric tensors of different types: {self.type!r} and {other.type!r}"
                f"{explain_mismatch(self.type, other.type)}"
            )

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

    def __rmatmul__(self, g) -> GeometricTensor:
        """``g @ x`` (escnn's notation): the same as ``x.transform(g)``.

        **Raises:** `TypeError` unless `g` is a group element; `ValueError` if it belongs to
        another group.
        """
        if not isinstance(g, GroupElement):
            return NotImplemented
        return self.transform(g)

    def to(self, target) -> GeometricTensor:
        """escnn's ``x.to(...)``: the tensor on a device or cast to a dtype.

        **Arguments:** `target`, a JAX device, a platform name (``'cpu'``, ``'gpu'``,
        ``'cuda'``, ``'tpu'``, optionally with ``':index'``), or a dtype.

        **Raises:** `ValueError` if `target` is none of these, or no such device exists.
        """
        if isinstance(target, jax.Device):
            return GeometricTensor(jax.device_put(self.tensor, target), self.type)
        if isinstance(target, str):
            platform, _, idx = target.partition(":")
            platform = {"cuda": "gpu"}.get(platform.lower(), platform.lower())
            if platform in ("cpu", "gpu", "tpu"):
                try:
                    devices = jax.devices(platform)
                    device = devices[int(idx) if idx else 0]
                except (RuntimeError, ValueError, IndexError):
                    raise ValueError(
                        f"`target` (={target!r}): no such device ({jax.devices()} are available)"
                    ) from None
                return GeometricTensor(jax.device_put(self.tensor, device), self.type)
        try:
            dtype = jnp.dtype(target)
        except TypeError:
            raise ValueError(
                f"`target` (={target!r}) must be a JAX device, a platform name ('cpu', 'gpu', 'tpu') or a dtype"
            ) from None
        return GeometricTensor(self.tensor.astype(dtype), self.type)

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


def _batch_index(it, axis: int):
    if is_int(it) or isinstance(it, slice):
        return it
    if isinstance(it, (list, np.ndarray, jax.Array)):
        dt = np.asarray(it).dtype if isinstance(it, list) else it.dtype
        if jnp.issubdtype(dt, jnp.integer) or jnp.issubdtype(dt, jnp.bool_):
            return it
    raise IndexError(
        f"batch axis {axis} of a GeometricTensor takes an integer, a slice or an integer/boolean array, got {it!r}"
    )


def _spatial_index(it, axis: int, size: int) -> slice:
    if is_int(it):
        if not -size <= it < size:
            raise IndexError(f"index {it} is out of range for spatial axis {axis} of size {size}")
        i = int(it) % size
        return slice(i, i + 1)  # keep the axis (size 1), as escnn does
    if isinstance(it, slice):
        if not len(range(size)[it]):
            raise IndexError(f"the slice {it} selects no pixel along spatial axis {axis} (of size {size})")
        return it
    raise IndexError(f"spatial axis {axis} of a GeometricTensor takes an integer or a slice, got {it!r}")


def _field_selection(it, ftype: FieldType) -> list[int]:
    """The field indices selected by the channel-axis index `it` (which counts fields)."""
    n = len(ftype)
    where = (
        f"the channel axis of a GeometricTensor is indexed by field: the tensor has {n} fields ({ftype.size} channels)"
    )
    if is_int(it):
        if not -n <= it < n:
            raise IndexError(f"{where}, so field {it} does not exist")
        return [int(it) % n]
    if isinstance(it, slice):
        for b in (it.start, it.stop):
            if b is not None and (not is_int(b) or not -n <= b <= n):
                raise IndexError(
                    f"{where}, so the slice {it} is out of range (select fields with indices in [-{n}, {n}]; "
                    "`x.type.fields_start` / `fields_end` give each field's channels)"
                )
        fields = list(range(n)[it])
        if not fields:
            raise IndexError(f"{where}; the slice {it} selects no field")
        return fields
    if isinstance(it, jax.Array):
        raise IndexError(
            f"{where}; a field selection must be static (an int, a slice, a list or a numpy array), since the "
            f"result's FieldType depends on it, got a JAX array"
        )
    if isinstance(it, (list, tuple, np.ndarray)):
        a = np.asarray(it)
        if a.dtype == np.bool_:
            if a.shape != (n,):
                raise IndexError(f"{where}; a boolean mask over the fields needs {n} entries, got shape {a.shape}")
            fields = [int(i) for i in np.nonzero(a)[0]]
        elif a.ndim == 1 and (a.size == 0 or np.issubdtype(a.dtype, np.integer)):
            bad = [int(i) for i in a if not -n <= i < n]
            if bad:
                raise IndexError(f"{where}, so field {bad[0]} does not exist")
            fields = [int(i) % n for i in a]
        else:
            raise IndexError(f"{where}; a list of field indices must be 1-D integers or booleans, got {it!r}")
        if not fields:
            raise IndexError(f"{where}; {it!r} selects no field")
        return fields
    raise IndexError(f"{where}; it takes a field index, a slice, a list of indices or a boolean mask, got {it!r}")


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
