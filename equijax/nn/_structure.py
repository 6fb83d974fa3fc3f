"""Structural modules: `SequentialModule`, `MaskModule`, `IdentityModule`."""

from __future__ import annotations

import numbers
from collections import OrderedDict
from collections.abc import Mapping

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from ._field_type import FieldType, explain_mismatch
from ._geometric_tensor import GeometricTensor
from ._misc import MISSING as _MISSING, call_member, check_field_type, export_member, split_keys
from ._module import EquivariantModule, FieldTypeMismatchError, array_function, check_input


def _check_name(name) -> None:
    if not isinstance(name, str):
        raise TypeError(f"a member name of SequentialModule must be a string, got {name!r}")
    if not name or "." in name:
        raise ValueError(f"member name {name!r} of SequentialModule must be a non-empty string without '.'")
    if hasattr(SequentialModule, name) or name in ("layers", "names", "in_type", "out_type") + _FORBIDDEN_NAMES:
        raise ValueError(
            f"member name {name!r} of SequentialModule is already an attribute of SequentialModule; choose another name"
        )


_FORBIDDEN_NAMES = ("add_module", "append", "insert", "extend", "pop")


class SequentialModule(EquivariantModule):
    """Modules applied one after the other, threading `state` through the stateful ones
    (escnn's ``SequentialModule``).

    Build it from modules, ``SequentialModule(conv, bn, relu)``, or, as in escnn and
    `torch.nn.Sequential`, from an ordered mapping of names to modules,
    ``SequentialModule(OrderedDict([("conv", conv), ("bn", bn)]))``: members are then
    reachable by name (``seq.conv``, ``seq["conv"]``) as well as by position (``seq[0]``;
    unnamed members are called ``"0"``, ``"1"``, ...). Iterable; a slice gives a
    `SequentialModule` keeping the names. Being an Equinox module it is immutable: replace a
    member with ``eqx.tree_at(lambda m: m.conv, seq, new_conv)``.

    The output type of each module must equal the input type of the next (checked at
    construction). Call it as ``y, state = seq(x, state)``; a sequence with no stateful
    member may also be called as ``y = seq(x)``.

    **Arguments:** `*modules`, the `EquivariantModule`s in order, or one mapping
    ``{name: module}`` (a dict or `OrderedDict`; names are non-empty strings without
    ``'.'``, and not attribute names of `SequentialModule`).

    **Raises:** `TypeError` for a member that is not an `EquivariantModule` or a name that
    is not a string; `ValueError` naming both types if neighbouring types differ, or for a
    bad name.
    """

    layers: tuple
    names: tuple[str, ...] = eqx.field(static=True)
    in_type: FieldType = eqx.field(static=True)
    out_type: FieldType = eqx.field(static=True)

    def __init__(self, *modules: EquivariantModule):
        if len(modules) == 1 and isinstance(modules[0], Mapping):
            names = tuple(modules[0].keys())
            modules = tuple(modules[0].values())
            for n in names:
                _check_name(n)
        else:
            names = tuple(str(i) for i in range(len(modules)))
        if not modules:
            raise ValueError("SequentialModule needs at least one module")
        for i, m in enumerate(modules):
            if not isinstance(m, EquivariantModule) or not isinstance(getattr(m, "in_type", None), FieldType):
                raise TypeError(
                    f"module {names[i]!r} ({type(m).__name__}) is not an EquivariantModule with in_type/out_type"
                )
        for i, (a, b) in enumerate(zip(modules[:-1], modules[1:])):
            if a.out_type != b.in_type:
                raise FieldTypeMismatchError(
                    f"module {names[i]!r} ({type(a).__name__}) outputs {a.out_type!r} but module {names[i + 1]!r} "
                    f"({type(b).__name__}) expects {b.in_type!r}{explain_mismatch(a.out_type, b.in_type)}"
                )
        self.layers = tuple(modules)
        self.names = names
        self.in_type = modules[0].in_type
        self.out_type = modules[-1].out_type

    def __getattr__(self, name: str):
        # only called when ordinary lookup fails: members by name (escnn / torch style)
        d = object.__getattribute__(self, "__dict__")
        names, layers = d.get("names"), d.get("layers")
        if names is not None and layers is not None and name in names:
            return layers[names.index(name)]
        if name in _FORBIDDEN_NAMES:
            raise AttributeError(
                f"SequentialModule is immutable (an Equinox module) and has no `{name}`: build it with all its "
                "members, e.g. `nn.SequentialModule(*seq, module)` or `nn.SequentialModule(OrderedDict(...))`"
            )
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __call__(self, x: GeometricTensor, state=_MISSING, *, key=None, inference: bool | None = None):
        """**Returns:** ``(y, state)`` if `state` is given, else ``y``."""
        check_input(self, x)
        for layer, k in zip(self.layers, split_keys(key, len(self.layers))):
            x, state = call_member(layer, (x,), state, k, inference, "SequentialModule")
        return x if state is _MISSING else (x, state)

    def __getitem__(self, i):
        """A member by position (an int) or name (a str); a slice gives a `SequentialModule`."""
        if isinstance(i, slice):
            return SequentialModule(OrderedDict(zip(self.names[i], self.layers[i])))
        if isinstance(i, str):
            if i not in self.names:
                raise KeyError(f"no member named {i!r}; the members are {list(self.names)}")
            return self.layers[self.names.index(i)]
        return self.layers[i]

    def named_children(self):
        """``(name, module)`` pairs in order (as `torch.nn.Module.named_children`)."""
        return iter(zip(self.names, self.layers))

    def __iter__(self):
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def export(self, state: eqx.nn.State | None = None) -> eqx.nn.Sequential:
        """An `eqx.nn.Sequential` of the exported members, for unbatched ``(C, H, W)``
        inputs (``jax.vmap`` it for batches). Stateful members (batch norms) need `state`."""
        out = []
        for layer in self.layers:
            e = export_member(layer, state)
            out.append(e if isinstance(e, eqx.Module) else eqx.nn.Lambda(e))
        return eqx.nn.Sequential(out)


class IdentityModule(EquivariantModule):
    """Returns its input unchanged."""

    in_type: FieldType = eqx.field(static=True)
    out_type: FieldType = eqx.field(static=True)

    def __init__(self, in_type: FieldType):
        self.in_type = self.out_type = check_field_type(in_type)

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
        check_field_type(in_type)
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
