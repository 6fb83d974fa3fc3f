"""The shared helpers of `equijax.nn._misc`: the field-type check, calling a member with the
key / state / inference it takes, exporting a member, channel index maps; and containers
nested in each other (SequentialModule in MergeModule and back), with and without state."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from equijax import gspaces, nn
from equijax.nn import _misc

C4 = gspaces.rot2dOnR2(4)


def _x(ftype, batch=2, size=5, seed=0):
    shape = (batch, ftype.size, size, size)
    return nn.GeometricTensor(jnp.asarray(np.random.default_rng(seed).standard_normal(shape), jnp.float32), ftype)


def test_check_field_type():
    t = nn.FieldType(C4, [C4.regular_repr])
    assert _misc.check_field_type(t) is t
    with pytest.raises(TypeError, match=r"^`in_type` \(=3\) must be a FieldType$"):
        _misc.check_field_type(3)
    with pytest.raises(TypeError, match=r"^`out_type` \(='a'\) must be a FieldType$"):
        _misc.check_field_type("a", "out_type")


def _recorder(params: str):
    """A member whose signature is ``(x{params})``; it records the number of positional
    arguments and the keyword names of each call, and returns ``(x, "new state")`` when
    given a state."""
    calls = []
    ns: dict = {"calls": calls}
    exec(
        f"def member(x{params}):\n"
        "    kw = {k: v for k, v in locals().items() if k not in ('x', 'state') and v is not None}\n"
        "    calls.append(('state' in locals() and state is not None, sorted(kw)))\n"
        "    return (x, 'new state') if 'state' in locals() and state is not None else x\n",
        ns,
    )
    return ns["member"], calls


def test_call_member_passes_only_what_the_member_takes():
    key = jax.random.key(0)
    plain, calls = _recorder("")
    assert _misc.call_member(plain, ["x"], _misc.MISSING, key, True, "container") == ("x", _misc.MISSING)
    assert calls == [(False, [])]
    keyed, calls = _recorder(", *, key=None, inference=None")
    assert _misc.call_member(keyed, ["x"], "s", key, True, "container") == ("x", "s")
    assert calls == [(False, ["inference", "key"])]
    _misc.call_member(keyed, ["x"], "s", None, None, "container")  # None is never passed on
    assert calls[-1] == (False, [])
    stateful, calls = _recorder(", state, *, key=None")
    assert _misc.call_member(stateful, ["x"], "s", key, None, "container") == ("x", "new state")
    assert calls == [(True, ["key"])]


def test_call_member_without_state():
    optional, calls = _recorder(", state=None")
    assert _misc.call_member(optional, ["x"], _misc.MISSING, None, None, "MergeModule") == ("x", _misc.MISSING)
    assert calls == [(False, [])]
    required, calls = _recorder(", state")  # a member that cannot run without state
    with pytest.raises(ValueError, match=r"^function keeps state .*call the MergeModule as `y, state = model"):
        _misc.call_member(required, ["x"], _misc.MISSING, None, None, "MergeModule")
    assert calls == []


def test_split_keys_and_takes():
    assert _misc.split_keys(None, 3) == [None, None, None]
    keys = _misc.split_keys(jax.random.key(1), 2)
    assert len(keys) == 2 and not np.array_equal(jax.random.key_data(keys[0]), jax.random.key_data(keys[1]))
    assert _misc.takes(lambda x, *, key=None: x, "key") and not _misc.takes(lambda x: x, "key")
    assert _misc.state_is_optional(nn.MergeModule([(nn.IdentityModule(nn.FieldType(C4, [C4.trivial_repr])), "a")]))
    assert not _misc.state_is_optional(_recorder(", state")[0])
    assert not _misc.state_is_optional(_recorder("")[0])  # no state at all


def test_channel_index_and_take_channels():
    t = nn.FieldType(C4, [C4.trivial_repr, C4.regular_repr, C4.trivial_repr])
    assert _misc.channel_index(t, [2, 0]).tolist() == [5, 0]
    assert _misc.channel_index(t, [1]).tolist() == [1, 2, 3, 4]
    assert _misc.channel_index(t, []).shape == (0,)
    a = jnp.arange(2 * 6 * 3, dtype=jnp.float32).reshape(2, 6, 3)
    assert _misc.take_channels(a, tuple(range(6)), -2) is a  # the whole axis: no copy
    np.testing.assert_array_equal(_misc.take_channels(a, (1, 2, 3), -2), a[:, 1:4])
    np.testing.assert_array_equal(_misc.take_channels(a, (5, 0), -2), a[:, [5, 0]])


def test_export_member():
    t = nn.FieldType(C4, [C4.regular_repr])
    bn, state = eqx.nn.make_with_state(nn.InnerBatchNorm)(t)
    assert isinstance(_misc.export_member(bn, state), eqx.Module)
    assert isinstance(_misc.export_member(nn.IdentityModule(t), state), eqx.nn.Identity)


def test_sequential_and_merge_nested_in_each_other():
    t = nn.FieldType(C4, [C4.regular_repr])
    x = _x(t)
    relu = nn.ReLU(t)
    # no stateful member: the containers may be called without state, nested either way
    merge = nn.MergeModule([(nn.SequentialModule(relu, nn.IdentityModule(t)), "a")])
    np.testing.assert_array_equal(merge({"a": x}).tensor, jax.nn.relu(x.tensor))
    seq = nn.SequentialModule(nn.MultipleModule(t, ["a"], [(nn.SequentialModule(relu), "a")]), nn.IdentityModule(t))
    np.testing.assert_array_equal(seq(x).tensor, jax.nn.relu(x.tensor))
    # a batch norm deep inside: state threads through all three, and a call without it is refused
    model, state = eqx.nn.make_with_state(
        lambda: nn.SequentialModule(
            nn.MultipleModule(t, ["a"], [(nn.SequentialModule(nn.InnerBatchNorm(t), relu), "a")]), relu
        )
    )()
    old = [np.asarray(a) for a in jax.tree_util.tree_leaves(state)]
    y, new_state = model(x, state)
    assert y.shape == x.shape
    new = jax.tree_util.tree_leaves(new_state)
    assert any(not np.array_equal(a, b) for a, b in zip(old, new))  # the running statistics moved
    with pytest.raises(ValueError, match="keeps state"):
        model(x)
