"""`Linear`: equivariant linear maps between fields with no base space (equivariant MLPs)."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from ..gspaces import GSpace0D
from ._expansion import ExpansionPlan, expand_bias, expand_filter, linear_plan
from ._field_type import FieldType
from ._geometric_tensor import GeometricTensor
from ._misc import check_bool, check_field_type, check_same_gspace, init_plan_parameters
from ._module import EquivariantModule, check_input, compute_dtype, equinox_shell, param_dtype, resolve_bias


class Linear(EquivariantModule):
    """An equivariant linear map ``y = W x + b`` between field types on
    `gspaces.no_base_space(group)`: W is a learned combination of the intertwiner basis,
    b lives on the trivial components.

    The positional order is escnn's, ``Linear(in_type, out_type, bias, basisexpansion,
    recompute, initialize)``; `use_bias`, `dtype` and `key` are keyword only.

    **Arguments:**

    - `in_type`, `out_type`: `FieldType`s on the same 0-dimensional gspace.
    - `bias` (escnn's name) or `use_bias` (Equinox's): learn a bias on the trivial
      components (default True). Give either; both is allowed if they agree.
    - `basisexpansion`: escnn's choice of expansion; only ``'blocks'`` (escnn's default and
      only option) exists.
    - `recompute`: escnn's flag, accepted (a bool) without effect: bases are computed
      deterministically and cached in memory.
    - `initialize`: generalised He init if True, zeros otherwise.
    - `dtype`: parameter dtype, a floating dtype or its name (default: JAX's default float).
    - `key`: a PRNG key (keyword only).

    **Attributes:** `weights`, `bias` (the learned coefficients); `matrix` and
    `expanded_bias`, the expanded ``(C_out, C_in)`` matrix and ``(C_out,)`` bias (computed on
    access, see `expand_parameters`).

    **Raises:** `TypeError`/`ValueError` naming the bad argument.
    """

    weights: jax.Array
    bias: jax.Array | None
    in_type: FieldType = eqx.field(static=True)
    out_type: FieldType = eqx.field(static=True)
    use_bias: bool = eqx.field(static=True)

    def __init__(
        self,
        in_type: FieldType,
        out_type: FieldType,
        bias: bool | None = None,
        basisexpansion: str = "blocks",
        recompute: bool = False,
        initialize: bool = True,
        *,
        use_bias: bool | None = None,
        dtype=None,
        key: jax.Array,
    ):
        for name, t in (("in_type", in_type), ("out_type", out_type)):
            check_field_type(t, name)
            if not isinstance(t.gspace, GSpace0D):
                raise ValueError(
                    f"`{name}` lives on {t.gspace.name}; Linear needs field types on gspaces.no_base_space(group) "
                    "(use R2Conv on the plane)"
                )
        check_same_gspace(in_type, out_type)
        use_bias = resolve_bias(bias, use_bias)
        if basisexpansion != "blocks":
            raise ValueError(f"`basisexpansion` (={basisexpansion!r}) must be 'blocks' (escnn's only expansion)")
        check_bool(recompute, "recompute", numpy=True)
        dtype = param_dtype(dtype)
        self.in_type, self.out_type, self.use_bias = in_type, out_type, use_bias
        self.weights, self.bias = init_plan_parameters(self.plan, initialize, use_bias, dtype, key)

    @property
    def plan(self) -> ExpansionPlan:
        return linear_plan(self.in_type, self.out_type)

    def expand_parameters(self) -> tuple[jnp.ndarray, jnp.ndarray | None]:
        """The matrix ``(C_out, C_in)`` and the bias ``(C_out,)`` (or None)."""
        W = expand_filter(self.plan, self.weights)
        b = None if self.bias is None else expand_bias(self.plan, self.bias)
        return W, b

    @property
    def matrix(self) -> jnp.ndarray:
        """The expanded ``(C_out, C_in)`` matrix (escnn's ``Linear.matrix``), computed on access."""
        return self.expand_parameters()[0]

    @property
    def expanded_bias(self) -> jnp.ndarray | None:
        """The expanded ``(C_out,)`` bias (escnn's ``Linear.expanded_bias``), or None."""
        return self.expand_parameters()[1]

    def __call__(self, x: GeometricTensor, *, key=None) -> GeometricTensor:
        """**Arguments:** `x`, a `GeometricTensor` of `in_type`, shape ``(*batch, C_in)``.

        **Returns:** a `GeometricTensor` of `out_type`, shape ``(*batch, C_out)``.
        """
        del key
        check_input(self, x)
        W, b = self.expand_parameters()
        dtype = compute_dtype(x.tensor.dtype, W.dtype)
        y = x.tensor.astype(dtype) @ W.T.astype(dtype)
        if b is not None:
            y = y + b.astype(dtype).reshape((1,) * (y.ndim - 1) + b.shape)
        return GeometricTensor(y, self.out_type)

    def export(self) -> eqx.nn.Linear:
        """An `eqx.nn.Linear` with the expanded matrix and bias."""
        W, b = self.expand_parameters()
        lin = equinox_shell(eqx.nn.Linear, self.in_type.size, self.out_type.size, use_bias=b is not None, dtype=W.dtype)
        lin = eqx.tree_at(lambda m: m.weight, lin, W)
        if b is not None:
            lin = eqx.tree_at(lambda m: m.bias, lin, b)
        return lin
