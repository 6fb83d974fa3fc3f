"""FourierELU side by side with escnn's construction (issue 13: the SO(2) MLP of escnn's MLP
notebook).

escnn's ``FourierPointwise`` (escnn/nn/modules/nonlinearities/fourier.py) is rebuilt here in
numpy from its rules, independently of equijax: the sampling vector stacks
``sqrt(dim psi) * psi(e)[:, :dim psi / dim End psi]`` per irrep (unit norm when
``normalize``), the SO(2) grid of ``type='regular'`` is ``2 pi i / N``, ``A`` has the rows
``(rho(g) k)^T`` and ``Ainv = (A^T A + 1e-8 I)^-1 A^T`` (on the output irreps plus the input
irreps they lack, truncated). equijax's matrices equal these, so equijax's equivariance error
is escnn's on the same input; the tests bound it at the value escnn's construction gives and
check that a coarser grid exceeds the bound (negative control).

Measured (float32, 8 random rotations, Gaussian coefficients of unit variance, median over
seeds of the per-field relative error): notebook layer L=3, N=16: 0.38 % for equijax and for
escnn's construction alike; N=12: 1.1 %; N=8: 6.7 %; 16 random samples: 16 %. The whole ported
SO(2) MLP (eval mode, batch 10): median over 32 seeds of the per-seed median relative output
error 1.22 % (IQR 0.94-2.07 %) with equijax's init; 1.26 % (IQR 0.87-1.99 %) for an
independent numpy model drawn with escnn's init rules; escnn's single printed notebook run
lies in that range (about 0.3-1 % per sample).
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from equijax import group, gspaces, nn

G = group.so2_group()
GS = gspaces.no_base_space(G)


def bl_irreps(L):
    return [(k,) for k in range(L + 1)]


# -- escnn's construction, in numpy -------------------------------------------------------------------


def so2_irrep(k, theta):
    if k == 0:
        return np.ones((1, 1))
    c, s = math.cos(k * theta), math.sin(k * theta)
    return np.array([[c, -s], [s, c]])


def block_diag(blocks):
    n = sum(b.shape[0] for b in blocks)
    out, i = np.zeros((n, n)), 0
    for b in blocks:
        out[i : i + len(b), i : i + len(b)] = b
        i += len(b)
    return out


def escnn_sampling(freqs, grid, normalize):
    """escnn's `_build_kernel` and ``A``: SO(2) irreps are of complex type (dim End = 2 for
    k > 0), so each frequency contributes one column of ``psi(e)``."""
    k = np.concatenate([so2_irrep(f, 0.0)[:, :1].T.reshape(-1) * math.sqrt(1 if f == 0 else 2) for f in freqs])
    if normalize:
        k = k / np.linalg.norm(k)
    return np.stack([block_diag([so2_irrep(f, g) for f in freqs]) @ k for g in grid])


def escnn_matrices(L, N, normalize=True, out_L=None):
    grid = [i * 2 * np.pi / N for i in range(N)]
    A = escnn_sampling(range(L + 1), grid, normalize)
    out = list(range(L + 1)) if out_L is None else list(range(out_L + 1))
    extended = out + sorted(set(range(L + 1)) - set(out))
    A_out = escnn_sampling(extended, grid, normalize)
    Ainv = np.linalg.inv(A_out.T @ A_out + 1e-8 * np.eye(A_out.shape[1])) @ A_out.T
    return A, Ainv[: sum(1 if f == 0 else 2 for f in out)]


def escnn_fourier_elu(A, Ainv, x):
    """``x`` (B, C, D) -> (B, C, D_out), as escnn's forward."""
    s = np.einsum("gf,bcf->bcg", A, x)
    return np.einsum("fg,bcg->bcf", Ainv, np.where(s > 0, s, np.expm1(np.minimum(s, 0.0))))


def rho(L, theta):
    return block_diag([so2_irrep(f, theta) for f in range(L + 1)])


