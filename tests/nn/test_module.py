import inspect

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from equijax import gspaces, nn
from equijax.testing import assert_equivariant, random_input


class TinyModel(nn.EquivariantModule):
    """A user's model, written as in the tutorial: own fields, super().__init__()."""

    layers: list
    head: eqx.nn.Linear
    input_type: nn.FieldType

    def __init__(self, key):
        super().__init__()
        k1, k2, k3 = jax.random.split(key, 3)
        gs = gspaces.rot2dOnR2(N=4)
        in_type = nn.FieldType(gs, [gs.trivial_repr])
        self.input_type = in_type
        mid = nn.FieldType(gs, 4 * [gs.regular_repr])
        out = nn.FieldType(gs, 2 * [gs.trivial_repr])
        self.layers = [nn.R2Conv(in_type, mid, 3, padding=1, key=k1), nn.R2Conv(mid, out, 3, padding=1, key=k2)]
        self.head = eqx.nn.Linear(2, 3, key=k3)

    def __call__(self, x, state):
        x = nn.GeometricTensor(x, self.input_type)
        for layer in self.layers:
            if "state" in inspect.signature(layer).parameters:
                x, state = layer(x, state)
            else:
                x = layer(x)
        pooled = jnp.mean(x.tensor, axis=(-2, -1))
        return jax.vmap(self.head)(pooled), state


def test_tutorial_style_model(getkey):
    model, state = eqx.nn.make_with_state(TinyModel)(getkey())
    x = jax.random.normal(getkey(), (5, 1, 9, 9))
    y, state = eqx.filter_jit(lambda m, x, s: m(x, s))(model, x, state)
    assert y.shape == (5, 3)
    # invariant features: rotating the digits does not change the logits
    y_rot, _ = model(jnp.rot90(x, 1, axes=(-2, -1)), state)
    np.testing.assert_allclose(y_rot, y, atol=1e-5)
    # the trainable leaves are the conv weights/biases and the head
    n = sum(leaf.size for leaf in jax.tree.leaves(eqx.filter(model, eqx.is_inexact_array)))
    expected = sum(layer.num_parameters for layer in model.layers) + 2 * 3 + 3
    assert n == expected
    with pytest.raises(TypeError, match="does not define export"):
        model.export()


def test_train_eval_return_new_modules(getkey):
    gs = gspaces.rot2dOnR2(4)
    t = nn.FieldType(gs, [gs.regular_repr])
    conv = nn.R2Conv(t, t, 3, key=getkey())
    assert conv.eval() is not conv and conv.train() is not conv
    x = random_input(t, key=getkey(), size=7)
    np.testing.assert_allclose(conv.eval()(x).tensor, conv(x).tensor)
    np.testing.assert_allclose(eqx.nn.inference_mode(conv)(x).tensor, conv(x).tensor)


def test_assert_equivariant_gspace_argument(getkey):
    gs = gspaces.flipRot2dOnR2(4)
    t = nn.FieldType(gs, [gs.regular_repr])
    conv = nn.R2Conv(t, t, 3, key=getkey())
    x = random_input(t, key=getkey(), size=7)
    errs = assert_equivariant(conv, x, gs)
    assert len(errs) == 8
    with pytest.raises(ValueError, match="`gspace`"):
        assert_equivariant(conv, x, gspaces.rot2dOnR2(4))
