"""Small helpers shared by the modules of `equijax.nn`: argument checks, calling a member
module with the key, state and inference flag it takes, exporting a member, and channel
index maps. One copy each; the modules import them from here."""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ._field_type import FieldType
from ._module import stateful_call_error

# -- argument checks ----------------------------------------------------------------------


def check_field_type(value, name: str = "in_type") -> FieldType:
    """`value`, if it is a `FieldType`.

    **Raises:** `TypeError` naming the argument `name` otherwise.
    """
    if not isinstance(value, FieldType):
        raise TypeError(f"`{name}` (={value!r}) must be a FieldType")
    return value


# -- calling members of a container ---------------------------------------------------------


class _Missing:
    def __repr__(self):
        return "<no state>"


MISSING = _Missing()
"""The default of a container's `state` argument: the container was called without state."""


def takes(fn, name: str) -> bool:
    """Whether the callable `fn` has a parameter called `name`."""
    return name in inspect.signature(fn).parameters


def state_is_optional(module) -> bool:
    """Whether `module` may be called without state (containers whose members keep none)."""
    p = inspect.signature(module).parameters.get("state")
    return p is not None and p.default is not inspect.Parameter.empty


def split_keys(key, n: int) -> list:
    """`n` keys split from `key`, or `n` times None when `key` is None."""
    return [None] * n if key is None else list(jax.random.split(key, n))


def call_member(module, args, state, key, inference, container: str):
    """Call ``module(*args)``, passing `key`, `inference` and `state` where it takes them.

    A member that takes `state` gets it; when the container was called without state
    (`state` is `MISSING`), a member whose state is optional is called without it.

    **Arguments:**

    - `module`: the member.
    - `args`: its positional inputs.
    - `state`: the container's `eqx.nn.State`, or `MISSING`.
    - `key`: the member's key, or None.
    - `inference`: the container's inference flag, or None.
    - `container`: how the error message names the container.

    **Returns:** ``(output, state)``, `state` updated by a stateful member.

    **Raises:** `ValueError` if the member keeps state and `state` is `MISSING`.
    """
    kwargs = {}
    if key is not None and takes(module, "key"):
        kwargs["key"] = key
    if inference is not None and takes(module, "inference"):
        kwargs["inference"] = inference
    if takes(module, "state"):
        if state is MISSING:
            if state_is_optional(module):
                return module(*args, **kwargs), state
            raise stateful_call_error(module, container)
        return module(*args, state, **kwargs)
    return module(*args, **kwargs), state


def export_member(module, state):
    """``module.export(state)`` if its `export` takes the state, else ``module.export()``."""
    return module.export(state) if takes(module.export, "state") else module.export()


# -- channel index maps -------------------------------------------------------------------


def channel_index(ftype: FieldType, fields: Sequence[int]) -> np.ndarray:
    """The channels of `fields` (field indices of `ftype`), in that order."""
    if not len(fields):
        return np.zeros(0, dtype=np.int64)
    return np.concatenate([np.arange(ftype.fields_start[i], ftype.fields_end[i]) for i in fields]).astype(np.int64)


def take_channels(t: jnp.ndarray, index: tuple[int, ...], channel_axis: int) -> jnp.ndarray:
    """Gather the channels `index` (a static tuple) along `channel_axis`; a slice when the
    channels are contiguous."""
    n = len(index)
    ax = t.ndim + channel_axis
    if n and index == tuple(range(index[0], index[0] + n)):
        if index[0] == 0 and n == t.shape[ax]:
            return t
        return jax.lax.slice_in_dim(t, index[0], index[0] + n, axis=ax)
    return jnp.take(t, np.asarray(index, dtype=np.int32), axis=ax)