@pytest.mark.parametrize(
    "L, N, normalize, out_L", [(1, 6, True, None), (3, 16, True, None), (2, 12, True, None), (3, 9, False, 1)]
)
def test_matrices_equal_escnn_construction(L, N, normalize, out_L):
    """The notebook's (L, N) pairs, normalize=False and a lower output band limit."""
    out = None if out_L is None else bl_irreps(out_L)
    m = nn.FourierELU(GS, 2, bl_irreps(L), out_irreps=out, normalize=normalize, type="regular", N=N)
    A, Ainv = m.matrices
    A_e, Ainv_e = escnn_matrices(L, N, normalize, out_L)
    np.testing.assert_allclose(A, A_e, atol=1e-12)
    np.testing.assert_allclose(Ainv, Ainv_e, atol=1e-9)
    # escnn's layout: the coefficients are psi_0, psi_1, ..., each once, in the Fourier basis
    assert m.rho.irreps == tuple(bl_irreps(L)) and np.array_equal(m.rho.change_of_basis, np.eye(2 * L + 1))


# -- the equivariance error, measured as escnn's notebook does ----------------------------------------------


def relative_errors(f, L_in, L_out, x, thetas):
    """Per-field ``|f(g x) - g f(x)| / |g f(x)|`` for each rotation: f on (B, C, D) arrays."""
    y = f(x)
    errs = []
    for t in thetas:
        d = f(x @ rho(L_in, t).T) - y @ rho(L_out, t).T
        errs.append(np.linalg.norm(d, axis=-1) / np.linalg.norm(y, axis=-1))
    return np.concatenate(errs).ravel()


def module_as_array_function(m):
    run = jax.jit(m.export())

    def f(x):
        B, C, D = x.shape
        return np.asarray(run(jnp.asarray(x.reshape(B, C * D), jnp.float32)), np.float64).reshape(B, C, -1)

    return f


BOUND = 0.0045  # escnn's construction, L=3, N=16: 0.0038 on these seeds (see the module docstring)


def layer_error(m, L, seeds=range(4)):
    f = module_as_array_function(m)
    meds = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((10, 8, 2 * L + 1))
        meds.append(np.median(relative_errors(f, L, L, x, rng.uniform(0, 2 * np.pi, 8))))
    return float(np.median(meds))


def escnn_layer_error(L, N, seeds=range(4)):
    A, Ainv = escnn_matrices(L, N)
    meds = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((10, 8, 2 * L + 1))
        meds.append(
            np.median(relative_errors(lambda v: escnn_fourier_elu(A, Ainv, v), L, L, x, rng.uniform(0, 2 * np.pi, 8)))
        )
    return float(np.median(meds))


def test_equivariance_error_is_escnns():
    """The notebook's FourierELU (8 channels, L = 3, N = 16): equijax's error equals escnn's
    construction's on the same inputs and rotations, within the bound; a coarser grid
    (N = 12) exceeds it."""
    L = 3
    ours = layer_error(nn.FourierELU(GS, 8, bl_irreps(L), type="regular", N=16), L)
    escnn = escnn_layer_error(L, 16)
    assert escnn <= BOUND
    assert ours <= BOUND
    assert abs(ours - escnn) <= 0.02 * escnn  # float32 vs float64
    # negative control: the same measurement flags a coarser quadrature
    coarse = layer_error(nn.FourierELU(GS, 8, bl_irreps(L), type="regular", N=12), L)
    assert coarse > 2 * BOUND


# -- escnn's SO(2) MLP notebook, ported ----------------------------------------------------------------------


