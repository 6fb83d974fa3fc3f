"""Steerable convolutions on the plane: `R2Conv` and `R2ConvTransposed`."""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import lax

from ..gspaces import GSpace2D
from ..kernels import BasisElement
from ._conv_kernels import conv2d
from ._expansion import ExpansionPlan, conv_plan, expand_bias, expand_filter, split_groups
from ._field_type import FieldType
from ._geometric_tensor import GeometricTensor
from ._misc import check_bool, check_field_type, check_same_gspace, init_plan_parameters
from ._module import EquivariantModule, check_input, compute_dtype, equinox_shell, param_dtype, resolve_bias

_PADDING_MODES = {"zeros": "ZEROS", "reflect": "REFLECT", "replicate": "REPLICATE", "circular": "CIRCULAR"}
_JNP_PAD = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _pair(name: str, value, minimum: int) -> tuple[int, int]:
    vals = (value, value) if isinstance(value, numbers.Integral) and not isinstance(value, bool) else value
    ok = (
        isinstance(vals, (tuple, list))
        and len(vals) == 2
        and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= minimum for v in vals)
    )
    if not ok:
        raise ValueError(f"`{name}` (={value!r}) must be an integer >= {minimum} or a pair of them")
    return int(vals[0]), int(vals[1])


def _check_types(in_type, out_type) -> None:
    for name, t in (("in_type", in_type), ("out_type", out_type)):
        check_field_type(t, name)
        if not isinstance(t.gspace, GSpace2D):
            raise ValueError(f"`{name}` must live on a 2D gspace (R^2), got {t.gspace.name}")
    check_same_gspace(in_type, out_type)


def _check_escnn_only(maximum_offset, recompute) -> None:
    """escnn's `maximum_offset` and `recompute`: validated, without effect (see the docstring)."""
    if maximum_offset is not None and (
        not isinstance(maximum_offset, numbers.Integral) or isinstance(maximum_offset, bool) or maximum_offset < 0
    ):
        raise ValueError(f"`maximum_offset` (={maximum_offset!r}) must be None or a non-negative integer")
    check_bool(recompute, "recompute", numpy=True)


def _basis_args(rings, sigma, frequencies_cutoff, basis_filter):
    rings = None if rings is None else tuple(float(r) for r in rings)
    if sigma is not None and not isinstance(sigma, numbers.Real):
        sigma = tuple(float(s) for s in sigma)
    return rings, sigma, frequencies_cutoff, basis_filter


def _flatten_batch(x: jnp.ndarray) -> tuple[jnp.ndarray, tuple[int, ...]]:
    batch = x.shape[:-3]
    return x.reshape((math.prod(batch),) + x.shape[-3:]), batch


def _add_bias_and_unflatten(y: jnp.ndarray, b: jnp.ndarray | None, batch: tuple[int, ...]) -> jnp.ndarray:
    if b is not None:
        y = y + b.astype(y.dtype).reshape(1, -1, 1, 1)
    return y.reshape(batch + y.shape[1:])


class ExportedConv2d(eqx.nn.Conv2d):
    """An `eqx.nn.Conv2d` (same fields, same results) that runs equijax's convolution
    routine, so an exported model takes the same fast paths as the equivariant one (on CPU:
    the filter-gradient fast path, or XLA's YNNPACK fusions kept unfused)."""

    def __call__(self, x, *, key=None):
        if self.padding_mode != "ZEROS" or x.ndim != 3:
            return super().__call__(x, key=key)
        y = conv2d(x[None], self.weight, self.stride, self.padding, self.dilation, self.groups)[0]
        return y if self.bias is None else y + self.bias.astype(y.dtype)


def _load_exported(layer, F: jnp.ndarray, b: jnp.ndarray | None):
    """Put the expanded filter and bias into a freshly built Equinox conv layer."""
    layer = eqx.tree_at(lambda c: c.weight, layer, F)
    if b is not None:
        layer = eqx.tree_at(lambda c: c.bias, layer, b[:, None, None])
    return layer


