"""Equivariant batch normalisation with running statistics in `eqx.nn.State`.

Statistics are reduced over the leading batch axes and the spatial axes of the input, and,
when `axis_name` is set and bound (inside ``jax.vmap(..., axis_name=...)`` or a sharded map),
across that named axis too. So ``model(x_batch, state)`` and
``jax.vmap(model, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(x_batch, state)``
compute the same thing.
"""

from __future__ import annotations

import numbers
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .._misc import at_least_float32
from ._field_type import FieldType
from ._geometric_tensor import GeometricTensor
from ._misc import check_bool, check_field_type
from ._module import STATE_HINT, EquivariantModule, check_input, param_dtype
from ._pointwise import check_pointwise


def _check_common(in_type, eps, momentum, affine) -> None:
    check_field_type(in_type)
    if isinstance(eps, bool) or not (isinstance(eps, numbers.Real) and eps > 0):
        raise ValueError(f"`eps` (={eps!r}) must be a positive number")
    if isinstance(momentum, bool) or not (isinstance(momentum, numbers.Real) and 0 <= momentum <= 1):
        raise ValueError(f"`momentum` (={momentum!r}) must be in [0, 1]")
    check_bool(affine, "affine")


def _segment_matrix(segments: list[tuple[int, int]], size: int) -> np.ndarray:
    """``(C, S)`` 0/1 matrix of channel membership in each segment."""
    M = np.zeros((size, len(segments)))
    for s, (a, b) in enumerate(segments):
        M[a:b, s] = 1.0
    return M


class _Segments:
    """A ``(C, S)`` 0/1 matrix M of channel membership in segments, applied as gathers and
    segment sums when each channel is in at most one segment (then the compiled program
    holds C indices instead of a dense C x S constant: smaller, faster to compile)."""

    def __init__(self, M: np.ndarray):
        self.M = M
        self.counts = M.sum(0)
        onehot = np.all((M == 0) | (M == 1)) and np.all(M.sum(1) <= 1)
        first = M.argmax(1) if M.shape[1] else np.zeros(len(M), np.int64)
        self.index = np.where(M.sum(1) > 0, first, M.shape[1]).astype(np.int32) if onehot else None

    def reduce(self, v):
        """``v @ M``: per-segment sums of a ``(C,)`` vector."""
        if self.index is None:
            return v @ jnp.asarray(self.M, v.dtype)
        S = self.M.shape[1]
        sorted_ = bool(np.all(np.diff(self.index) >= 0))
        return jax.ops.segment_sum(v, jnp.asarray(self.index), S + 1, indices_are_sorted=sorted_)[:S]

    def expand(self, s):
        """``M @ s``: each channel gets its segment's value (0 outside every segment)."""
        if self.index is None:
            return jnp.asarray(self.M, s.dtype) @ s
        return jnp.concatenate([s, jnp.zeros(1, s.dtype)])[jnp.asarray(self.index)]


class _NoState:
    def __repr__(self):
        return "<no state>"


_NO_STATE = _NoState()


def _bound_axis_names() -> list | None:
    """The named axes bound where this is traced (``jax.vmap(..., axis_name=...)``, shard
    maps), outermost first; None when JAX does not say (the query is not public API)."""
    try:
        from jax._src import core as _core

        return list(_core.unsafe_get_axis_names())
    except Exception:  # pragma: no cover - depends on JAX internals
        return None


def _no_batch_message(module, axis_name) -> str:
    """Why a batch norm in training mode found nothing to reduce over, and what to write."""
    name = type(module).__name__
    bound = _bound_axis_names()
    where = (
        "" if bound is None else (f" (bound here: {', '.join(map(repr, bound))})" if bound else " (none is bound here)")
    )
    if axis_name is None:
        hint = (
            f"; this call is inside a named map: build it with axis_name={bound[-1]!r}"
            if bound
            else "; or build it with `axis_name=` and call it under jax.vmap(..., axis_name=...)"
        )
        return (
            f"{name} in training mode needs a batch: `x` has no leading batch axes and the batch norm was built "
            f"with axis_name=None{hint} (or give `x` leading batch axes, or use inference mode)"
        )
    return (
        f"{name} in training mode needs a batch: `x` has no leading batch axes and the batch norm was built with "
        f"axis_name={axis_name!r}, but that axis is not bound{where}: call it under "
        f"jax.vmap(..., axis_name={axis_name!r})"
        + (f" or build it with axis_name={bound[-1]!r}" if bound else "")
        + " (or give `x` leading batch axes)"
    )


