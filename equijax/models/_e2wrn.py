"""The equivariant Wide ResNet of the e2cnn experiments (Weiler & Cesa, "General E(2)-Equivariant
Steerable CNNs", NeurIPS 2019), rebuilt from equijax modules.

The network starts D_N- (or C_N-) equivariant and may restrict its symmetry group as it goes
deeper, as in the paper's CIFAR experiments: ``r=1`` restricts D8 to D4 (C8 to C4) after the
first stage, ``r=2`` further to the group of one reflection (the trivial group C1) after the
second. Each restriction is a `RestrictionModule` followed by a `DisentangleModule`.

Build it with ``model, state = eqx.nn.make_with_state(WideResNet)(key, depth=10, ...)``
and call it as ``logits, state = model(x, state, key=key)`` with ``x`` of shape
``(batch, 3, H, W)`` (or ``(3, H, W)`` under ``jax.vmap(..., axis_name="batch")``). Exact
invariance on the pixel grid needs odd H = W with even ``H - 1`` at each stride 2 (e2cnn
pads CIFAR's 32 x 32 images to 33 x 33).
"""

from __future__ import annotations

import math
import numbers

import equinox as eqx
import jax
import jax.numpy as jnp

from .. import gspaces, nn
from ..internal import dense_layer, split_key
from ._checks import check_bool as _check_bool, check_int as _check_int, check_positive as _check_positive

_FIBERS = ("regular", "quotient", "trivial")


def _order(gspace) -> int:
    return gspace.fibergroup.order()


def _fiber(kind: str, gspace, planes: float, fixparams: bool) -> nn.FieldType:
    """The e2cnn experiments' feature types for a stage of ``planes`` channels of a
    conventional network: with `fixparams`, ``sqrt(|G|)`` times more channels, so that the
    number of parameters stays roughly that of the conventional network. At least one field."""
    N = _order(gspace)
    scale = math.sqrt(N) if fixparams else 1.0
    if kind == "regular":
        return nn.FieldType(gspace, max(1, int(planes / N * scale)) * [gspace.regular_repr])
    if kind == "trivial":
        return nn.FieldType(gspace, max(1, int(planes * scale)) * [gspace.trivial_repr])
    # quotient: by reflection subgroups with three axes (D_n), or by C2 and C4 (C_n); the
    # reflection group alone is C_2 (escnn's ids), whose reflection subgroup is itself (id 2)
    if gspace.flips_order:
        n = gspace.rotations_order
        subgroups = [2, 2, 2] if n == 1 else [(int(axis), 1) for axis in (0, round(n / 4), round(n / 2))]
    else:
        if N % 4:
            raise ValueError(
                f"quotient fibers of C_N use the subgroups C2 and C4: N (= {N} at this stage) must be a multiple of 4"
            )
        subgroups = [2, 4]
    reprs = [gspace.quotient_repr(s) for s in subgroups]
    copies = max(1, int(planes / sum(r.size for r in reprs) * scale))
    return nn.FieldType(gspace, reprs * copies).sorted()


def _conv(in_type, out_type, kernel_size: int, stride: int, sigma, F, key) -> nn.R2Conv:
    return nn.R2Conv(
        in_type,
        out_type,
        kernel_size,
        padding=kernel_size // 2,
        stride=stride,
        use_bias=False,
        sigma=sigma,
        frequencies_cutoff=None if F is None else F * math.pi,
        key=key,
    )


def _kernel_size(gspace) -> int:
    """e2cnn's choice: 3x3 filters for groups with at most 4 rotations (1, 2 or 4), 5x5 for
    finer rotation groups."""
    return 3 if gspace.fibergroup.rotation_order in (1, 2, 4) else 5