class _R2ConvBase(EquivariantModule):
    weights: jax.Array
    bias: jax.Array | None
    in_type: FieldType = eqx.field(static=True)
    out_type: FieldType = eqx.field(static=True)
    kernel_size: int = eqx.field(static=True)
    stride: tuple[int, int] = eqx.field(static=True)
    padding: tuple[int, int] = eqx.field(static=True)
    dilation: int = eqx.field(static=True)
    groups: int = eqx.field(static=True)
    use_bias: bool = eqx.field(static=True)
    basis_args: tuple = eqx.field(static=True)

    def _setup(
        self, in_type, out_type, kernel_size, padding, stride, dilation, groups, bias, use_bias, sigma,
        frequencies_cutoff, rings, maximum_offset, recompute, basis_filter, initialize, dtype, key,
    ) -> None:  # fmt: skip
        _check_types(in_type, out_type)
        use_bias = resolve_bias(bias, use_bias)
        _check_escnn_only(maximum_offset, recompute)
        dtype = param_dtype(dtype)
        if not isinstance(kernel_size, numbers.Integral) or isinstance(kernel_size, bool) or kernel_size < 1:
            raise ValueError(f"`kernel_size` (={kernel_size!r}) must be a positive integer")
        self.kernel_size = int(kernel_size)
        self.padding = _pair("padding", padding, 0)
        self.stride = _pair("stride", stride, 1)
        if not isinstance(dilation, numbers.Integral) or isinstance(dilation, bool) or dilation < 1:
            raise ValueError(f"`dilation` (={dilation!r}) must be a positive integer")
        self.dilation = int(dilation)
        if basis_filter is not None and not callable(basis_filter):
            raise ValueError(f"`basis_filter` (={basis_filter!r}) must be None or a callable taking a BasisElement")
        split_groups(in_type, out_type, groups)
        self.in_type, self.out_type, self.groups, self.use_bias = in_type, out_type, groups, use_bias
        self.basis_args = _basis_args(rings, sigma, frequencies_cutoff, basis_filter)
        if self.kernel_size % 2 == 0:
            warnings.warn(
                f"`kernel_size` (={kernel_size}) is even: the filter has no centre tap, so the output grid sits half a "
                "pixel off the input grid unless the padding compensates; exact equivariance needs an odd kernel size",
                stacklevel=3,
            )
        self.weights, self.bias = init_plan_parameters(self.plan, initialize, use_bias, dtype, key, groups)

    @property
    def plan(self) -> ExpansionPlan:
        sub_in, sub_out = split_groups(self.in_type, self.out_type, self.groups)
        return conv_plan(sub_in, sub_out, self.kernel_size, self.dilation, *self.basis_args)

    def expand_parameters(self) -> tuple[jnp.ndarray, jnp.ndarray | None]:
        """The filter ``(C_out, C_in // groups, k, k)`` and the bias ``(C_out,)`` (or None)."""
        plan = self.plan
        w = self.weights.reshape(self.groups, -1)
        if self.groups == 1:
            F = expand_filter(plan, w[0])
        else:
            F = jax.vmap(lambda v: expand_filter(plan, v))(w)
            F = F.reshape((-1,) + F.shape[2:])
        b = None
        if self.bias is not None:
            b = jax.vmap(lambda v: expand_bias(plan, v))(self.bias.reshape(self.groups, -1)).reshape(-1)
        return F, b

    @property
    def filter(self) -> jnp.ndarray:
        """The expanded filter ``(C_out, C_in // groups, k, k)`` (escnn's ``conv.filter``).

        Computed from `weights` on each access (equijax keeps no cached copy, so it is
        the same in training and inference mode, and differentiable).
        """
        return self.expand_parameters()[0]

    @property
    def expanded_bias(self) -> jnp.ndarray | None:
        """The expanded bias ``(C_out,)`` (escnn's ``conv.expanded_bias``), or None without a
        bias. Computed from `bias` on each access."""
        return self.expand_parameters()[1]

    @property
    def num_parameters(self) -> int:
        return self.weights.size + (0 if self.bias is None else self.bias.size)