def _batch_mean(v: jnp.ndarray, batch_axes: tuple[int, ...], axis_name):
    """Mean over `batch_axes` and, if bound, over the named axis.

    **Returns:** ``(mean, named_size)``; `named_size` is the size of the bound named axis,
    or None when `axis_name` is None or not bound (a plain batched call)."""
    out = jnp.mean(v, axis=batch_axes) if batch_axes else v
    if axis_name is not None:
        try:
            return lax.pmean(out, axis_name), lax.psum(1, axis_name)
        except NameError:
            pass
    return out, None


class _SegmentBatchNorm(EquivariantModule):
    """Shared machinery: channels (in a fixed basis) are split into segments that share a
    variance; `centred` channels also have their mean removed."""

    weight: jax.Array | None
    bias: jax.Array | None
    state_index: eqx.nn.StateIndex
    in_type: FieldType = eqx.field(static=True)
    out_type: FieldType = eqx.field(static=True)
    eps: float = eqx.field(static=True)
    momentum: float = eqx.field(static=True)
    affine: bool = eqx.field(static=True)
    axis_name: object = eqx.field(static=True)
    inference: bool

    def _init_common(self, in_type, eps, momentum, affine, axis_name, dtype):
        _check_common(in_type, eps, momentum, affine)
        self.in_type = self.out_type = in_type
        self.eps, self.momentum, self.affine, self.axis_name = float(eps), float(momentum), affine, axis_name
        self.inference = False
        dtype = param_dtype(dtype)
        n_mean, n_var, n_bias = self._mean_segments.shape[1], self._var_segments.shape[1], self._bias_map.shape[1]
        self.weight = jax.device_put(np.ones(n_var, dtype)) if affine else None
        self.bias = jax.device_put(np.zeros(n_bias, dtype)) if affine and n_bias else None
        self.state_index = eqx.nn.StateIndex(
            (jax.device_put(np.zeros(n_mean, dtype)), jax.device_put(np.ones(n_var, dtype)))
        )

    # training mode normalises with the unbiased batch variance (escnn's GNormBatchNorm)
    _normalise_unbiased: ClassVar[bool] = False

    # the normalisation basis: the channels themselves unless a subclass says otherwise
    @property
    def _basis(self) -> np.ndarray:
        return np.eye(self.in_type.size)

    def _to_basis(self, t):
        return t

    def _from_basis(self, t):
        return t

    def _samples_per_segment(self) -> np.ndarray:
        """Samples per pixel in each variance segment, for Bessel's correction of the running
        variance (default: the segment's channels)."""
        return self._var_segments.sum(0)

    def _running_stats(self, state) -> tuple[jnp.ndarray, jnp.ndarray]:
        """``(running_mean, running_var)`` of this module in `state`, after checking that
        `state` is an `eqx.nn.State` holding them (not another model's).

        **Raises:** `TypeError` if `state` is not an `eqx.nn.State`; `ValueError` if it does
        not hold this module's statistics (with the shapes this module needs).
        """
        name = type(self).__name__
        if state is _NO_STATE:
            raise ValueError(
                f"{name} keeps state (running statistics) but was called without it: call it, and any model "
                f"holding it, as `y, state = model(x, state)`, with {STATE_HINT}"
            )
        if not isinstance(state, eqx.nn.State):
            short = (
                state is None
                or isinstance(state, (str, numbers.Number))
                or (isinstance(state, (dict, tuple, list)) and not state)
            )
            got = f"={state!r}" if short else f"a {type(state).__name__}"
            raise TypeError(
                f"`state` ({got}) must be an `eqx.nn.State` holding the running statistics of {name}: {STATE_HINT}"
            )
        try:
            stats = state.get(self.state_index)
        except KeyError:
            raise ValueError(
                f"`state` does not hold the running statistics of this {name}: it was made for another model "
                f"(or this module was built after it); pass {STATE_HINT}"
            ) from None
        expected = ((self._mean_segments.shape[1],), (self._var_segments.shape[1],))
        shapes = tuple(tuple(getattr(v, "shape", ())) for v in stats) if isinstance(stats, (tuple, list)) else None
        if shapes != expected:
            held = "something else" if shapes is None else f"statistics of shapes {shapes[0]} and {shapes[1]}"
            raise ValueError(
                f"`state` holds, at this {name}'s index, {held}, where {name} keeps (mean, variance) of shapes "
                f"{expected[0]} and {expected[1]}: it was made for another model; pass {STATE_HINT}"
            )
        return stats

    # Subclasses define, in their normalisation basis (`_to_basis` / `_from_basis`):
    # `_mean_segments` (C, Sm): channels sharing a mean (rows of zeros: not centred);
    # `_var_segments` (C, Sv): channels sharing a variance (and an affine scale);
    # `_bias_map` (C, n_bias): where the affine shifts go.
    def __call__(self, x: GeometricTensor, state: eqx.nn.State = _NO_STATE, *, key=None, inference: bool | None = None):
        """**Arguments:** `x` (a `GeometricTensor` of `in_type`), `state` (the `eqx.nn.State`
        from ``eqx.nn.make_with_state``); `inference` overrides the module's mode (running
        statistics, state unchanged).

        **Returns:** ``(y, new_state)``.

        **Raises:** `ValueError` without `state`, for the state of another model, or in training
        mode if there is no batch to reduce over (no leading batch axes and `axis_name` not
        bound); `TypeError` if `state` is not an `eqx.nn.State`.
        """
        del key
        check_input(self, x)
        running_mean, running_var = self._running_stats(state)
        if inference is None:
            inference = self.inference
        # statistics in at least float32 (mixed precision: bfloat16 in, bfloat16 out)
        t = self._to_basis(x.tensor.astype(at_least_float32(x.tensor.dtype)))
        ax = t.ndim + self.in_type.channel_axis
        spatial_axes = tuple(range(ax + 1, t.ndim))
        Mm, Mv = _Segments(self._mean_segments), _Segments(self._var_segments)
        if inference:
            mean_seg, var_seg = running_mean.astype(t.dtype), running_var.astype(t.dtype)
        else:
            chan_mean = jnp.mean(t, axis=spatial_axes) if spatial_axes else t  # (*batch, C)
            chan_sq = jnp.mean(t * t, axis=spatial_axes) if spatial_axes else t * t
            chan_mean, named = _batch_mean(chan_mean, tuple(range(ax)), self.axis_name)
            chan_sq, _ = _batch_mean(chan_sq, tuple(range(ax)), self.axis_name)
            if not ax and named is None:
                raise ValueError(_no_batch_message(self, self.axis_name))
            mean_seg = Mm.reduce(chan_mean) / jnp.asarray(np.maximum(Mm.counts, 1.0), t.dtype)
            m = Mm.expand(mean_seg)
            chan_var = chan_sq - 2 * m * chan_mean + m * m
            var_seg = jnp.maximum(Mv.reduce(chan_var) / jnp.asarray(Mv.counts, t.dtype), 0.0)
            # samples per variance segment: batch x space x the segment's samples
            n = int(np.prod([t.shape[a] for a in range(ax)] + [t.shape[a] for a in spatial_axes]))
            n = n * jnp.asarray(self._samples_per_segment(), t.dtype) * (1 if named is None else named)
            mom = self.momentum
            unbiased = var_seg * n / jnp.maximum(n - 1, 1)
            new_mean = (1 - mom) * running_mean + mom * lax.stop_gradient(mean_seg).astype(running_mean.dtype)
            new_var = (1 - mom) * running_var + mom * lax.stop_gradient(unbiased).astype(running_var.dtype)
            state = state.set(self.state_index, (new_mean, new_var))
            if self._normalise_unbiased:
                var_seg = unbiased
        shape = (1,) * ax + (-1,) + (1,) * len(spatial_axes)
        scale = 1.0 / jnp.sqrt(Mv.expand(var_seg) + self.eps)
        if self.weight is not None:
            scale = scale * Mv.expand(self.weight.astype(t.dtype))
        y = (t - Mm.expand(mean_seg).reshape(shape)) * scale.reshape(shape)
        if self.bias is not None:
            y = y + _Segments(self._bias_map).expand(self.bias.astype(t.dtype)).reshape(shape)
        return GeometricTensor(self._from_basis(y).astype(x.tensor.dtype), self.out_type), state

    def frozen_affine(self, state: eqx.nn.State) -> tuple[jnp.ndarray, jnp.ndarray]:
        """``(A, c)``: in inference mode the module computes ``A x + c`` along the channel
        axis (``A`` is ``(C, C)``, ``c`` is ``(C,)``, in the type's channel basis)."""
        running_mean, running_var = self._running_stats(state)
        dt = running_var.dtype
        Mm, Mv = jnp.asarray(self._mean_segments, dt), jnp.asarray(self._var_segments, dt)
        scale = 1.0 / jnp.sqrt(Mv @ running_var + self.eps)
        if self.weight is not None:
            scale = scale * (Mv @ self.weight)
        shift = -scale * (Mm @ running_mean)
        if self.bias is not None:
            shift = shift + jnp.asarray(self._bias_map, dt) @ self.bias
        B = jnp.asarray(self._basis, dt)  # channels = B (normalisation-basis coordinates)
        return B @ (scale[:, None] * B.T), B @ shift

    def export(self, state: eqx.nn.State | None = None):
        """The frozen inference map as a plain module on ``(C, *spatial)`` arrays. Needs
        the trained `state`."""
        if state is None:
            raise TypeError(f"{type(self).__name__}.export(state) needs the state holding the running statistics")
        A, c = self.frozen_affine(state)
        dims = self.in_type.gspace.dimensionality
        if np.array_equal(self._basis, np.eye(len(self._basis))):  # normalised in the channel basis
            return ChannelAffine(jnp.diagonal(A), c, dims, diagonal=True)
        return ChannelAffine(A, c, dims)


