"""`EquivariantModule`: the base class of equijax's layers (an `eqx.Module`)."""

from __future__ import annotations

import inspect

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._misc import (
    dense_layer as dense_layer,
    equinox_shell as equinox_shell,
    key_rng,
    param_dtype as param_dtype,
    split_key as split_key,
)
from ..group import GroupElement
from ._field_type import FieldType, explain_mismatch
from ._geometric_tensor import GeometricTensor


class EquivariantModule(eqx.Module):
    """Base class of the modules mapping a `GeometricTensor` of `in_type` to one of `out_type`.

    Concrete modules declare `in_type` and `out_type` as static fields. Subclasses written
    by users (whole models) may declare any fields and call ``super().__init__()``.

    Train/eval is functional: `train()` and `eval()` return new modules (equivalent to
    ``eqx.nn.inference_mode(module, False / True)``).
    """

    def train(self, mode: bool = True):
        """A copy in training mode (``mode=False``: inference mode)."""
        return eqx.nn.inference_mode(self, value=not mode)

    def eval(self):
        """A copy in inference mode."""
        return eqx.nn.inference_mode(self, value=True)

    def evaluate_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The output shape for an input of shape `input_shape`, computed without running
        the module (abstract evaluation)."""
        in_type = _declared_type(self, "in_type")
        x = jax.ShapeDtypeStruct(tuple(input_shape), jax.numpy.float32)

        def run(t):
            return _call(self, GeometricTensor(t, in_type), None).tensor

        return tuple(jax.eval_shape(run, x).shape)

    def check_equivariance(
        self,
        atol: float = 1e-5,
        rtol: float = 1e-5,
        *,
        key=None,
        elements: list[GroupElement] | None = None,
        input_size: int | None = None,
        batch: int = 2,
        state: eqx.nn.State | None = None,
    ) -> list[tuple[GroupElement, float]]:
        """Check ``f(g x) = g f(x)`` on a random input for each element (default: the testing
        elements that act exactly on the pixel grid).

        escnn's call ``module.check_equivariance()`` (or ``check_equivariance(atol, rtol)``)
        works as written. Stateful modules (batch norms) are called with `state` (default:
        their initial state) and a fresh copy of it for every call.

        **Arguments:**

        - `atol`, `rtol`: the error allowed is ``atol + rtol * max|f(x)|``.
        - `key`: the PRNG key of the random input (keyword only; default
          ``jax.random.key(0)``, so the check is reproducible).
        - `elements`: the group elements to test instead of the default ones.
        - `input_size`: the spatial size of the random input (default: one that suits the
          module); `batch`: its batch size.
        - `state`: the state of a stateful module.

        **Returns:** ``[(g, max abs error), ...]``.

        **Raises:** `AssertionError` if an error exceeds ``atol + rtol * max|f(x)|``.
        """
        from .testing import assert_equivariant, random_input

        in_type = _declared_type(self, "in_type")
        x = random_input(in_type, key=default_key(key), batch=batch, size=input_size or self._testing_input_size())
        return assert_equivariant(lambda t: _call(self, t, state), x, elements=elements, atol=atol, rtol=rtol)

    def _testing_input_size(self) -> int:
        return 17

    def export(self):
        """Plain Equinox layers / functions computing the same outputs, without equijax's
        machinery (for inference). Every equijax layer defines it; a user's model may
        override it to export its parts.

        **Raises:** `TypeError` if the module does not define an export.
        """
        raise TypeError(f"{type(self).__name__} does not define export()")


def _declared_type(module, name: str) -> FieldType:
    t = getattr(module, name, None)
    if not isinstance(t, FieldType):
        raise TypeError(f"{type(module).__name__} has no `{name}` field type")
    return t


def _call(module, x: GeometricTensor, state) -> GeometricTensor:
    """Call a module, with a throw-away copy of `state` (default: the initial state) for
    stateful ones."""
    if "state" in inspect.signature(module).parameters:
        if state is None:
            try:
                state = eqx.nn.State(module)
            except ValueError:
                raise TypeError(f"{type(module).__name__} keeps state: pass `state=`, {STATE_HINT}") from None
        leaves, treedef = jax.tree_util.tree_flatten(state)
        return module(x, jax.tree_util.tree_unflatten(treedef, leaves))[0]
    return module(x)


STATE_HINT = (
    "the `eqx.nn.State` made with the model: `model, state = eqx.nn.make_with_state(Model)(...)` "
    "(or `state = eqx.nn.State(model)` for a built model)"
)


def stateful_call_error(module, container: str) -> ValueError:
    """The error for calling `container` without state although `module` (a member) keeps
    state: it says where the state comes from."""
    return ValueError(
        f"{type(module).__name__} keeps state (running statistics): call the {container} as "
        f"`y, state = model(x, state)`, with {STATE_HINT}"
    )


def default_key(key):
    """`key`, or ``jax.random.key(0)`` when it is None (the default of the equivariance checks)."""
    return jax.random.key(0) if key is None else key


def resolve_bias(bias, use_bias, *, default: bool = True) -> bool:
    """The one rule for escnn's `bias` and Equinox's `use_bias`: either name may be given
    (both is fine if they agree); neither gives `default`.

    **Raises:** `TypeError` if a given value is not a bool; `ValueError` naming both if
    they disagree.
    """
    for name, v in (("bias", bias), ("use_bias", use_bias)):
        if v is not None and not isinstance(v, (bool, np.bool_)):
            raise TypeError(f"`{name}` (={v!r}) must be a bool")
    if bias is not None and use_bias is not None and bool(bias) != bool(use_bias):
        raise ValueError(
            f"`bias` (={bias!r}) and `use_bias` (={use_bias!r}) disagree: they are two names (escnn's and "
            "Equinox's) for the same flag; give one of them"
        )
    if bias is not None:
        return bool(bias)
    return default if use_bias is None else bool(use_bias)


def array_function(module):
    """``t -> module(GeometricTensor(t, module.in_type)).tensor``: the export of stateless
    modules whose computation is already plain array code."""

    def apply(t):
        return module(GeometricTensor(t, module.in_type)).tensor

    apply.__name__ = f"{type(module).__name__}_exported"
    return apply


class FieldTypeMismatchError(ValueError, AssertionError):
    """Raised when a module receives a `GeometricTensor` of another field type.

    A `ValueError`, as every equijax input check; it also derives from `AssertionError`
    because escnn checks input types with ``assert``, so escnn code that catches
    ``AssertionError`` around a mismatched call ports unchanged.
    """


def check_input(module, x, name: str = "x") -> GeometricTensor:
    """Raise a clear error unless `x` is a GeometricTensor of the module's input type."""
    if not isinstance(x, GeometricTensor):
        raise TypeError(
            f"`{name}` must be a GeometricTensor of type {module.in_type!r}, got {type(x).__name__}; "
            f"wrap arrays with `nn.GeometricTensor(array, in_type)`"
        )
    if x.type != module.in_type:
        raise FieldTypeMismatchError(
            f"`{name}` has type {x.type!r}, but {type(module).__name__} expects {module.in_type!r}"
            f"{explain_mismatch(x.type, module.in_type)}"
        )
    return x