class R2Conv(_R2ConvBase):
    """A steerable convolution between fields on the plane (escnn's ``R2Conv``).

    The filter is a learned combination of the equivariant kernel basis of every pair of
    input and output representations (see `equijax.kernels.kernel_basis_on_grid`); the bias
    acts only on trivial components. Inputs may have any number of leading batch axes.

    The positional order is escnn's, ``R2Conv(in_type, out_type, kernel_size, padding,
    stride, dilation, padding_mode, groups, bias, sigma, frequencies_cutoff, rings,
    maximum_offset, recompute, basis_filter, initialize)``, so escnn calls port unchanged
    (``nn.R2Conv(a, b, 3, 1, 1, 1, 'circular', key=key)``); `use_bias`, `dtype` and `key` are
    keyword only.

    **Arguments:**

    - `in_type`, `out_type`: the `FieldType`s (same 2D gspace).
    - `kernel_size`: odd k for exact equivariance (even sizes warn).
    - `padding`: int or (pad_h, pad_w); `stride`: int or pair; `dilation`: int.
    - `padding_mode`: ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'``.
    - `groups`: split the fields into `groups` identical chunks connected block-wise.
    - `bias` (escnn's name) or `use_bias` (Equinox's): learn a bias on the trivial
      components (default True). Give either; both is allowed if they agree.
    - `sigma`, `frequencies_cutoff`, `rings`, `basis_filter`: kernel-basis options (escnn's
      defaults when ``None``).
    - `maximum_offset`, `recompute`: escnn's arguments, accepted (and checked: None or an
      integer >= 0, a bool) so escnn calls port unchanged, without effect: escnn itself no
      longer uses `maximum_offset` (the band limit comes from `frequencies_cutoff`), and
      equijax's bases are computed deterministically and cached in memory, so there is
      nothing to recompute.
    - `initialize`: generalised He init (escnn's variances) if True, zeros otherwise.
    - `dtype`: parameter dtype, a floating dtype or its name (default: JAX's default float).
    - `key`: a PRNG key (keyword only).

    **Attributes:** `weights` and `bias` (the learned coefficients, `bias` None without a
    bias); `filter` and `expanded_bias`, the expanded filter ``(C_out, C_in // groups, k, k)``
    and bias ``(C_out,)`` (escnn's names; computed on access, see `expand_parameters`).

    **Raises:** `TypeError`/`ValueError` naming the bad argument; at call time, `ValueError`
    if the input (padded) is smaller than the (dilated) kernel.
    """

    padding_mode: str = eqx.field(static=True)

    def __init__(
        self,
        in_type: FieldType,
        out_type: FieldType,
        kernel_size: int,
        padding: int | tuple[int, int] = 0,
        stride: int | tuple[int, int] = 1,
        dilation: int = 1,
        padding_mode: str = "zeros",
        groups: int = 1,
        bias: bool | None = None,
        sigma: float | Sequence[float] | None = None,
        frequencies_cutoff: float | Callable[[float], float] | None = None,
        rings: Sequence[float] | None = None,
        maximum_offset: int | None = None,
        recompute: bool = False,
        basis_filter: Callable[[BasisElement], bool] | None = None,
        initialize: bool = True,
        *,
        use_bias: bool | None = None,
        dtype=None,
        key: jax.Array,
    ):
        if not isinstance(padding_mode, str) or padding_mode not in _PADDING_MODES:
            hint = (
                " (the positional order is escnn's: in_type, out_type, kernel_size, padding, stride, dilation, "
                "padding_mode, groups, bias, ...; pass `groups=` by keyword)"
                if isinstance(padding_mode, numbers.Integral)
                else ""
            )
            raise ValueError(f"`padding_mode` (={padding_mode!r}) must be one of {sorted(_PADDING_MODES)}{hint}")
        self.padding_mode = padding_mode
        self._setup(
            in_type, out_type, kernel_size, padding, stride, dilation, groups, bias, use_bias, sigma,
            frequencies_cutoff, rings, maximum_offset, recompute, basis_filter, initialize, dtype, key,
        )  # fmt: skip

    def __call__(self, x: GeometricTensor, *, key=None) -> GeometricTensor:
        """**Arguments:** `x`, a `GeometricTensor` of `in_type`, shape ``(*batch, C_in, H, W)``.

        **Returns:** a `GeometricTensor` of `out_type`, shape ``(*batch, C_out, H', W')``.
        """
        del key
        check_input(self, x)
        self._check_spatial_size(x)
        F, b = self.expand_parameters()
        return GeometricTensor(self._conv(x.tensor, F, b), self.out_type)

    def _check_spatial_size(self, x: GeometricTensor) -> None:
        """Refuse an input that the (dilated) kernel does not fit once padded (shapes are
        static: this runs at trace time)."""
        H, W = x.shape[-2:]
        k_eff = self.dilation * (self.kernel_size - 1) + 1
        (ph, pw) = self.padding
        if H + 2 * ph < k_eff or W + 2 * pw < k_eff:
            extent = "" if self.dilation == 1 else f" with dilation={self.dilation} (extent {k_eff})"
            raise ValueError(
                f"`x` has spatial size {H}x{W}, smaller than the kernel: kernel_size={self.kernel_size}{extent} "
                f"with padding={self.padding} needs at least {max(k_eff - 2 * ph, 1)}x{max(k_eff - 2 * pw, 1)} "
                f"(H + 2*padding >= dilation*(kernel_size-1) + 1); pad the input or use more `padding`"
            )

    def _conv(self, t, F, b):
        t, batch = _flatten_batch(t)
        dtype = compute_dtype(t.dtype, F.dtype)
        t, F = t.astype(dtype), F.astype(dtype)
        (ph, pw) = self.padding
        if self.padding_mode == "zeros":
            padding = ((ph, ph), (pw, pw))
        else:
            t = jnp.pad(t, ((0, 0), (0, 0), (ph, ph), (pw, pw)), mode=_JNP_PAD[self.padding_mode])
            padding = ((0, 0), (0, 0))
        y = conv2d(t, F, self.stride, padding, (self.dilation, self.dilation), self.groups)
        return _add_bias_and_unflatten(y, b, batch)

    def export(self) -> eqx.nn.Conv2d:
        """An `eqx.nn.Conv2d` (an `ExportedConv2d`, which runs equijax's convolution routine)
        holding the expanded filter and bias (unbatched inputs, as in Equinox; `jax.vmap` it
        for batches)."""
        F, b = self.expand_parameters()
        ph, pw = self.padding
        conv = equinox_shell(
            ExportedConv2d,
            self.in_type.size,
            self.out_type.size,
            self.kernel_size,
            stride=self.stride,
            padding=((ph, ph), (pw, pw)),
            dilation=self.dilation,
            groups=self.groups,
            use_bias=b is not None,
            padding_mode=_PADDING_MODES[self.padding_mode],
            dtype=F.dtype,
        )
        return _load_exported(conv, F, b)

    def _testing_input_size(self) -> int:
        k_eff = self.dilation * (self.kernel_size - 1) + 1
        for size in range(max(9, k_eff), 64):
            if size % 2 and all((size + 2 * p - k_eff) % s == 0 for p, s in zip(self.padding, self.stride)):
                return size
        return 17