class WideBasic(nn.EquivariantModule):
    """The pre-activation residual block of the Wide ResNet:
    ``conv2(dropout(relu(bn2(conv1(relu(bn1(x))))))) + shortcut``, the shortcut being the
    input, or a 1x1 convolution of ``relu(bn1(x))`` when the type or the stride changes.

    **Arguments:** `in_type`, `inner_type` (after `conv1`), `out_type`; `dropout_rate`;
    `stride` (of `conv2` and the shortcut); `sigma`, `F` (the kernel basis' ring width and
    frequency cutoff ``F * pi * radius``); `key`.

    **Raises:** `TypeError` if a type is not a `FieldType`; `ValueError` if the types have
    different gspaces, or `stride`, `dropout_rate`, `sigma`, `F` are out of range.
    """

    bn1: nn.InnerBatchNorm
    conv1: nn.R2Conv
    bn2: nn.InnerBatchNorm
    dropout: nn.PointwiseDropout
    conv2: nn.R2Conv
    shortcut: nn.R2Conv | None
    in_type: nn.FieldType = eqx.field(static=True)
    out_type: nn.FieldType = eqx.field(static=True)

    def __init__(
        self,
        in_type,
        inner_type,
        out_type,
        dropout_rate: float = 0.0,
        stride: int = 1,
        sigma: float = 0.45,
        F: float | None = 1.0,
        *,
        key,
    ):
        for name, t in (("in_type", in_type), ("inner_type", inner_type), ("out_type", out_type)):
            if not isinstance(t, nn.FieldType):
                raise TypeError(f"`{name}` must be a FieldType, got {type(t).__name__}")
            if t.gspace != in_type.gspace:
                raise ValueError(f"`{name}` ({t}) must be of the gspace of `in_type` ({in_type.gspace})")
        stride = _check_int("stride", stride, 1)
        _check_block_numbers(dropout_rate, sigma, F)
        k1, k2, k3 = split_key(key, 3)
        ks = _kernel_size(in_type.gspace)
        self.in_type, self.out_type = in_type, out_type
        self.bn1 = nn.InnerBatchNorm(in_type, axis_name="batch")
        self.conv1 = _conv(in_type, inner_type, ks, 1, sigma, F, k1)
        self.bn2 = nn.InnerBatchNorm(inner_type, axis_name="batch")
        self.dropout = nn.PointwiseDropout(inner_type, p=dropout_rate)
        self.conv2 = _conv(inner_type, out_type, ks, stride, sigma, F, k2)
        self.shortcut = None
        if stride != 1 or in_type != out_type:
            self.shortcut = _conv(in_type, out_type, 1, stride, sigma, F, k3)

    def __call__(self, x: nn.GeometricTensor, state: eqx.nn.State, *, key=None, inference: bool | None = None):
        """**Returns:** ``(y, state)``."""
        h, state = self.bn1(x, state, inference=inference)
        x_n = nn.GeometricTensor(jax.nn.relu(h.tensor), h.type)
        h, state = self.bn2(self.conv1(x_n), state, inference=inference)
        h = nn.GeometricTensor(jax.nn.relu(h.tensor), h.type)
        h = self.conv2(self.dropout(h, key=key, inference=inference))
        skip = x if self.shortcut is None else self.shortcut(x_n)
        return nn.GeometricTensor(h.tensor + skip.tensor, self.out_type), state

    def export(self, state: eqx.nn.State):
        """A plain Equinox block (expanded filters, frozen batch norms) for ``(C, H, W)``
        inputs."""
        return _ExportedBlock(
            self.bn1.export(state),
            self.conv1.export(),
            self.bn2.export(state),
            self.conv2.export(),
            None if self.shortcut is None else self.shortcut.export(),
        )

    def _testing_input_size(self) -> int:
        return 9


class _ExportedBlock(eqx.Module):
    bn1: nn.ChannelAffine
    conv1: eqx.nn.Conv2d
    bn2: nn.ChannelAffine
    conv2: eqx.nn.Conv2d
    shortcut: eqx.nn.Conv2d | None

    def __call__(self, x, *, key=None):
        x_n = jax.nn.relu(self.bn1(x))
        h = self.conv2(jax.nn.relu(self.bn2(self.conv1(x_n))))
        return h + (x if self.shortcut is None else self.shortcut(x_n))


