"""Structural modules: `SequentialModule`, `MaskModule`, `IdentityModule`."""

from __future__ import annotations

import inspect
import numbers

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._field_type import FieldType
from ._geometric_tensor import GeometricTensor
from ._module import EquivariantModule, array_function, check_input


def _state_is_optional(module) -> bool:
    """Whether `module` may be called without state (containers whose members keep none)."""
    p = inspect.signature(module).parameters.get("state")
    return p is not None and p.default is not inspect.Parameter.empty


def _takes(module, name: str) -> bool:
    return name in inspect.signature(module).parameters


class _Missing:
    def __repr__(self):
        return "<no state>"


_MISSING = _Missing()


class SequentialModule(EquivariantModule):
    """Modules applied one after the other, threading `state` through the stateful ones.

    The output type of each module must equal the input type of the next (checked at
    construction). Call it as ``y, state = seq(x, state)``; a sequence with no stateful
    member may also be called as ``y = seq(x)``. Iterable and indexable (a slice gives a
    `SequentialModule`).

    **Raises:** `ValueError` naming both types if neighbouring types differ.
    """

    layers: tuple
    in_type: FieldType = eqx.field(static=True)
    out_type: FieldType = eqx.field(static=True)

    def __init__(self, *modules: EquivariantModule):
        if not modules:
            raise ValueError("SequentialModule needs at least one module")
        for i, m in enumerate(modules):
            if not isinstance(m, EquivariantModule) or not isinstance(getattr(m, "in_type", None), FieldType):
                raise TypeError(f"module {i} ({type(m).__name__}) is not an EquivariantModule with in_type/out_type")
        for i, (a, b) in enumerate(zip(modules[:-1], modules[1:])):
            if a.out_type != b.in_type:
                raise ValueError(
                    f"module {i} ({type(a).__name__}) outputs {a.out_type!r} but module {i + 1} "
                    f"({type(b).__name__}) expects {b.in_type!r}"
                )
        self.layers = tuple(modules)
        self.in_type = modules[0].in_type
        self.out_type = modules[-1].out_type

    def __call__(self, x: GeometricTensor, state=_MISSING, *, key=None, inference: bool | None = None):
        """**Returns:** ``(y, state)`` if `state` is given, else ``y``."""
        check_input(self, x)
        keys = [None] * len(self.layers) if key is None else list(jax.random.split(key, len(self.layers)))
        for layer, k in zip(self.layers, keys):
            kwargs = {}
            if k is not None and _takes(layer, "key"):
                kwargs["key"] = k
            if inference is not None and _takes(layer, "inference"):
                kwargs["inference"] = inference
            if _takes(layer, "state"):
                if state is _MISSING:
                    if _state_is_optional(layer):  # a container without stateful members
                        x = layer(x, **kwargs)
                        continue
                    raise ValueError(f"{type(layer).__name__} keeps state: call the SequentialModule as seq(x, state)")
                x, state = layer(x, state, **kwargs)
            else:
                x = layer(x, **kwargs)
        return x if state is _MISSING else (x, state)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return SequentialModule(*self.layers[i])
        return self.layers[i]

    def __iter__(self):
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def export(self, state: eqx.nn.State | None = None) -> eqx.nn.Sequential:
        """An `eqx.nn.Sequential` of the exported members, for unbatched ``(C, H, W)``
        inputs (``jax.vmap`` it for batches). Stateful members (batch norms) need `state`."""
        out = []
        for layer in self.layers:
            if _takes(layer.export, "state"):
                e = layer.export(state)
            else:
                e = layer.export()
            out.append(e if isinstance(e, eqx.Module) else eqx.nn.Lambda(e))
        return eqx.nn.Sequential(out)


class IdentityModule(EquivariantModule):
    """Returns its input unchanged."""

    in_type: FieldType = eqx.field(static=True)
    out_type: FieldType = eqx.field(static=True)

    def __init__(self, in_type: FieldType):
        if not isinstance(in_type, FieldType):
            raise TypeError(f"`in_type` (={in_type!r}) must be a FieldType")
        self.in_type = self.out_type = in_type

    def __call__(self, x: GeometricTensor, *, key=None) -> GeometricTensor:
        del key
        return check_input(self, x)

    def export(self):
        return eqx.nn.Identity()


def disk_mask(S: int, margin: float = 0.0, sigma: float = 2.0) -> np.ndarray:
    """escnn's mask: 1 inside the disk of radius ``c * (1 - margin/100)`` (c the grid's
    half-width), decaying as ``exp((t - r^2) / sigma^2)`` outside (t the squared radius)."""
    c = (S - 1) / 2
    t = (c - margin / 100.0 * c) ** 2
    i, j = np.meshgrid(np.arange(S), np.arange(S), indexing="ij")
    r2 = (i - c) ** 2 + (j - c) ** 2
    return np.where(r2 > t, np.exp((t - r2) / sigma**2), 1.0)


class MaskModule(EquivariantModule):
    """Multiplies the input by a fixed disk mask of size ``S x S`` (removing the corners,
    which rotations move off the grid). The mask is a constant, not a parameter.

    **Arguments:** `in_type`; `S`, the input's spatial size; `margin`, in percent of the
    radius; `sigma`, the decay width outside the disk.
    """

    in_type: FieldType = eqx.field(static=True)
    out_type: FieldType = eqx.field(static=True)
    S: int = eqx.field(static=True)
    margin: float = eqx.field(static=True)
    sigma: float = eqx.field(static=True)

    def __init__(self, in_type: FieldType, S: int, margin: float = 0.0, sigma: float = 2.0):
        if not isinstance(in_type, FieldType):
            raise TypeError(f"`in_type` (={in_type!r}) must be a FieldType")
        if in_type.gspace.dimensionality != 2:
            raise ValueError(f"`in_type` lives on {in_type.gspace.name}; MaskModule needs fields on the plane")
        if not isinstance(S, numbers.Integral) or isinstance(S, bool) or S < 1:
            raise ValueError(f"`S` (={S!r}) must be a positive integer")
        if not (isinstance(margin, numbers.Real) and 0 <= margin < 100):
            raise ValueError(f"`margin` (={margin!r}) must be a percentage in [0, 100)")
        if not (isinstance(sigma, numbers.Real) and sigma > 0):
            raise ValueError(f"`sigma` (={sigma!r}) must be a positive number")
        self.in_type = self.out_type = in_type
        self.S, self.margin, self.sigma = int(S), float(margin), float(sigma)

    def __call__(self, x: GeometricTensor, *, key=None) -> GeometricTensor:
        del key
        check_input(self, x)
        if x.shape[-2:] != (self.S, self.S):
            raise ValueError(f"MaskModule was built for {self.S}x{self.S} inputs, but `x` has shape {x.shape}")
        mask = jnp.asarray(disk_mask(self.S, self.margin, self.sigma), x.dtype)
        return GeometricTensor(x.tensor * mask.reshape((1,) * (x.ndim - 2) + mask.shape), self.out_type)

    def export(self):
        return array_function(self)

    def _testing_input_size(self) -> int:
        return self.S
