"""Normalisation of general and induced fields: `GNormBatchNorm`, `InducedNormBatchNorm`
(batch statistics, running averages in `eqx.nn.State`) and `FieldNorm` (per-sample, per-pixel
statistics within each field, no state).

The batch norms share the conventions of `InnerBatchNorm` / `NormBatchNorm`: statistics are
reduced over the leading batch axes and the spatial axes, and over `axis_name` when it is
bound (``jax.vmap(..., axis_name=...)``); with neither in training mode they raise.
"""

from __future__ import annotations

import numbers
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._batchnorm import _check_common, _IrrepsBasisBatchNorm, _segment_matrix, _SegmentBatchNorm
from ._field_type import FieldType
from ._geometric_tensor import GeometricTensor
from ._misc import check_bool, check_field_type
from ._module import EquivariantModule, array_function, check_input, param_dtype
from ._norm_nonlinearities import field_membership


def induced_blocks(in_type, module: str) -> list[tuple[int, int]]:
    """``[(n_blocks, block_size), ...]`` per field of a type made of induced representations
    (`Representation.induced_from`): a field of size ``n * d`` is ``n`` consecutive blocks of
    ``d`` channels, which the group permutes and transforms orthogonally.

    **Raises:** `TypeError` if `in_type` is not a FieldType; `ValueError` if a field is not
    an induced representation.
    """
    check_field_type(in_type)
    out = []
    for r in in_type.representations:
        info = r.induced_from
        if info is None:
            raise ValueError(
                f"{module} needs fields of induced representations (built with `group.induced_representation`), "
                f"but `in_type` contains {r!r}"
            )
        d = info[1].size
        out.append((r.size // d, d))
    return out


class GNormBatchNorm(_IrrepsBasisBatchNorm):
    """Batch normalisation for fields of any representation, irrep by irrep (escnn's
    ``GNormBatchNorm``).

    Each field is expressed in its irreps basis. Only the trivial irreps are centred (by
    their batch mean); every copy of an irrep gets its own variance, the batch mean of its
    (centred) squared norm divided by its dimension. With `affine`, a scale per irrep copy and a shift per
    trivial irrep. Running statistics (one mean per trivial irrep, one variance per irrep
    copy) live in `eqx.nn.State`. As in escnn, the batch variance gets Bessel's correction
    ``N / (N - 1)`` with ``N = batch x pixels`` samples, both in the running average and
    when normalising in training mode. (escnn detaches the batch statistics from the
    gradient; here gradients flow through them, as in the other equijax batch norms.)

    **Arguments:**

    - `in_type`: the field type (output type is the same).
    - `eps`: added to the variance.
    - `momentum`: ``running = (1 - momentum) * running + momentum * batch``.
    - `affine`: learn the scales and shifts.
    - `axis_name`: a vmap/shard axis to reduce the statistics over as well.
    - `dtype`: of the parameters and statistics (default: JAX's default float).

    Call as ``y, state = bn(x, state)``; `inference` (or `eval()`) uses the running
    statistics and leaves the state unchanged.

    **Raises:** `TypeError` / `ValueError` for a bad argument; in training mode, `ValueError`
    if there is no batch to reduce over.
    """

    def __init__(self, in_type: FieldType, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True,
                 axis_name=None, dtype=None):  # fmt: skip
        self._setup(in_type, eps, momentum, affine, axis_name, True, dtype)

    _normalise_unbiased: ClassVar[bool] = True

    def _samples_per_segment(self) -> np.ndarray:
        return np.ones(self._var_segments.shape[1])  # escnn counts an irrep as one sample


class InducedNormBatchNorm(_SegmentBatchNorm):
    """Batch normalisation for fields of induced representations (escnn's
    ``InducedNormBatchNorm``).

    A field induced from a ``d``-dimensional representation of a subgroup is ``n`` blocks
    of ``d`` channels that the group permutes and rotates. The fields must not contain the
    trivial irrep, so their mean is zero and is not removed: each field is divided by the
    square root of one variance, the batch mean of its blocks' squared norms divided by
    ``d``. With `affine`, one scale per field (no shift). The running variance uses
    Bessel's correction with ``N = batch x pixels x n`` samples, as escnn does.

    Unlike escnn, which normalises with the (just updated) running variance in training mode
    too, training mode normalises with the biased batch variance, like equijax's
    `NormBatchNorm`; the inference mode (running variance) matches escnn.

    **Arguments:** `in_type`; `eps`; `momentum`; `affine`; `axis_name`; `dtype` (as in
    `GNormBatchNorm`).

    **Raises:** `ValueError` if a field is not an induced representation or contains the
    trivial irrep; in training mode, if there is no batch to reduce over.
    """

    def __init__(self, in_type: FieldType, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True,
                 axis_name=None, dtype=None):  # fmt: skip
        _check_common(in_type, eps, momentum, affine)
        induced_blocks(in_type, "InducedNormBatchNorm")
        bad = [r for r in in_type.representations if r.contains_trivial()]
        if bad:
            raise ValueError(
                f"InducedNormBatchNorm needs fields without the trivial irrep (their mean is assumed to be zero), "
                f"but `in_type` contains {bad[0]!r}; use GNormBatchNorm or NormBatchNorm for it"
            )
        self.in_type = in_type
        self._init_common(in_type, eps, momentum, affine, axis_name, dtype)

    def _samples_per_segment(self) -> np.ndarray:
        # escnn counts each block of a field as one sample
        return np.array([n for n, _ in induced_blocks(self.in_type, "InducedNormBatchNorm")], dtype=float)

    @property
    def _var_segments(self) -> np.ndarray:
        t = self.in_type
        return _segment_matrix(list(zip(t.fields_start, t.fields_end)), t.size)

    @property
    def _mean_segments(self) -> np.ndarray:
        return np.zeros((self.in_type.size, 0))

    _bias_map = _mean_segments


def _field_norm_constants(in_type: FieldType) -> tuple[np.ndarray, np.ndarray]:
    """``(P, B)``: P ``(C, C)`` projects each field on its trivial irreps (the field's
    "mean"), B ``(C, n_trivial)`` places a shift on each trivial irrep, in channel basis."""
    G = in_type.fibergroup
    triv = G.trivial_representation.id
    C = in_type.size
    P = np.zeros((C, C))
    cols = []
    for r, s, e in zip(in_type.representations, in_type.fields_start, in_type.fields_end):
        Q = r.change_of_basis
        pos, p = [], 0
        for i in r.irreps:
            if i == triv:
                pos.append(p)
            p += G.irrep(*i).size
        if pos:
            Qt = Q[:, pos]
            P[s:e, s:e] = Qt @ Qt.T
            for k in range(len(pos)):
                col = np.zeros(C)
                col[s:e] = Qt[:, k]
                cols.append(col)
    B = np.stack(cols, axis=1) if cols else np.zeros((C, 0))
    return P, B


class FieldNorm(EquivariantModule):
    """Normalises each field of each sample at each pixel by its own statistics (escnn's
    ``FieldNorm``): no batch or spatial statistics, no running averages, the same in
    training and inference.

    For a field vector ``v`` at a pixel: the mean ``m`` is its projection on the trivial
    irreps, the variance is ``|v - m|^2 / dim(v)``, and the output is
    ``w * (v - m) / sqrt(variance + eps) + b``, with (if `affine`) a learnt scale ``w`` per
    field and a learnt shift ``b`` on each trivial irrep. A field made of trivial irreps
    only becomes its shift. Equivariant for any (orthogonal) representation.

    Unlike escnn, which detaches the statistics, gradients flow through the normalisation.

    **Arguments:**

    - `in_type`: the field type (output type is the same).
    - `eps`: a positive number added to the variance.
    - `affine`: learn the scales and shifts.
    - `dtype`: of the parameters (default: JAX's default float).

    **Raises:** `TypeError` / `ValueError` for a bad argument.
    """

    weight: jax.Array | None
    bias: jax.Array | None
    in_type: FieldType = eqx.field(static=True)
    out_type: FieldType = eqx.field(static=True)
    eps: float = eqx.field(static=True)
    affine: bool = eqx.field(static=True)

    def __init__(self, in_type: FieldType, eps: float = 1e-5, affine: bool = True, dtype=None):
        check_field_type(in_type)
        if isinstance(eps, bool) or not (isinstance(eps, numbers.Real) and eps > 0):
            raise ValueError(f"`eps` (={eps!r}) must be a positive number")
        check_bool(affine, "affine")
        self.in_type = self.out_type = in_type
        self.eps, self.affine = float(eps), affine
        dtype = param_dtype(dtype)
        n_bias = _field_norm_constants(in_type)[1].shape[1]
        self.weight = jax.device_put(np.ones(len(in_type), dtype)) if affine else None
        self.bias = jax.device_put(np.zeros(n_bias, dtype)) if affine and n_bias else None

    def __call__(self, x: GeometricTensor, *, key=None) -> GeometricTensor:
        """**Arguments:** `x`, a `GeometricTensor` of `in_type`; `key` (unused).

        **Returns:** the normalised `GeometricTensor`.
        """
        del key
        check_input(self, x)
        P, B = _field_norm_constants(self.in_type)
        M = field_membership(self.in_type)
        ax = self.in_type.channel_axis
        t = jnp.moveaxis(x.tensor, ax, -1)  # (..., C)
        dt = t.dtype
        centred = t - t @ jnp.asarray(P.T, dt) if P.any() else t
        lead = (1,) * (t.ndim - 1)
        var = (centred * centred) @ jnp.asarray(M / M.sum(0), dt)  # (..., F): mean square per field
        scale = 1.0 / jnp.sqrt(var + self.eps)
        if self.weight is not None:
            scale = scale * self.weight.astype(dt).reshape(lead + (-1,))
        y = centred * (scale @ jnp.asarray(M.T, dt))
        if self.bias is not None:
            y = y + (jnp.asarray(B, dt) @ self.bias.astype(dt)).reshape(lead + (-1,))
        return GeometricTensor(jnp.moveaxis(y, -1, ax), self.out_type)

    def export(self):
        """A function on ``(*batch, C, *spatial)`` arrays computing the same map."""
        return array_function(self)