def _check_block_numbers(dropout_rate, sigma, F) -> None:
    if isinstance(dropout_rate, bool) or not isinstance(dropout_rate, numbers.Real) or not 0 <= dropout_rate < 1:
        raise ValueError(f"`dropout_rate` (={dropout_rate!r}) must be in [0, 1)")
    _check_positive("sigma", sigma)
    if F is not None:
        _check_positive("F", F)


class WideResNet(nn.EquivariantModule):
    """The E(2)-equivariant Wide ResNet of the e2cnn experiments (their ``Wide_ResNet``).

    A 5x5 steerable convolution to 16 (x sqrt|G|) channels; three stages of
    ``(depth - 4) / 6`` `WideBasic` blocks with ``16 k``, ``32 k``, ``64 k`` channels
    (k = `widen_factor`; the first block of stages 2 and 3 has stride 2); an optional
    restriction of the group after stages 1 and 2; a final batch norm and ReLU; global
    average pooling and a linear classifier. The last stage maps to invariant (trivial)
    fields (``conv2triv=True``) or keeps `main_fiber` fields and pools over the group
    (`GroupPooling`). With `fixparams`, every stage has ``sqrt(|G|)`` times the channels of
    the conventional network (roughly its parameter count), as in the paper.

    The logits are invariant under the group of the last stage: with ``r=1`` and N=8 that
    is D4 (C4 for ``f=False``): rotations by multiples of 90 degrees (and the flip), exact on
    the pixel grid.

    **Arguments:**

    - `key`: a PRNG key.
    - `depth`: ``6 n + 4`` (10, 16, 22, 28, ...).
    - `widen_factor`: k.
    - `dropout_rate`: of the `PointwiseDropout` inside each block (needs `key` when called
      in training mode if positive).
    - `num_classes`.
    - `N`: the number of rotations of the first group.
    - `r`: restriction level. ``r < 0``: keep D_N/C_N throughout; ``r = 0``: restrict to
      the reflection group (subgroup ``(0, 1)``) or C1 before the first layer; ``r >= 1``:
      restrict to D4/C4 after stage 1 (N must be a multiple of 4); ``r >= 2``: also to the
      reflection group or C1 after stage 2.
    - `f`: flips: D_N if True, C_N otherwise.
    - `main_fiber`, `inner_fiber`: ``"regular"``, ``"quotient"`` or ``"trivial"`` fields
      between blocks and inside blocks.
    - `F`, `sigma`: kernel basis' frequency cutoff (``F * pi * radius``; None for equijax's
      default) and ring width, as e2cnn's ``F=1, sigma=0.45``.
    - `deltaorth`: delta-orthogonal initialisation of the convolutions (else generalised He).
    - `fixparams`: scale the channels by ``sqrt(|G|)`` (see above).
    - `initial_stride`: stride of the first stage (2 for STL-10 in the paper).
    - `conv2triv`: the last stage maps to trivial fields (else group pooling at the end).

    **Raises:** `ValueError`/`TypeError` naming a bad argument.
    """

    conv1: nn.R2Conv
    layer1: nn.SequentialModule
    restrict1: nn.SequentialModule | None
    layer2: nn.SequentialModule
    restrict2: nn.SequentialModule | None
    layer3: nn.SequentialModule
    bn: nn.InnerBatchNorm
    gpool: nn.GroupPooling | None
    linear: eqx.nn.Linear
    in_type: nn.FieldType = eqx.field(static=True)

    def __init__(
        self,
        key,
        depth: int = 10,
        widen_factor: int = 1,
        dropout_rate: float = 0.0,
        num_classes: int = 10,
        N: int = 8,
        r: int = 1,
        f: bool = True,
        main_fiber: str = "regular",
        inner_fiber: str = "regular",
        F: float | None = 1.0,
        sigma: float = 0.45,
        deltaorth: bool = False,
        fixparams: bool = True,
        initial_stride: int = 1,
        conv2triv: bool = True,
    ):
        depth = _check_int("depth", depth, 10)
        if (depth - 4) % 6:
            raise ValueError(f"`depth` (={depth}) must be 6n + 4 (10, 16, 22, 28, ...)")
        n = (depth - 4) // 6
        k = _check_int("widen_factor", widen_factor, 1)
        num_classes = _check_int("num_classes", num_classes, 1)
        N = _check_int("N", N, 1)
        initial_stride = _check_int("initial_stride", initial_stride, 1)
        if isinstance(r, bool) or not isinstance(r, numbers.Integral):
            raise ValueError(f"`r` (={r!r}) must be an integer (restriction level)")
        f, deltaorth, fixparams, conv2triv = (
            _check_bool(name, v)
            for name, v in (("f", f), ("deltaorth", deltaorth), ("fixparams", fixparams), ("conv2triv", conv2triv))
        )
        for name, v in (("main_fiber", main_fiber), ("inner_fiber", inner_fiber)):
            if v not in _FIBERS:
                raise ValueError(f"`{name}` (={v!r}) must be one of {_FIBERS}")
        if r >= 1 and N % 4:
            raise ValueError(
                f"`r` (={r}) >= 1 restricts to 4 rotations after the first stage: `N` (={N}) must be a multiple of 4"
            )
        _check_block_numbers(dropout_rate, sigma, F)

        keys = iter(split_key(key, 3 * n + 3))
        stages = [16, 16 * k, 32 * k, 64 * k]
        gspace = gspaces.flipRot2dOnR2(N) if f else gspaces.rot2dOnR2(N)
        if r == 0:
            gspace, _, _ = gspace.restrict((0, 1) if f else 1)
        self.in_type = nn.FieldType(gspace, 3 * [gspace.trivial_repr])
        t = _fiber(main_fiber, gspace, stages[0], True)  # e2cnn: the stem always uses fixparams
        self.conv1 = _conv(self.in_type, t, 5, 1, sigma, F, next(keys))

        def stage(t, planes, stride, out_kind):
            gs = t.gspace
            main = _fiber(main_fiber, gs, planes, fixparams)
            inner = _fiber(inner_fiber, gs, planes, fixparams)
            last = _fiber(out_kind, gs, planes, fixparams)
            blocks = []
            for b in range(n):
                out = last if b == n - 1 else main
                blocks.append(WideBasic(t, inner, out, dropout_rate, stride if b == 0 else 1, sigma, F, key=next(keys)))
                t = out
            return nn.SequentialModule(*blocks), t

        def restriction(t, sid):
            res = nn.RestrictionModule(t, sid)
            dis = nn.DisentangleModule(res.out_type)
            return nn.SequentialModule(res, dis), dis.out_type

        self.layer1, t = stage(t, stages[1], initial_stride, main_fiber)
        self.restrict1 = None
        if r >= 1:
            self.restrict1, t = restriction(t, (0, 4) if f else 4)
        self.layer2, t = stage(t, stages[2], 2, main_fiber)
        self.restrict2 = None
        if r >= 2:
            self.restrict2, t = restriction(t, (0, 1) if f else 1)
        self.layer3, t = stage(t, stages[3], 2, "trivial" if conv2triv else main_fiber)
        self.bn = nn.InnerBatchNorm(t, momentum=0.9, axis_name="batch")  # e2cnn's momentum for this one
        self.gpool = None if conv2triv else nn.GroupPooling(t)
        features = t.size if conv2triv else self.gpool.out_type.size
        linear = dense_layer(features, num_classes, key=next(keys))
        self.linear = eqx.tree_at(lambda m: m.bias, linear, jnp.zeros_like(linear.bias))
        if deltaorth:
            count = iter(split_key(next(keys), 1 + 4 * (3 * n + 1)))  # enough for every conv

            def reinit(m):
                if isinstance(m, nn.R2Conv):
                    return nn.init.deltaorthonormal_init(m, next(count))
                return m

            parts = (self.conv1, self.layer1, self.layer2, self.layer3)
            parts = jax.tree.map(reinit, parts, is_leaf=lambda m: isinstance(m, nn.R2Conv))
            self.conv1, self.layer1, self.layer2, self.layer3 = parts

    @property
    def out_group(self):
        """The group under which the logits are invariant (the last stage's)."""
        return self.layer3.out_type.fibergroup

    def __call__(self, x, state: eqx.nn.State, *, key=None, inference: bool | None = None):
        """**Arguments:** `x`, images ``(*batch, 3, H, W)`` (an array or a `GeometricTensor` of
        `in_type`); `state`; `key` (needed in training mode if `dropout_rate` > 0);
        `inference` overrides the mode.

        **Returns:** ``(logits, state)``, logits of shape ``(*batch, num_classes)``.

        **Raises:** `ValueError` if `x` does not have 3 channels.
        """
        if not isinstance(x, nn.GeometricTensor):
            shape = getattr(x, "shape", None)
            if shape is None or len(shape) < 3 or shape[-3] != self.in_type.size:
                raise ValueError(f"WideResNet expects images of shape (*batch, 3, H, W); got `x` with shape {shape}")
            x = nn.GeometricTensor(x, self.in_type)
        k1, k2, k3 = (None, None, None) if key is None else jax.random.split(key, 3)
        h = self.conv1(x)
        h, state = self.layer1(h, state, key=k1, inference=inference)
        if self.restrict1 is not None:
            h = self.restrict1(h)
        h, state = self.layer2(h, state, key=k2, inference=inference)
        if self.restrict2 is not None:
            h = self.restrict2(h)
        h, state = self.layer3(h, state, key=k3, inference=inference)
        h, state = self.bn(h, state, inference=inference)
        if self.gpool is not None:
            h = self.gpool(h)
        pooled = jnp.mean(jax.nn.relu(h.tensor), axis=(-2, -1))
        logits = pooled @ self.linear.weight.T.astype(pooled.dtype)
        return logits + self.linear.bias.astype(pooled.dtype).reshape((1,) * (logits.ndim - 1) + (-1,)), state

    def export(self, state: eqx.nn.State):
        """A plain Equinox model (expanded filters, frozen batch norms) computing the
        inference-mode logits of one image ``(3, H, W)`` (`jax.vmap` it for batches)."""
        layers = [self.conv1.export()]
        for stage, res in ((self.layer1, self.restrict1), (self.layer2, self.restrict2), (self.layer3, None)):
            layers += [block.export(state) for block in stage]
            if res is not None:
                layers.append(res.export())
        gpool = None if self.gpool is None else self.gpool.export()
        return _ExportedWRN(eqx.nn.Sequential(layers), self.bn.export(state), gpool, self.linear)


