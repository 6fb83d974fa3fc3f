import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from equijax import models


def clone(state):
    leaves, treedef = jax.tree_util.tree_flatten(state)
    return jax.tree_util.tree_unflatten(treedef, leaves)


def logits(model, x, state):
    return eqx.filter_jit(lambda m, x, s: m(x, s))(model, x, clone(state))


@pytest.fixture(scope="module")
def c8():
    return eqx.nn.make_with_state(models.C8SteerableCNN)(jax.random.key(0))


def test_c8_parameter_count_and_build_time(c8):
    model, _ = c8
    n = sum(leaf.size for leaf in jax.tree.leaves(eqx.filter(model, eqx.is_inexact_array)))
    assert n == 2_067_434  # escnn's count for the same architecture; the mask is a constant
    t0 = time.perf_counter()
    eqx.nn.make_with_state(models.C8SteerableCNN)(jax.random.key(1))
    assert time.perf_counter() - t0 <= 1.0


@pytest.mark.parametrize("width", [0.25, pytest.param(1.0, marks=pytest.mark.slow)])  # full width: -m slow
def test_c8_invariance_batch_vmap_and_export(c8, width):
    model, state = c8 if width == 1.0 else eqx.nn.make_with_state(models.C8SteerableCNN)(jax.random.key(0), width=width)
    x = jax.random.normal(jax.random.key(2), (4, 1, 29, 29))
    # a training call, so that batch-norm statistics are not trivial
    _, state = logits(model, x * 2 + 1, state)
    y, s1 = logits(model, x, state)
    yv, s2 = eqx.filter_jit(
        lambda m, x, s: jax.vmap(m, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(x, s)
    )(model, x, clone(state))
    np.testing.assert_allclose(y, yv, atol=1e-5)
    for a, b in zip(jax.tree.leaves(s1), jax.tree.leaves(s2)):
        np.testing.assert_allclose(a, b, atol=1e-5)
    inf = model.eval()
    y0, _ = logits(inf, x, state)
    for k in (1, 2, 3):
        yk, _ = logits(inf, jnp.rot90(x, k, axes=(-2, -1)), state)
        np.testing.assert_allclose(yk, y0, atol=1e-4)
    exported = model.export(clone(state))
    np.testing.assert_allclose(eqx.filter_jit(lambda e, v: jax.vmap(e)(v))(exported, x), y0, atol=1e-5)


@pytest.mark.parametrize("batch_norm", [pytest.param(False, marks=pytest.mark.slow), True])  # without: -m slow
def test_c4cnn_invariant_and_cnn_is_not(batch_norm):
    x = jax.random.normal(jax.random.key(3), (3, 1, 33, 33))
    for cls, invariant in ((models.C4CNN, True), (models.CNN, False)):
        model, state = eqx.nn.make_with_state(cls)(jax.random.key(0), batch_norm=batch_norm)
        _, state = logits(model, x, state)
        inf = model.eval()
        y0, _ = logits(inf, x, state)
        worst = max(
            float(jnp.max(jnp.abs(logits(inf, jnp.rot90(x, k, axes=(-2, -1)), state)[0] - y0))) for k in (1, 2, 3)
        )
        assert (worst < 1e-4) == invariant, (cls, worst)
    c4 = sum(leaf.size for leaf in jax.tree.leaves(eqx.filter(models.C4CNN(jax.random.key(0)), eqx.is_inexact_array)))
    cnn = sum(leaf.size for leaf in jax.tree.leaves(eqx.filter(models.CNN(jax.random.key(0)), eqx.is_inexact_array)))
    assert 0.9 < cnn / c4 < 1.1


def test_bad_model_input(c8):
    model, state = c8
    with pytest.raises(ValueError, match="expects images of shape"):
        model(jnp.zeros((2, 1, 28, 28)), state)


def _digits(mnist_file, n: int):
    with np.load(mnist_file) as f:
        x, y = f["x_train"][:n], f["y_train"][:n]
    x = np.pad(x.astype(np.float32) / 255.0, ((0, 0), (0, 1), (0, 1)))[:, None]  # 29 x 29, as the tutorial
    return jnp.asarray(x), jnp.asarray(y)


def _train(model, state, x, y, steps: int, batch: int):
    opt = optax.adam(1e-3)
    opt_state = opt.init(eqx.filter(model, eqx.is_inexact_array))
    traces = []

    @eqx.filter_jit
    def step(model, state, opt_state, xb, yb):
        traces.append(1)

        def loss_fn(m):
            out, new_state = m(xb, state)
            return optax.softmax_cross_entropy_with_integer_labels(out, yb).mean(), new_state

        (loss, state), grads = eqx.filter_value_and_grad(loss_fn, has_aux=True)(model)
        updates, opt_state = opt.update(grads, opt_state, eqx.filter(model, eqx.is_inexact_array))
        return eqx.apply_updates(model, updates), state, opt_state, loss

    losses = []
    for i in range(steps):
        j = (i * batch) % (len(x) - batch)
        model, state, opt_state, loss = step(model, state, opt_state, x[j : j + batch], y[j : j + batch])
        losses.append(float(loss))
    assert len(traces) == 1  # no recompile after the first step
    return losses


def test_train_step_on_real_digits_small(mnist_file):
    """A narrow C8 model (width 1/4), batch 16: fast enough for every CI run."""
    x, y = _digits(mnist_file, 320)
    model, state = eqx.nn.make_with_state(models.C8SteerableCNN)(jax.random.key(0), width=0.25)
    losses = _train(model, state, x, y, steps=20, batch=16)
    assert np.mean(losses[-5:]) < np.mean(losses[:5])


@pytest.mark.slow
def test_train_step_on_real_digits_batch_64(mnist_file):
    """The acceptance run: the full C8 model, batch 64, 20 steps (minutes on 2 CPU cores)."""
    x, y = _digits(mnist_file, 64 * 20)
    model, state = eqx.nn.make_with_state(models.C8SteerableCNN)(jax.random.key(0))
    losses = _train(model, state, x, y, steps=20, batch=64)
    print("losses", [round(v, 3) for v in losses])
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