class ChannelAffine(eqx.Module):
    """``x -> A x + c`` along the channel axis of ``(C, *spatial)`` (an exported batch norm).
    With ``diagonal=True``, `matrix` holds only the diagonal of A (a per-channel scale)."""

    matrix: jax.Array
    shift: jax.Array
    spatial_dims: int = eqx.field(static=True)
    diagonal: bool = eqx.field(static=True, default=False)

    def __call__(self, x, *, key=None):
        del key
        bcast = (-1,) + (1,) * self.spatial_dims
        if self.diagonal:
            y = x * self.matrix.reshape(bcast)
        else:
            y = jnp.tensordot(self.matrix, x, axes=(1, 0))
        return y + self.shift.reshape(bcast)


class InnerBatchNorm(_SegmentBatchNorm):
    """Batch norm for fields acting by permutations (trivial, regular, quotient): one mean
    and variance per field, shared by its channels (escnn's ``InnerBatchNorm``); with
    `affine`, a scale and shift per field.

    **Arguments:** `in_type`; `eps`; `momentum` (running = (1 - m) running + m batch);
    `affine`; `axis_name` (a vmap/shard axis to reduce over as well); `dtype`.

    **Raises:** `ValueError` if a field does not act by permutations.
    """

    def __init__(self, in_type: FieldType, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True,
                 axis_name=None, dtype=None):  # fmt: skip
        check_pointwise(in_type, "InnerBatchNorm")
        self.in_type = in_type
        self._init_common(in_type, eps, momentum, affine, axis_name, dtype)

    @property
    def _var_segments(self) -> np.ndarray:
        t = self.in_type
        return _segment_matrix(list(zip(t.fields_start, t.fields_end)), t.size)

    _mean_segments = _var_segments
    _bias_map = _var_segments


