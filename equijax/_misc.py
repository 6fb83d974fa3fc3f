"""Small generic helpers shared by equijax's packages (not public API).

Validators of plain Python values, the dtype of parameters, PRNG keys turned into numpy
generators and derived keys (nothing compiles), and Equinox layers built without
compiling. `equijax.nn` re-exports the layer helpers from its `_module`; sibling packages
reach them through `equijax.internal`.
"""

from __future__ import annotations

import numbers
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np


def is_int(x: Any) -> bool:
    """Whether `x` is an integer (Python or numpy), not a bool."""
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def is_real(x: Any) -> bool:
    """Whether `x` is a real number (Python or numpy), not a bool."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


_PARAM_DTYPES = ("float32", "float64", "bfloat16", "float16")


def param_dtype(dtype) -> np.dtype:
    """The numpy dtype of a module's parameters: `dtype` (a floating dtype or its name), or
    JAX's default float when it is None.

    **Raises:** `ValueError` naming `dtype` for an unknown name or a non-floating dtype.
    """
    if dtype is None:
        return np.dtype(jnp.result_type(float))
    try:
        d = np.dtype(jnp.dtype(dtype))
    except Exception:
        raise ValueError(
            f"`dtype` (={dtype!r}) is not a dtype: use a floating dtype such as jnp.float32, 'float32', "
            f"'bfloat16' or 'float64' (or None for JAX's default)"
        ) from None
    if not jnp.issubdtype(d, jnp.floating):
        raise ValueError(
            f"`dtype` (={dtype!r}) must be a floating dtype for trainable parameters ({', '.join(_PARAM_DTYPES)}), "
            f"got {d.name}"
        )
    return d


def key_rng(key) -> np.random.Generator:
    """A numpy generator seeded with the bits of the JAX PRNG key `key`.

    **Raises:** `TypeError` if `key` is not a JAX PRNG key (typed, or raw uint32 data).
    """
    if isinstance(key, jax.Array) and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        bits = np.asarray(jax.random.key_data(key))
    else:
        bits = np.asarray(key)
        if bits.dtype != np.uint32:
            raise TypeError(f"`key` (={key!r}) must be a JAX PRNG key")
    return np.random.default_rng([int(b) for b in bits.ravel()])


def split_key(key, n: int) -> list:
    """`n` independent keys derived from `key`, made without compiling anything
    (`jax.random.split` compiles a small program per shape: a tenth of a second each on CPU).
    Deterministic: the same key gives the same keys on every platform."""
    rng = key_rng(key)
    if isinstance(key, jax.Array) and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        shape = jax.random.key_data(key).shape
        data = rng.integers(0, 2**32, size=(n, *shape), dtype=np.uint32)
        return [jax.random.wrap_key_data(d, impl=jax.random.key_impl(key)) for d in data]
    data = rng.integers(0, 2**32, size=(n, *np.shape(key)), dtype=np.uint32)
    return [jax.device_put(d) for d in data]


_SHELL_KEY = np.zeros(2, np.uint32)


def equinox_shell(cls, *args, **kwargs):
    """The structure of the Equinox layer ``cls(*args, **kwargs, key=...)`` with
    shape-only leaves, built by abstract evaluation (nothing is compiled or drawn): fill
    its arrays with `eqx.tree_at`."""
    return eqx.filter_eval_shape(lambda: cls(*args, **kwargs, key=jax.random.wrap_key_data(_SHELL_KEY)))


def dense_layer(in_features: int, out_features: int, *, key, use_bias: bool = True, dtype=None) -> eqx.nn.Linear:
    """An `eqx.nn.Linear` initialised as Equinox does (uniform in ``+-1/sqrt(in_features)``),
    drawn with numpy from the bits of `key`: no compilation at construction."""
    rng = key_rng(key)
    dtype = param_dtype(dtype)
    lim = 1.0 / np.sqrt(in_features)
    layer = equinox_shell(eqx.nn.Linear, in_features, out_features, use_bias=use_bias, dtype=dtype)
    weight = jax.device_put(rng.uniform(-lim, lim, (out_features, in_features)).astype(dtype))
    layer = eqx.tree_at(lambda m: m.weight, layer, weight)
    if use_bias:
        layer = eqx.tree_at(lambda m: m.bias, layer, jax.device_put(rng.uniform(-lim, lim, out_features).astype(dtype)))
    return layer


def at_least_float32(dtype):
    """`dtype` if it is a float of 32 bits or more, else float32: the accumulation dtype of
    low-precision inputs (written without type promotion, so it holds under JAX's strict
    dtype-promotion mode)."""
    dtype = np.dtype(dtype)
    return dtype if np.issubdtype(dtype, np.floating) and dtype.itemsize >= 4 else np.dtype(np.float32)
