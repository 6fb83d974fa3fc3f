"""`TensorProductModule` (escnn's): a learnable quadratic nonlinearity. Each field is mapped
through its tensor product with itself, followed by a learned equivariant linear map (one per
field, from the basis expansion of `_expansion`)."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..group import Representation
from ..gspaces import GSpace
from ..kernels import EmptyBasisError
from ._expansion import ExpansionPlan, expand_filter, linear_plan
from ._field_type import FieldType
from ._fourier import check_channels, check_gspace, float_dtype, merge_fields, split_fields
from ._geometric_tensor import GeometricTensor
from ._misc import check_field_type
from ._module import EquivariantModule, array_function, check_input, init_parameters


def _uniform_repr(ftype, name: str) -> Representation:
    check_field_type(ftype, name)
    reps = set(ftype.representations)
    if len(reps) != 1:
        raise ValueError(
            f"`{name}` (={ftype!r}) must be uniform (every field of the same representation) for TensorProductModule"
        )
    return ftype.representations[0]


class TensorProductModule(EquivariantModule):
    """A learnable quadratic nonlinearity (escnn's ``TensorProductModule``).

    Every field x (of the representation rho shared by all fields of `in_type`) is mapped to
    its tensor product ``x (x) x`` (a field of ``rho (x) rho``, ``hidden_type``), which a learned
    equivariant linear map projects to the corresponding field of `out_type`. Each field has
    its own projection; fields are not mixed. A network made only of these is a polynomial
    whose degree doubles with every layer.

    **Arguments:**

    - `in_type`, `out_type`: uniform `FieldType`s (all fields of one representation) on the
      same gspace with the same number of fields.
    - `initialize`: generalised He init if True (escnn's), zeros otherwise (as equijax's
      other layers).
    - `dtype`: parameter dtype (default: JAX's default float).
    - `key`: a PRNG key (keyword only).

    **Raises:** `TypeError`/`ValueError` naming the bad argument, also when no equivariant
    map from ``rho (x) rho`` to the output representation exists.
    """

    weights: jax.Array
    in_type: FieldType = eqx.field(static=True)
    out_type: FieldType = eqx.field(static=True)

    def __init__(self, in_type: FieldType, out_type: FieldType, initialize: bool = True, dtype=None, *, key: jax.Array):
        rho = _uniform_repr(in_type, "in_type")
        _uniform_repr(out_type, "out_type")
        if in_type.gspace != out_type.gspace:
            raise ValueError(
                f"`in_type` and `out_type` live on different gspaces: {in_type.gspace.name} and {out_type.gspace.name}"
            )
        if len(in_type) != len(out_type):
            raise ValueError(
                f"`in_type` has {len(in_type)} fields but `out_type` has {len(out_type)}: TensorProductModule maps "
                "each field to one output field"
            )
        if not isinstance(initialize, bool):
            raise TypeError(f"`initialize` (={initialize!r}) must be a bool")
        self.in_type, self.out_type = in_type, out_type
        try:
            plan = self.plan
        except EmptyBasisError:
            raise ValueError(
                f"no equivariant linear map from {rho!r} (x) {rho!r} to {out_type.representations[0]!r}: "
                "`out_type` shares no irrep with the tensor product"
            ) from None
        C = len(in_type)
        std = np.tile(plan.he_std, C) if initialize else np.zeros(plan.num_weights * C)
        weights, _ = init_parameters(key, std, None, dtype)
        self.weights = weights.reshape(C, plan.num_weights)

    @classmethod
    def construct(
        cls,
        gspace: GSpace,
        channels: int,
        in_repr: Representation,
        out_repr: Representation,
        initialize: bool = True,
        dtype=None,
        *,
        key: jax.Array,
    ) -> TensorProductModule:
        """Build the module on `channels` fields of `in_repr` in and of `out_repr` out."""
        check_gspace(gspace)
        channels = check_channels(channels)
        for name, r in (("in_repr", in_repr), ("out_repr", out_repr)):
            if not isinstance(r, Representation) or r.group != gspace.fibergroup:
                raise ValueError(f"`{name}` (={r!r}) must be a representation of {gspace.fibergroup.name}")
        return cls(
            FieldType(gspace, [in_repr] * channels),
            FieldType(gspace, [out_repr] * channels),
            initialize,
            dtype,
            key=key,
        )

    @property
    def hidden_type(self) -> FieldType:
        """The field type of the tensor products: one field of ``rho (x) rho`` per input field."""
        rho = self.in_type.representations[0]
        return FieldType(self.in_type.gspace, [rho.tensor(rho)] * len(self.in_type))

    @property
    def plan(self) -> ExpansionPlan:
        """The basis expansion from one hidden field to one output field."""
        rho = self.in_type.representations[0]
        gs = self.in_type.gspace
        return linear_plan(FieldType(gs, [rho.tensor(rho)]), FieldType(gs, [self.out_type.representations[0]]))

    def expand_parameters(self) -> jnp.ndarray:
        """The projections, shape ``(C, d_out, d_in * d_in)``."""
        plan = self.plan
        return jax.vmap(lambda w: expand_filter(plan, w))(self.weights)

    @property
    def matrix(self) -> jnp.ndarray:
        """The block-diagonal projection ``(out_type.size, C * d_in^2)`` (escnn's ``matrix``)."""
        M = self.expand_parameters()
        return jax.scipy.linalg.block_diag(*M)

    def __call__(self, x: GeometricTensor, *, key=None) -> GeometricTensor:
        """**Arguments:** `x`, a `GeometricTensor` of `in_type` (any leading batch axes).

        **Returns:** a `GeometricTensor` of `out_type`.
        """
        del key
        check_input(self, x)
        C = len(self.in_type)
        d = self.in_type.representations[0].size
        dtype = float_dtype(x.tensor)
        t, s = split_fields(x.tensor.astype(dtype), self.in_type, C)
        M = self.expand_parameters().astype(dtype)
        M = M.reshape(M.shape[0], M.shape[1], d, d)  # hidden index i * d + j: x_i x_j
        y = jnp.einsum(f"coij,...ci{s},...cj{s}->...co{s}", M, t, t)
        return GeometricTensor(merge_fields(y, self.out_type), self.out_type)

    def export(self):
        """A function on arrays ``(*batch, C, ...)`` computing the same map."""
        return array_function(self)