_HALF_FLOATS = ("bfloat16", "float16")


def compute_dtype(input_dtype, *param_dtypes):
    """The dtype a layer computes in (equijax's mixed-precision policy).

    A half-precision input (bfloat16 or float16) sets the compute dtype: parameters are
    kept in their own dtype (float32) and cast down where they are used, so a model fed
    bfloat16 tensors runs its convolutions on bfloat16 (tensor cores on GPU) while the
    optimizer updates float32 parameters. Batch norms compute their statistics in float32
    in any case. Other inputs follow JAX's type promotion (float32 input with float64
    parameters computes in float64).
    """
    if jnp.dtype(input_dtype).name in _HALF_FLOATS:
        return jnp.dtype(input_dtype)
    return jnp.result_type(input_dtype, *param_dtypes)


def init_parameters(key, std: np.ndarray, n_bias: int | None, dtype):
    """Weights ``std * N(0, 1)`` and zero biases, drawn with numpy from the bits of `key`.

    Nothing is compiled (jax.random would compile a small program per shape), and the
    same key gives the same weights on every platform.
    """
    rng = key_rng(key)
    dtype = param_dtype(dtype)
    weights = jax.device_put((std * rng.standard_normal(std.shape)).astype(dtype))
    bias = None if n_bias is None else jax.device_put(np.zeros(n_bias, dtype))
    return weights, bias
