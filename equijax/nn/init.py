"""Initialisations of the weights of equivariant layers (escnn's ``nn.init``).

The weights of `R2Conv`, `R2ConvTransposed` and `Linear` are coefficients of an
equivariant basis. These functions are pure: they return a new layer (through
`eqx.tree_at`) whose weights are drawn from `key`; the bias is left as it is. Nothing is
compiled: the draws are made with numpy from the bits of the key, so the same key gives
the same weights on every platform.

```python
conv = nn.R2Conv(a, b, 3, key=k1)
conv = nn.init.deltaorthonormal_init(conv, key=k2)
```
"""

from __future__ import annotations

import numbers

import equinox as eqx
import jax
import numpy as np

from ..kernels import BasisElement
from ._conv import _R2ConvBase
from ._expansion import ExpansionPlan, split_groups
from ._linear import Linear

__all__ = ["deltaorthonormal_init", "generalized_he_init"]


def _check_module(module, fn: str):
    if not isinstance(module, (_R2ConvBase, Linear)):
        raise TypeError(
            f"{fn} initialises R2Conv, R2ConvTransposed or Linear layers (equivariant bases), got "
            f"{type(module).__name__}"
        )


def _rng(key) -> np.random.Generator:
    """A numpy generator seeded with the bits of a JAX key."""
    if isinstance(key, jax.Array) and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        bits = np.asarray(jax.random.key_data(key))
    else:
        bits = np.asarray(key) if isinstance(key, (jax.Array, np.ndarray)) else None
        if bits is None or bits.dtype != np.uint32:
            raise TypeError(f"`key` (={key!r}) must be a JAX PRNG key")
    return np.random.default_rng([int(b) for b in bits.ravel()])


def _replace_weights(module, w: np.ndarray):
    new = jax.device_put(w.astype(module.weights.dtype))
    return eqx.tree_at(lambda m: m.weights, module, new)


def _groups(module) -> int:
    return getattr(module, "groups", 1)


def _bases(module) -> list[tuple]:
    """``[(pair, BasisElements), ...]`` for the pairs of the module's (per-group) plan."""
    plan = module.plan
    if isinstance(module, Linear):
        gspace = module.in_type.gspace

        def build(ri, ro):
            return gspace.build_intertwiner_basis(ri, ro)

    else:
        sub_in, _ = split_groups(module.in_type, module.out_type, module.groups)
        gspace = sub_in.gspace
        rings, sigma, fco, basis_filter = module.basis_args

        def build(ri, ro):
            return gspace.build_kernel_basis(
                ri, ro, module.kernel_size, module.dilation, rings, sigma, fco, basis_filter
            )

    out = []
    for p in plan.pairs:
        basis = build(plan.in_reps[p.in_index], plan.out_reps[p.out_index])
        out.append((p, basis.attributes))
    return out


def generalized_he_init(module, key, *, gain: float = 1.0):
    """escnn's generalised He initialisation.

    Each weight multiplies one basis filter from an input irrep psi to an output irrep copy
    o. With ``T(o)`` the number of distinct input irreps reaching o and ``N(psi, o)`` the
    number of basis filters from copies of psi to o (over all input fields), the weight is
    drawn from ``N(0, gain / (T(o) N(psi, o)))``. escnn normalises every basis filter to
    squared norm ``dim(o)``, so for an input of uncorrelated channels the expanded layer
    gives ``E[y^2] = gain * E[x^2]`` on every output channel: ``gain=1`` (escnn's choice)
    preserves the second moment; ``gain=2`` is He's factor for a ReLU network
    (``Var(y) = 2 E[x^2]``, so that ``Var`` is preserved across conv + ReLU).

    This is also the default initialisation of the layers (`initialize=True`).

    **Arguments:**

    - `module`: an `R2Conv`, `R2ConvTransposed` or `Linear`.
    - `key`: a JAX PRNG key.
    - `gain`: multiplies the variance (default 1, as escnn).

    **Returns:** a copy of `module` with new weights (bias unchanged).

    **Raises:** `TypeError` if `module` is another kind of layer or `key` is not a key;
    `ValueError` if `gain` is not a positive number.
    """
    _check_module(module, "generalized_he_init")
    if isinstance(gain, bool) or not isinstance(gain, numbers.Real) or not gain > 0:
        raise ValueError(f"`gain` (={gain!r}) must be a positive number")
    std = np.tile(module.plan.he_std, _groups(module)) * np.sqrt(float(gain))
    w = std * _rng(key).standard_normal(std.shape)
    return _replace_weights(module, w)