class _ExportedWRN(eqx.Module):
    features: eqx.nn.Sequential
    bn: nn.ChannelAffine
    gpool: object
    linear: eqx.nn.Linear

    def __call__(self, x, *, key=None):
        h = self.bn(self.features(x))
        if self.gpool is not None:
            h = self.gpool(h)
        return self.linear(jnp.mean(jax.nn.relu(h), axis=(-2, -1)))


def e2wrn28_10(key, **kwargs) -> WideResNet:
    """The paper's CIFAR model: WRN-28-10, D8 with flips, dropout 0.3."""
    return WideResNet(key, 28, 10, 0.3, **{"f": True, **kwargs})


def e2wrn28_7(key, **kwargs) -> WideResNet:
    """WRN-28-7, D8 with flips, dropout 0.3."""
    return WideResNet(key, 28, 7, 0.3, **{"f": True, **kwargs})


def e2wrn28_10R(key, **kwargs) -> WideResNet:
    """WRN-28-10 with rotations only (C8), dropout 0.3."""
    return WideResNet(key, 28, 10, 0.3, **{"f": False, **kwargs})


def e2wrn16_8_stl(key, **kwargs) -> WideResNet:
    """The paper's STL-10 model: WRN-16-8, D8, dropout 0.3, initial stride 2."""
    return WideResNet(key, 16, 8, 0.3, **{"f": True, "initial_stride": 2, **kwargs})
