"""The seeds' reference models: the tutorial's C8 steerable CNN, the C4 group CNN of the
G-CNN course exercise, and a plain CNN baseline of comparable size.

Every model is called ``logits, state = model(x, state)`` with `x` of shape
``(batch, 1, H, W)`` (escnn style) or ``(1, H, W)`` under
``jax.vmap(model, axis_name="batch", in_axes=(0, None), out_axes=(0, None))``
(Equinox style); both give the same logits and state. Build them with
``model, state = eqx.nn.make_with_state(C8SteerableCNN)(key)``.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from .. import gspaces, nn
from ..group import Group
from ..internal import dense_layer, split_key
from ._checks import check_bool, check_int, check_positive


def _dense(layer: eqx.nn.Linear, x: jnp.ndarray) -> jnp.ndarray:
    """An `eqx.nn.Linear` applied over any leading axes."""
    y = x @ layer.weight.T
    if layer.bias is not None:
        y = y + layer.bias.reshape((1,) * (y.ndim - 1) + layer.bias.shape)
    return y


def _check_input(x, in_type: nn.FieldType, size: int, name: str) -> None:
    shape = getattr(x, "shape", None)
    if shape is None or len(shape) not in (3, 4) or tuple(shape[-3:]) != (in_type.size, size, size):
        raise ValueError(
            f"{name} expects images of shape (batch, {in_type.size}, {size}, {size}) or "
            f"({in_type.size}, {size}, {size}); got `x` with shape {shape}"
        )


def _invariant_batchnorm(group: Group, n: int) -> nn.IIDBatchNorm1d:
    g0 = gspaces.no_base_space(group)
    return nn.IIDBatchNorm1d(nn.FieldType(g0, n * [g0.trivial_repr]), axis_name="batch")


class C8SteerableCNN(nn.EquivariantModule):
    """The tutorial's C8-steerable CNN for 29 x 29 digits.

    A disk mask; six steerable convolutions to 24, 48, 48, 96, 96, 64 regular C8 fields
    (kernels 7, 5, 5, 5, 5, 5), each followed by `InnerBatchNorm` and `ReLU`; antialiased
    average pooling after the 2nd, 4th and 6th; group pooling to 64 invariant features; then
    Linear(64) -> batch norm -> ELU -> Linear(n_classes).

    **Arguments:** `key`; `n_classes`; `N` (the rotation order, 8 for C8); `width`
    (multiplies every number of fields); `reflections` (D_N instead of C_N).

    **Raises:** `ValueError` if `n_classes` or `N` is not a positive integer or `width` not a
    positive number; `TypeError` if `reflections` is not a bool.
    """

    blocks: nn.SequentialModule
    gpool: nn.GroupPooling
    fc1: eqx.nn.Linear
    bn: nn.IIDBatchNorm1d
    fc2: eqx.nn.Linear
    input_type: nn.FieldType = eqx.field(static=True)

    def __init__(self, key, n_classes: int = 10, N: int = 8, width: float = 1.0, reflections: bool = False):
        n_classes, N = check_int("n_classes", n_classes, 1), check_int("N", N, 1)
        width, reflections = check_positive("width", width), check_bool("reflections", reflections)
        keys = split_key(key, 8)
        r2_act = gspaces.flipRot2dOnR2(N=N) if reflections else gspaces.rot2dOnR2(N=N)
        in_type = nn.FieldType(r2_act, [r2_act.trivial_repr])
        self.input_type = in_type

        def fields(n):
            return nn.FieldType(r2_act, max(1, round(n * width)) * [r2_act.regular_repr])

        layers: list = [nn.MaskModule(in_type, 29, margin=1)]
        spec = [(24, 7, 1), (48, 5, 2), "pool", (48, 5, 2), (96, 5, 2), "pool", (96, 5, 2), (64, 5, 1), "last"]
        t, k = in_type, 0
        for item in spec:
            if item == "pool":
                layers.append(nn.PointwiseAvgPoolAntialiased(t, sigma=0.66, stride=2))
            elif item == "last":
                layers.append(nn.PointwiseAvgPoolAntialiased(t, sigma=0.66, stride=1, padding=0))
            else:
                n, size, pad = item
                out = fields(n)
                layers += [
                    nn.R2Conv(t, out, kernel_size=size, padding=pad, use_bias=False, key=keys[k]),
                    nn.InnerBatchNorm(out, axis_name="batch"),
                    nn.ReLU(out),
                ]
                t, k = out, k + 1
        self.blocks = nn.SequentialModule(*layers)
        self.gpool = nn.GroupPooling(t)
        c = self.gpool.out_type.size
        self.fc1 = dense_layer(c, 64, key=keys[6])
        self.bn = _invariant_batchnorm(r2_act.fibergroup, 64)
        self.fc2 = dense_layer(64, n_classes, key=keys[7])

    def __call__(self, x, state: eqx.nn.State, *, key=None, inference: bool | None = None):
        """**Arguments:** `x` ``(batch, 1, 29, 29)`` or ``(1, 29, 29)``; `state`.

        **Returns:** ``(logits, state)``.
        """
        del key
        _check_input(x, self.input_type, 29, "C8SteerableCNN")
        h, state = self.blocks(nn.GeometricTensor(x, self.input_type), state, inference=inference)
        h = self.gpool(h).tensor
        h = h.reshape(h.shape[:-3] + (-1,))
        h = _dense(self.fc1, h)
        g, state = self.bn(nn.GeometricTensor(h, self.bn.in_type), state, inference=inference)
        return _dense(self.fc2, jax.nn.elu(g.tensor)), state

    def export(self, state: eqx.nn.State):
        """A plain Equinox model (convolutions with expanded filters, frozen batch norms)
        computing the inference-mode logits of one image ``(1, 29, 29)``."""
        return _Exported(self.blocks.export(state), self.gpool.export(), self.fc1, self.bn.export(state), self.fc2)


class _Exported(eqx.Module):
    features: eqx.nn.Sequential
    gpool: object
    fc1: eqx.nn.Linear
    bn: nn.ChannelAffine
    fc2: eqx.nn.Linear

    def __call__(self, x, *, key=None):
        h = self.gpool(self.features(x)).reshape(-1)
        return self.fc2(jax.nn.elu(self.bn(self.fc1(h))))


class _GroupCNN(nn.EquivariantModule):
    """Five conv blocks (conv 3x3 + [batch norm] + ReLU + max pool 3x3/2) on regular fields,
    global pooling over space and group, a linear head."""

    blocks: nn.SequentialModule
    gpool: nn.GroupPooling
    head: eqx.nn.Linear
    input_type: nn.FieldType = eqx.field(static=True)

    def _build(self, r2_act, channels, batch_norm: bool, n_classes: int, key):
        keys = split_key(key, len(channels) + 1)
        self.input_type = t = nn.FieldType(r2_act, [r2_act.trivial_repr])
        layers = []
        for c, k in zip(channels, keys):
            out = nn.FieldType(r2_act, c * [r2_act.regular_repr])
            layers.append(nn.R2Conv(t, out, kernel_size=3, padding=1, use_bias=True, key=k))
            if batch_norm:
                layers.append(nn.InnerBatchNorm(out, axis_name="batch"))
            layers += [nn.ReLU(out), nn.PointwiseMaxPool2D(out, kernel_size=3, stride=2, padding=1)]
            t = out
        self.blocks = nn.SequentialModule(*layers)
        self.gpool = nn.GroupPooling(t)
        self.head = dense_layer(len(t), n_classes, key=keys[-1])

    def __call__(self, x, state: eqx.nn.State, *, key=None, inference: bool | None = None):
        """**Arguments:** `x` ``(batch, 1, 33, 33)`` or ``(1, 33, 33)``; `state`.

        **Returns:** ``(logits, state)``.
        """
        del key
        _check_input(x, self.input_type, 33, type(self).__name__)
        h, state = self.blocks(nn.GeometricTensor(x, self.input_type), state, inference=inference)
        h = self.gpool(h).tensor  # (..., fields, 2, 2)
        h = jnp.max(h, axis=(-2, -1))
        return _dense(self.head, h), state

    def export(self, state: eqx.nn.State):
        """A plain Equinox model computing the inference-mode logits of one image."""
        return _ExportedGroupCNN(self.blocks.export(state), self.gpool.export(), self.head)


class _ExportedGroupCNN(eqx.Module):
    features: eqx.nn.Sequential
    gpool: object
    head: eqx.nn.Linear

    def __call__(self, x, *, key=None):
        return self.head(jnp.max(self.gpool(self.features(x)), axis=(-2, -1)))


class C4CNN(_GroupCNN):
    """The G-CNN exercise's C4 group CNN for 33 x 33 digits: a lifting convolution to 8
    regular C4 fields, then 16, 32, 64, 128 fields; 3x3 kernels with bias, ReLU, and 3x3
    stride-2 max pooling after each; max over space and group; a linear head.
    `batch_norm=True` adds `InnerBatchNorm` after every convolution; `width` multiplies the
    numbers of fields; `N` changes the rotation order; `reflections` uses D_N.

    **Raises:** `ValueError` if `n_classes` or `N` is not a positive integer or `width` not a
    positive number; `TypeError` if `batch_norm` or `reflections` is not a bool.
    """

    def __init__(
        self,
        key,
        n_classes: int = 10,
        batch_norm: bool = False,
        width: float = 1.0,
        N: int = 4,
        reflections: bool = False,
    ):
        n_classes, N = check_int("n_classes", n_classes, 1), check_int("N", N, 1)
        width, reflections = check_positive("width", width), check_bool("reflections", reflections)
        batch_norm = check_bool("batch_norm", batch_norm)
        channels = [max(1, round(c * width)) for c in (8, 16, 32, 64, 128)]
        gspace = gspaces.flipRot2dOnR2(N=N) if reflections else gspaces.rot2dOnR2(N=N)
        self._build(gspace, channels, batch_norm, n_classes, key)


class CNN(_GroupCNN):
    """The conventional CNN baseline with C4CNN's layout and about as many parameters:
    16, 32, 64, 128, 256 channels (twice the C4 fields: a regular C4 field has 4 channels
    and its filters 4x fewer free parameters).

    **Raises:** `ValueError` if `n_classes` is not a positive integer or `width` not a
    positive number; `TypeError` if `batch_norm` is not a bool.
    """

    def __init__(self, key, n_classes: int = 10, batch_norm: bool = False, width: float = 1.0):
        n_classes, width = check_int("n_classes", n_classes, 1), check_positive("width", width)
        batch_norm = check_bool("batch_norm", batch_norm)
        channels = [max(1, round(c * width)) for c in (16, 32, 64, 128, 256)]
        self._build(gspaces.trivialOnR2(), channels, batch_norm, n_classes, key)