class R2ConvTransposed(_R2ConvBase):
    """The transposed steerable convolution (escnn's ``R2ConvTransposed``): a strided
    "deconvolution" upsampling fields on the plane, equivariant for ``output_padding=0``.

    Arguments as `R2Conv` (escnn's positional order: ``in_type, out_type, kernel_size,
    padding, output_padding, stride, dilation, groups, bias, sigma, frequencies_cutoff,
    rings, maximum_offset, recompute, basis_filter, initialize``; `use_bias`, `dtype`, `key`
    keyword only), with `output_padding` (extra rows/columns on the bottom/right, smaller
    than the stride) and no `padding_mode` (padding is zeros). The filter
    ``(C_out, C_in // groups, k, k)`` is a combination of the equivariant basis from
    `in_type` to `out_type`; `filter` and `expanded_bias` give it and the bias expanded.

    **Raises:** as `R2Conv`; at call time, `ValueError` if the output would be empty.
    """

    output_padding: tuple[int, int] = eqx.field(static=True)

    def __init__(
        self,
        in_type: FieldType,
        out_type: FieldType,
        kernel_size: int,
        padding: int | tuple[int, int] = 0,
        output_padding: int | tuple[int, int] = 0,
        stride: int | tuple[int, int] = 1,
        dilation: int = 1,
        groups: int = 1,
        bias: bool | None = None,
        sigma: float | Sequence[float] | None = None,
        frequencies_cutoff: float | Callable[[float], float] | None = None,
        rings: Sequence[float] | None = None,
        maximum_offset: int | None = None,
        recompute: bool = False,
        basis_filter: Callable[[BasisElement], bool] | None = None,
        initialize: bool = True,
        *,
        use_bias: bool | None = None,
        dtype=None,
        key: jax.Array,
    ):
        self.output_padding = _pair("output_padding", output_padding, 0)
        self._setup(
            in_type, out_type, kernel_size, padding, stride, dilation, groups, bias, use_bias, sigma,
            frequencies_cutoff, rings, maximum_offset, recompute, basis_filter, initialize, dtype, key,
        )  # fmt: skip
        for a, s in zip(self.output_padding, self.stride):
            if a >= s:
                raise ValueError(
                    f"`output_padding` (={output_padding!r}) must be smaller than the stride {self.stride}"
                )

    def _check_spatial_size(self, x: GeometricTensor) -> None:
        """Refuse an input whose output would be empty (padding larger than the kernel
        covers)."""
        H, W = x.shape[-2:]
        span = self.dilation * (self.kernel_size - 1)
        out = [
            (n - 1) * s - 2 * p + span + a + 1
            for n, s, p, a in zip((H, W), self.stride, self.padding, self.output_padding)
        ]
        if min(out) < 1:
            raise ValueError(
                f"`x` has spatial size {H}x{W}, too small for kernel_size={self.kernel_size}, "
                f"dilation={self.dilation}, stride={self.stride} and padding={self.padding}: the output would be "
                f"{out[0]}x{out[1]} ((H-1)*stride - 2*padding + dilation*(kernel_size-1) + output_padding + 1); "
                f"use a larger input or less `padding`"
            )

    def _padding_transpose(self) -> tuple[tuple[int, int], tuple[int, int]]:
        span = self.dilation * (self.kernel_size - 1)
        return tuple((span - p, span - p + a) for p, a in zip(self.padding, self.output_padding))

    def __call__(self, x: GeometricTensor, *, key=None) -> GeometricTensor:
        """**Arguments:** `x`, a `GeometricTensor` of `in_type`, shape ``(*batch, C_in, H, W)``.

        **Returns:** a `GeometricTensor` of `out_type`, shape
        ``(*batch, C_out, (H-1)*stride - 2*padding + dilation*(k-1) + output_padding + 1, ...)``.
        """
        del key
        check_input(self, x)
        self._check_spatial_size(x)
        F, b = self.expand_parameters()
        t, batch = _flatten_batch(x.tensor)
        dtype = compute_dtype(t.dtype, F.dtype)
        y = lax.conv_general_dilated(
            t.astype(dtype),
            F.astype(dtype),
            window_strides=(1, 1),
            padding=self._padding_transpose(),
            lhs_dilation=self.stride,
            rhs_dilation=(self.dilation, self.dilation),
            feature_group_count=self.groups,
            dimension_numbers=("NCHW", "OIHW", "NCHW"),
        )
        return GeometricTensor(_add_bias_and_unflatten(y, b, batch), self.out_type)

    def export(self) -> eqx.nn.ConvTranspose2d:
        """An `eqx.nn.ConvTranspose2d` holding the expanded filter and bias."""
        F, b = self.expand_parameters()
        ph, pw = self.padding
        conv = equinox_shell(
            eqx.nn.ConvTranspose2d,
            self.in_type.size,
            self.out_type.size,
            self.kernel_size,
            stride=self.stride,
            output_padding=self.output_padding,
            padding=((ph, ph), (pw, pw)),
            dilation=self.dilation,
            groups=self.groups,
            use_bias=b is not None,
            dtype=F.dtype,
        )
        return _load_exported(conv, F, b)

    def _testing_input_size(self) -> int:
        return 9