class SO2MLP(eqx.Module):
    """escnn's ``SO2MLP`` (examples/mlp.ipynb), with only Equinox's keys added."""

    block1: nn.SequentialModule
    block2: nn.SequentialModule
    block3: nn.SequentialModule
    block4: nn.SequentialModule
    block5: nn.Linear
    in_type: nn.FieldType = eqx.field(static=True)

    def __init__(self, *, key):
        k1, k2, k3, k4, k5 = jax.random.split(key, 5)
        self.in_type = nn.FieldType(GS, [G.irrep(1)])

        def block(t, channels, L, N, k):
            act = nn.FourierELU(GS, channels=channels, irreps=bl_irreps(L), inplace=True, type="regular", N=N)
            return nn.SequentialModule(nn.Linear(t, act.in_type, key=k), nn.IIDBatchNorm1d(act.in_type), act)

        self.block1 = block(self.in_type, 3, 1, 6, k1)
        self.block2 = block(self.block1.out_type, 8, 3, 16, k2)
        self.block3 = block(self.block2.out_type, 8, 3, 16, k3)
        self.block4 = block(self.block3.out_type, 5, 2, 12, k4)
        self.block5 = nn.Linear(self.block4.out_type, nn.FieldType(GS, [G.irrep(2)]), key=k5)

    def __call__(self, x, state):
        for b in (self.block1, self.block2, self.block3, self.block4):
            x, state = b(x, state)
        return self.block5(x), state


@eqx.filter_jit
def _forward_and_parameters(model, state, x):
    """The model's output on `x` and its dense parameters (one compilation): per block, the
    Linear's expanded matrix and bias and the frozen batch norm's ``(A, c)``; then the last
    Linear's matrix and bias (a zero bias where there is none)."""

    def linear(m):
        W, b = m.expand_parameters()
        return W, jnp.zeros(W.shape[0], W.dtype) if b is None else b

    blocks = [
        (*linear(b[0]), *b[1].frozen_affine(state)) for b in (model.block1, model.block2, model.block3, model.block4)
    ]
    return model(nn.GeometricTensor(x, model.in_type), state)[0].tensor, (blocks, linear(model.block5))


def escnn_forward(model, params, x):
    """The same network, with the same (expanded) weights `params`, run through escnn's
    construction of the Fourier transforms in numpy (float64)."""
    blocks, last = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
    for (W, bias, Abn, cbn), b, (L, N) in zip(
        blocks, (model.block1, model.block2, model.block3, model.block4), [(1, 6), (3, 16), (3, 16), (2, 12)]
    ):
        h = (x @ W.T + bias) @ Abn.T + cbn
        A, Ainv = escnn_matrices(L, N)
        x = escnn_fourier_elu(A, Ainv, h.reshape(len(x), b[2].channels, -1)).reshape(len(x), -1)
    W, bias = last
    return x @ W.T + bias


def test_ported_so2_mlp_error_is_escnns():
    """The notebook's check (eval mode, 10 random points, 8 random rotations): per seed, the
    median relative error of the output equals that of escnn's construction with the same
    weights, and the median over the seeds is at escnn's level."""
    R, B = 8, 10
    ours, theirs = [], []
    for seed in range(4):
        model, state = eqx.nn.make_with_state(SO2MLP)(key=jax.random.key(seed))
        model = eqx.nn.inference_mode(model)
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((B, 2))
        thetas = rng.uniform(0, 2 * np.pi, R)
        xs = np.concatenate([x] + [x @ so2_irrep(1, t).T for t in thetas])  # one call for all rotations
        y_ours, params = _forward_and_parameters(model, state, jnp.asarray(xs, jnp.float32))
        for ys, out in ((np.asarray(y_ours, np.float64), ours), (escnn_forward(model, params, xs), theirs)):
            ys = ys.reshape(R + 1, B, 2)
            y = ys[0]
            err = [
                np.linalg.norm(ys[1 + i] - y @ so2_irrep(2, t).T, axis=1) / np.linalg.norm(y, axis=1)
                for i, t in enumerate(thetas)
            ]
            out.append(np.median(err))
    np.testing.assert_allclose(ours, theirs, rtol=0.05)
    assert np.median(ours) <= 0.03