class _IrrepsBasisBatchNorm(_SegmentBatchNorm):
    """Statistics in the irreps basis: mean removed on trivial irreps only, variance shared
    per field (`per_irrep=False`) or per irrep copy (`per_irrep=True`)."""

    per_irrep: bool = eqx.field(static=True)

    def _setup(self, in_type, eps, momentum, affine, axis_name, per_irrep, dtype):
        _check_common(in_type, eps, momentum, affine)
        self.per_irrep = per_irrep
        self.in_type = in_type
        self._init_common(in_type, eps, momentum, affine, axis_name, dtype)

    def _segment_list(self) -> list[tuple[int, int]]:
        t = self.in_type
        if not self.per_irrep:
            return list(zip(t.fields_start, t.fields_end))
        G, out, start = t.fibergroup, [], 0
        for i in t.irreps:
            d = G.irrep(*i).size
            out.append((start, start + d))
            start += d
        return out

    def _trivial_channels(self) -> np.ndarray:
        G = self.in_type.fibergroup
        triv = G.trivial_representation.id
        return np.concatenate([np.full(G.irrep(*i).size, i == triv, dtype=float) for i in self.in_type.irreps])

    @property
    def _var_segments(self) -> np.ndarray:
        return _segment_matrix(self._segment_list(), self.in_type.size)

    @property
    def _mean_segments(self) -> np.ndarray:
        """Each trivial irrep channel has its own mean; other channels are not centred."""
        trivial = self._trivial_channels()
        return np.eye(len(trivial))[:, trivial > 0]

    _bias_map = _mean_segments

    @property
    def _basis(self) -> np.ndarray:
        """Block-diagonal change of basis Q: channels = Q (irreps coordinates)."""
        t = self.in_type
        Q = np.zeros((t.size, t.size))
        for r, s, e in zip(t.representations, t.fields_start, t.fields_end):
            Q[s:e, s:e] = r.change_of_basis
        return Q

    def _apply(self, t, M):
        ax = self.in_type.channel_axis
        return jnp.moveaxis(jnp.moveaxis(t, ax, -1) @ jnp.asarray(M.T, t.dtype), -1, ax)

    def _to_basis(self, t):
        return self._apply(t, self._basis.T)

    def _from_basis(self, t):
        return self._apply(t, self._basis)