def _delta_positions(plan: ExpansionPlan, bases) -> dict:
    """``{irrep id: {(in position, out position): [weight indices]}}`` for the basis
    filters mapping an irrep to a copy of itself at radius 0 (the centre tap)."""
    counts: dict = {}
    for p, attrs in bases:
        b = len(attrs)
        for x in range(p.n_out):
            for y in range(p.n_in):
                for e, a in enumerate(attrs):
                    a: BasisElement
                    if a.in_irrep != a.out_irrep or not np.isclose(a.radius, 0.0):
                        continue
                    ip = (p.in_index, y, a.in_irrep_index)
                    op = (p.out_index, x, a.out_irrep_index)
                    w = p.offset + (x * p.n_in + y) * b + e
                    counts.setdefault(a.in_irrep, {}).setdefault((ip, op), []).append(w)
    return counts


def _haar_orthogonal(rng: np.random.Generator, n: int) -> np.ndarray:
    A = rng.standard_normal((n, n))
    Q, R = np.linalg.qr(A)
    return Q * np.sign(np.diag(R))[None, :]


def deltaorthonormal_init(module, key):
    """escnn's delta-orthogonal initialisation: a filter that is zero away from its centre
    and orthogonal at the centre.

    Only the basis filters at radius 0 mapping an irrep psi to a copy of the same irrep are
    used. For each irrep psi, with ``i`` copies of psi in the input and ``o`` in the output,
    the centre tap couples them through ``W[o, i] * E_o``: W is a random (semi-)orthogonal
    ``o x i`` matrix (a random sign when ``o = i = 1``) and ``E_o`` a random unit
    combination of psi's endomorphisms (the identity for real irreps, a rotation for the
    2-dimensional irreps of C_N and SO(2)). In the irreps' basis the centre tap is then
    block-orthogonal, and so is the expanded filter, the change of basis being orthogonal:
    a layer from a type to itself starts as an orthogonal 1x1 map (``|y| = |x|`` on every
    pixel). All other weights are zero. For a `Linear` layer every intertwiner counts as a
    centre tap.

    **Arguments:** `module` (an `R2Conv`, `R2ConvTransposed` or `Linear`); `key`.

    **Returns:** a copy of `module` with new weights (bias unchanged).

    **Raises:** `TypeError` if `module` is another kind of layer or `key` is not a key;
    `ValueError` if the centre taps do not couple every input copy of an irrep to every
    output copy the same number of times (e.g. a `basis_filter` removed some).
    """
    _check_module(module, "deltaorthonormal_init")
    rng = _rng(key)
    plan = module.plan
    counts = _delta_positions(plan, _bases(module))
    n = plan.num_weights
    w = np.zeros(n * _groups(module))
    for g in range(_groups(module)):
        for irrep, pairs in counts.items():
            ins = list(dict.fromkeys(ip for ip, _ in pairs))
            outs = list(dict.fromkeys(op for _, op in pairs))
            sizes = {len(v) for v in pairs.values()}
            if len(pairs) != len(ins) * len(outs) or len(sizes) != 1:
                raise ValueError(
                    f"deltaorthonormal_init needs centre taps coupling every input copy of irrep {irrep} to every "
                    f"output copy equally often; this layer has {len(pairs)} couplings for {len(ins)} input and "
                    f"{len(outs)} output copies (was a `basis_filter` or `frequencies_cutoff` used?)"
                )
            s = sizes.pop()
            m = max(len(ins), len(outs))
            W = _haar_orthogonal(rng, m)[: len(outs), : len(ins)] if m > 1 else rng.choice([-1.0, 1.0], (1, 1))
            E = rng.standard_normal((len(outs), s))
            E /= np.linalg.norm(E, axis=1, keepdims=True)
            for a, ip in enumerate(ins):
                for b, op in enumerate(outs):
                    idx = np.asarray(pairs[(ip, op)]) + g * n
                    w[idx] = E[b] * W[b, a]
    return _replace_weights(module, w)
