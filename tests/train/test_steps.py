"""`make_train_step`, `evaluate` and `invariance_error` on a tiny linear model: labels are
checked on the host before any buffer is donated, rows of NaN logits count as wrong, and no
images is an error rather than a division by zero."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from equijax.train import evaluate, invariance_error, make_train_step


class Linear(eqx.Module):
    """logits = flatten(x) @ w: a NaN pixel makes its row of logits NaN."""

    w: jax.Array

    def __call__(self, x, state):
        return x.reshape(x.shape[0], -1) @ self.w, state


N_CLASSES = 3


@pytest.fixture
def setup():
    model = Linear(jnp.asarray(np.random.default_rng(0).normal(size=(16, N_CLASSES)), jnp.float32))
    opt = optax.sgd(0.0)  # the parameters stay put: the counts below are of a fixed model
    return model, opt, opt.init(eqx.filter(model, eqx.is_array))


def _batch(n=4, nan_rows=()):
    x = np.random.default_rng(1).random((n, 1, 4, 4)).astype(np.float32)
    x[list(nan_rows)] = np.nan
    return x


def test_labels_are_checked_before_the_step(setup):
    model, opt, opt_state = setup
    step = make_train_step(opt, augment=False)
    x = _batch()
    for y, needle in [
        (np.array([0, 1, 2, N_CLASSES]), r"\[0, 3\).*got range \[0, 3\]"),
        (np.array([0, -1, 2, 1]), r"got range \[-1, 2\]"),
        (np.array([0.0, 1.0, 2.0, 1.0]), "integer labels"),
        (np.array([0, 1, 2]), r"shape \(4,\)"),
        (jnp.array([0, 1, 2, 7]), r"got range \[0, 7\]"),  # a device array this process holds: checked too
    ]:
        with pytest.raises(ValueError, match=needle):
            step(jax.random.key(0), model, None, opt_state, x, y, 0)
    # nothing was donated: the model is still usable, and a good batch trains
    y = np.array([0, 1, 2, 0])
    model, _, opt_state, loss, correct = step(jax.random.key(0), model, None, opt_state, x, y, 0)
    assert np.isfinite(float(loss)) and 0 <= int(correct) <= 4


def test_nan_logits_are_not_correct(setup):
    model, opt, opt_state = setup
    step = make_train_step(opt, augment=False)
    x = _batch(nan_rows=(1, 3))
    # label each row with argmax of its logits: argmax of a NaN row is 0, labelled 0 too
    logits = np.asarray(model(jnp.asarray(x), None)[0])
    y = np.where(np.isnan(logits).any(-1), 0, np.nan_to_num(logits, nan=-np.inf).argmax(-1)).astype(np.int32)
    assert np.asarray(jnp.argmax(jnp.asarray(logits), -1))[1] == y[1] == 0  # the trap: it "matches"
    w = np.asarray(model.w)  # the step donates the model's buffers
    *_, loss, correct = step(jax.random.key(0), model, None, opt_state, x, y, 0)
    assert int(correct) == 2 and np.isnan(float(loss))
    ev = evaluate(Linear(jnp.asarray(w)), None, x, y, batch_size=3)
    assert ev["accuracy"] == 0.5


def test_evaluate_checks_its_input(setup):
    model, _, _ = setup
    x = _batch()
    with pytest.raises(ValueError, match="`x` holds 0 images"):
        evaluate(model, None, x[:0], np.zeros(0, np.int32))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        evaluate(model, None, x, np.array([0, 1, 2, 5]))
    with pytest.raises(ValueError, match="shape"):
        evaluate(model, None, x, np.array([0, 1]))
    with pytest.raises(ValueError, match="`batch_size`"):
        evaluate(model, None, x, np.array([0, 1, 2, 0]), batch_size=0)
    with pytest.raises(ValueError, match="`x` holds 0 images"):
        invariance_error(model, None, x[:0])
    ev = evaluate(model, None, x, np.array([0, 1, 2, 0]), batch_size=3)
    assert 0 <= ev["accuracy"] <= 1 and np.isfinite(ev["loss"])


def test_invariance_error_with_reflections(setup):
    model, _, _ = setup
    x = np.zeros((2, 1, 4, 4), np.float32)
    x[:, :, 1:3, 1:3] = 1.0  # symmetric under the whole square's group: every view is the same image
    out = invariance_error(model, None, x, reflections=True)
    assert out["relative"] < 1e-6 and out["relative_flip"] < 1e-6 and out["prediction_agreement_flip"] == 1.0
    x[:, :, 0, 0] = 1.0  # not mirror symmetric
    assert invariance_error(model, None, x, reflections=True)["relative_flip"] > 1e-3
    assert "relative_flip" not in invariance_error(model, None, x)