class NormBatchNorm(_IrrepsBasisBatchNorm):
    """Batch norm for any fields: each field is divided by the batch root-mean-square of
    its norm (per channel), its trivial components are centred; with `affine`, a scale per
    field and a shift on trivial components (escnn's ``NormBatchNorm``)."""

    def __init__(self, in_type: FieldType, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True,
                 axis_name=None, dtype=None):  # fmt: skip
        self._setup(in_type, eps, momentum, affine, axis_name, False, dtype)


class IIDBatchNorm2d(_IrrepsBasisBatchNorm):
    """Batch norm for any fields on the plane, one variance per irrep copy (assuming the
    features are isotropic within each irrep); trivial irreps are centred."""

    def __init__(self, in_type: FieldType, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True,
                 axis_name=None, dtype=None):  # fmt: skip
        if isinstance(in_type, FieldType) and in_type.gspace.dimensionality != 2:
            raise ValueError(f"`in_type` lives on {in_type.gspace.name}; IIDBatchNorm2d needs fields on the plane")
        self._setup(in_type, eps, momentum, affine, axis_name, True, dtype)


class IIDBatchNorm1d(_IrrepsBasisBatchNorm):
    """`IIDBatchNorm2d` for feature vectors ``(*batch, C)`` on `gspaces.no_base_space`."""

    def __init__(self, in_type: FieldType, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True,
                 axis_name=None, dtype=None):  # fmt: skip
        if isinstance(in_type, FieldType) and in_type.gspace.dimensionality != 0:
            raise ValueError(
                f"`in_type` lives on {in_type.gspace.name}; IIDBatchNorm1d needs fields with no base space"
            )
        self._setup(in_type, eps, momentum, affine, axis_name, True, dtype)
