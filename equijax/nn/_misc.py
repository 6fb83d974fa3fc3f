"""Small helpers shared by the modules of `equijax.nn`: argument checks, calling a member
module with the key, state and inference flag it takes, exporting a member, and channel
index maps. One copy each; the modules import them from here."""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ._field_type import FieldType, describe_gspace
from ._module import init_parameters, stateful_call_error

# -- argument checks ----------------------------------------------------------------------


def check_field_type(value, name: str = "in_type") -> FieldType:
    """`value`, if it is a `FieldType`.

    **Raises:** `TypeError` naming the argument `name` otherwise.
    """
    if not isinstance(value, FieldType):
        raise TypeError(f"`{name}` (={value!r}) must be a FieldType")
    return value


def check_bool(value, name: str, *, numpy: bool = False) -> bool:
    """`value`, if it is a bool (or, with `numpy`, a ``numpy.bool_``).

    **Raises:** `TypeError` naming the argument `name` otherwise.
    """
    if not isinstance(value, (bool, np.bool_) if numpy else bool):
        raise TypeError(f"`{name}` (={value!r}) must be a bool")
    return value


def check_same_gspace(in_type: FieldType, out_type: FieldType) -> None:
    """**Raises:** `ValueError` if `in_type` and `out_type` live on different gspaces."""
    if in_type.gspace != out_type.gspace:
        raise ValueError(
            f"`in_type` and `out_type` live on different gspaces: {describe_gspace(in_type.gspace)} and "
            f"{describe_gspace(out_type.gspace)}"
        )


# -- field types and parameters -------------------------------------------------------------


def trivial_type(in_type: FieldType) -> FieldType:
    """One trivial (invariant) field per field of `in_type`, on the same gspace."""
    return FieldType(in_type.gspace, [in_type.gspace.trivial_repr] * len(in_type))


def init_plan_parameters(plan, initialize: bool, use_bias: bool, dtype, key, groups: int = 1):
    """The initial ``(weights, bias)`` of a layer expanded by `plan`, repeated for `groups`
    identical groups: generalised He init (the plan's `he_std`) if `initialize`, zeros
    otherwise; a zero bias on the trivial components if `use_bias` and the plan has any,
    else None."""
    std = np.tile(plan.he_std, groups) if initialize else np.zeros(plan.num_weights * groups)
    n_bias = plan.bias_matrix.shape[1] * groups if use_bias and plan.bias_matrix is not None else None
    return init_parameters(key, std, n_bias, dtype)


def max_over_field_groups(t: jnp.ndarray, ax: int, groups) -> jnp.ndarray:
    """The maximum over blocks of channels, with fields reduced together by group.

    **Arguments:**

    - `t`: the array, channels (or blocks) on axis `ax`.
    - `ax`: the (non-negative) channel axis.
    - `groups`: ``(fields, index, n)`` triples: the fields (indices) of one group, the
      entries of `t` along `ax` they own (``len(fields) * n`` of them, field by field; None
      for all of them, in order) and `n`, the number each field's maximum is taken over.

    **Returns:** one entry per field along `ax`, in field order.
    """
    outs, order = [], []
    for fields, index, n in groups:
        g = t if index is None else jnp.take(t, jnp.asarray(index), axis=ax)
        g = g.reshape(t.shape[:ax] + (len(fields), n) + t.shape[ax + 1 :])
        outs.append(jnp.max(g, axis=ax + 1))
        order += fields
    y = jnp.concatenate(outs, axis=ax) if len(outs) > 1 else outs[0]
    if order != sorted(order):
        y = jnp.take(y, jnp.asarray(np.argsort(order)), axis=ax)
    return y


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
