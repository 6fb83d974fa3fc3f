"""escnn code ports with the import line and Equinox's keys only (issue 13): escnn's argument
names and order, iterable `testing_elements`, FieldType / module conveniences, `g @ x`,
GeometricTensor slicing, and messages that say what to write instead."""

import inspect
from collections import OrderedDict

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from equijax import gspaces, nn

KEY = jax.random.key(0)


@pytest.fixture(scope="module")
def c4():
    return gspaces.rot2dOnR2(4)


@pytest.fixture(scope="module")
def types(c4):
    a = nn.FieldType(c4, [c4.trivial_repr])
    b = nn.FieldType(c4, 2 * [c4.regular_repr])
    return a, b


def _names(cls):
    return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]


# -- 1. `bias=` next to `use_bias=` --------------------------------------------------------


def test_bias_and_use_bias_are_one_rule(types):
    a, b = types
    for make in (
        lambda **kw: nn.R2Conv(a, b, 3, key=KEY, **kw),
        lambda **kw: nn.R2ConvTransposed(a, b, 3, key=KEY, **kw),
    ):
        assert make().bias is not None and make().use_bias
        for kw in ({"bias": False}, {"use_bias": False}, {"bias": False, "use_bias": False}):
            m = make(**kw)
            assert m.bias is None and not m.use_bias
        assert make(bias=True, use_bias=True).bias is not None
        with pytest.raises(ValueError, match="`bias`.*`use_bias`"):
            make(bias=True, use_bias=False)
        with pytest.raises(TypeError, match="`bias`"):
            make(bias="no")
        with pytest.raises(TypeError, match="`use_bias`"):
            make(use_bias=1)
    g = gspaces.no_base_space(c4_group())
    t = nn.FieldType(g, [g.trivial_repr, g.regular_repr])
    assert nn.Linear(t, t, bias=False, key=KEY).bias is None
    assert nn.Linear(t, t, use_bias=False, key=KEY).bias is None
    assert nn.Linear(t, t, key=KEY).bias is not None
    with pytest.raises(ValueError, match="`bias`.*`use_bias`"):
        nn.Linear(t, t, bias=False, use_bias=True, key=KEY)


def c4_group():
    return gspaces.rot2dOnR2(4).fibergroup


def test_induced_norm_nonlinearity_takes_use_bias():
    gs = gspaces.rot2dOnR2(4)
    G = gs.fibergroup
    rep = G.induced_representation(2, G.subgroup(2)[0].regular_representation)
    t = nn.FieldType(gs, [rep])
    assert nn.InducedNormNonLinearity(t, use_bias=False).log_bias is None
    assert nn.InducedNormNonLinearity(t, bias=False).log_bias is None
    with pytest.raises(ValueError, match="`bias`.*`use_bias`"):
        nn.InducedNormNonLinearity(t, bias=False, use_bias=True)


# -- 2. escnn's positional order ------------------------------------------------------------

_ESCNN_R2CONV = ["in_type", "out_type", "kernel_size", "padding", "stride", "dilation", "padding_mode", "groups",
                 "bias", "sigma", "frequencies_cutoff", "rings", "maximum_offset", "recompute", "basis_filter",
                 "initialize"]  # fmt: skip
_ESCNN_R2CONV_T = ["in_type", "out_type", "kernel_size", "padding", "output_padding", "stride", "dilation", "groups",
                   "bias", "sigma", "frequencies_cutoff", "rings", "maximum_offset", "recompute", "basis_filter",
                   "initialize"]  # fmt: skip
_ESCNN_LINEAR = ["in_type", "out_type", "bias", "basisexpansion", "recompute", "initialize"]


@pytest.mark.parametrize(
    "cls, escnn", [(nn.R2Conv, _ESCNN_R2CONV), (nn.R2ConvTransposed, _ESCNN_R2CONV_T), (nn.Linear, _ESCNN_LINEAR)]
)
def test_escnn_positional_order(cls, escnn):
    params = inspect.signature(cls.__init__).parameters
    positional = [n for n, p in params.items() if n != "self" and p.kind is p.POSITIONAL_OR_KEYWORD]
    assert positional == escnn
    assert params["key"].kind is inspect.Parameter.KEYWORD_ONLY
    assert params["use_bias"].kind is inspect.Parameter.KEYWORD_ONLY


def test_r2conv_positional_calls_as_in_escnn(types):
    a, b = types
    conv = nn.R2Conv(a, b, 3, 1, 1, 1, "circular", key=KEY)
    assert conv.padding_mode == "circular" and conv.padding == (1, 1)
    conv = nn.R2Conv(a, b, 3, 1, 2, 1, "zeros", 1, False, None, None, None, None, False, None, False, key=KEY)
    assert conv.stride == (2, 2) and conv.bias is None and not np.any(conv.weights)
    t = nn.R2ConvTransposed(b, a, 3, 1, 1, 2, 1, 1, False, key=KEY)
    assert t.output_padding == (1, 1) and t.stride == (2, 2) and t.bias is None
    with pytest.raises(TypeError, match="`recompute`"):
        nn.R2Conv(a, b, 3, recompute="yes", key=KEY)
    with pytest.raises(ValueError, match="`maximum_offset`"):
        nn.R2Conv(a, b, 3, maximum_offset=-1, key=KEY)
    assert nn.R2Conv(a, b, 3, maximum_offset=2, recompute=True, key=KEY).kernel_size == 3
    with pytest.raises(ValueError, match="`padding_mode`.*escnn's.*`groups=`"):
        nn.R2Conv(a, b, 3, 1, 1, 1, 1, key=KEY)  # equijax's old order put `groups` here


def test_linear_positional_calls_as_in_escnn():
    g = gspaces.no_base_space(c4_group())
    t = nn.FieldType(g, [g.trivial_repr, g.regular_repr])
    lin = nn.Linear(t, t, False, "blocks", False, False, key=KEY)
    assert lin.bias is None and not np.any(lin.weights)
    with pytest.raises(ValueError, match="`basisexpansion`"):
        nn.Linear(t, t, True, "dense", key=KEY)


# -- 3. testing_elements is an iterable property -----------------------------------------


def test_field_type_testing_elements_iterable_and_callable(c4, types):
    a, _ = types
    els = [g for g in a.testing_elements]
    assert len(els) == 4 and all(g.group == c4.fibergroup for g in els)
    assert list(a.testing_elements()) == els
    assert len(a.testing_elements) == 4


# -- 4. FieldType and module conveniences ------------------------------------------------


def test_field_type_conveniences():
    gs = gspaces.flipRot2dOnR2(4)
    t = nn.FieldType(gs, [gs.regular_repr, gs.irrep(1, 1), gs.regular_repr])
    assert t.fields_names() == [r.name for r in t.representations]
    assert not t.uniform and nn.FieldType(gs, 3 * [gs.regular_repr]).uniform
    Q = np.asarray(t.change_of_basis)
    assert Q.shape == (t.size, t.size)
    for r, s, e in zip(t.representations, t.fields_start, t.fields_end):
        np.testing.assert_allclose(Q[s:e, s:e], r.change_of_basis)
    np.testing.assert_allclose(np.asarray(t.change_of_basis_inv) @ Q, np.eye(t.size), atol=1e-12)
    np.testing.assert_allclose(np.asarray(t.change_of_basis.todense()), Q)
    dense = t.get_dense_change_of_basis()
    assert isinstance(dense, jax.Array)
    np.testing.assert_allclose(dense, Q, atol=1e-6)
    np.testing.assert_allclose(t.get_dense_change_of_basis_inv(), Q.T, atol=1e-6)
    g = gs.fibergroup.element((1, 1))
    rho = t.fiber_representation(g)
    assert isinstance(rho, jax.Array)
    np.testing.assert_allclose(rho, t.fiber_matrix(g), atol=1e-6)
    # the change of basis maps the irreps' block-diagonal action to the fields' action
    irr = np.zeros((t.size, t.size))
    p = 0
    for i in t.irreps:
        d = gs.fibergroup.irrep(*i).size
        irr[p : p + d, p : p + d] = gs.fibergroup.irrep(*i)(g)
        p += d
    np.testing.assert_allclose(Q @ irr @ Q.T, t.fiber_matrix(g), atol=1e-10)


def test_conv_filter_and_expanded_bias(types):
    a, b = types
    conv = nn.R2Conv(a, b, 3, key=KEY)
    F, bias = conv.expand_parameters()
    np.testing.assert_array_equal(conv.filter, F)
    np.testing.assert_array_equal(conv.expanded_bias, bias)
    assert conv.filter.shape == (b.size, a.size, 3, 3)
    assert nn.R2Conv(a, b, 3, bias=False, key=KEY).expanded_bias is None
    np.testing.assert_array_equal(conv.eval().filter, F)
    t = nn.R2ConvTransposed(b, a, 3, key=KEY)
    assert t.filter.shape == (a.size, b.size, 3, 3) and t.expanded_bias.shape == (a.size,)
    g = gspaces.no_base_space(c4_group())
    ft = nn.FieldType(g, [g.trivial_repr, g.regular_repr])
    lin = nn.Linear(ft, ft, key=KEY)
    W, lb = lin.expand_parameters()
    np.testing.assert_array_equal(lin.matrix, W)
    np.testing.assert_array_equal(lin.expanded_bias, lb)


def test_check_equivariance_default_key_and_escnn_positional_tolerances(types):
    a, b = types
    conv = nn.R2Conv(a, b, 3, key=KEY)
    errs = conv.check_equivariance()
    assert len(errs) == 4 and max(e for _, e in errs) < 1e-5
    assert conv.check_equivariance(1e-4, 1e-4) == errs  # escnn: check_equivariance(atol, rtol)


def test_sequential_module_ordered_dict(types):
    a, b = types
    conv1 = nn.R2Conv(a, b, 3, padding=1, key=KEY)
    relu = nn.ReLU(b)
    conv2 = nn.R2Conv(b, b, 3, padding=1, key=jax.random.key(1))
    model = nn.SequentialModule(OrderedDict([("conv1", conv1), ("relu", relu), ("conv2", conv2)]))
    assert model.conv1 is conv1 and model["relu"] is relu and model[2] is conv2 and model[-1] is conv2
    assert list(model) == [conv1, relu, conv2] and len(model) == 3
    assert [n for n, _ in model.named_children()] == ["conv1", "relu", "conv2"]
    head = model[:2]
    assert isinstance(head, nn.SequentialModule) and head.relu is relu and head.out_type == b
    assert model[1:].conv2 is conv2
    plain = nn.SequentialModule(conv1, relu)
    assert [n for n, _ in plain.named_children()] == ["0", "1"] and plain["1"] is relu
    x = nn.GeometricTensor(jax.random.normal(KEY, (2, 1, 7, 7)), a)
    np.testing.assert_allclose(model(x).tensor, conv2(relu(conv1(x))).tensor, atol=1e-6)
    # tree surgery by name, as Equinox users do
    swapped = eqx.tree_at(lambda m: m.conv2, model, conv1.__class__(b, b, 3, padding=1, key=jax.random.key(7)))
    assert swapped.conv2.kernel_size == 3 and not np.array_equal(swapped.conv2.weights, conv2.weights)
    np.testing.assert_array_equal(swapped.conv1.weights, conv1.weights)
    with pytest.raises(KeyError, match="'nope'.*conv1"):
        model["nope"]
    with pytest.raises(AttributeError, match="nope"):
        _ = model.nope
    with pytest.raises(AttributeError, match="immutable"):
        model.add_module("x", relu)
    with pytest.raises(ValueError, match="name"):
        nn.SequentialModule(OrderedDict([("layers", conv1)]))
    with pytest.raises(ValueError, match="name"):
        nn.SequentialModule({"a.b": conv1})
    with pytest.raises(TypeError, match="name"):
        nn.SequentialModule({3: conv1})


# -- 5. g @ x -------------------------------------------------------------------------------


def test_group_element_matmul_geometric_tensor(c4, types):
    _, b = types
    x = nn.GeometricTensor(jax.random.normal(KEY, (2, b.size, 5, 5)), b)
    g = c4.fibergroup.element(1)
    y = g @ x
    assert isinstance(y, nn.GeometricTensor) and y.type == b
    np.testing.assert_allclose(y.tensor, x.transform(g).tensor)
    with pytest.raises(TypeError):
        3 @ x
    h = gspaces.rot2dOnR2(8).fibergroup.element(1)
    with pytest.raises(ValueError, match="`g`"):
        h @ x


def test_geometric_tensor_to_device_or_dtype(types):
    _, b = types
    x = nn.GeometricTensor(jnp.ones((2, b.size, 3, 3)), b)
    assert x.to("cpu").type == b and x.to(jax.devices()[0]).shape == x.shape
    assert x.to(jnp.float16).dtype == jnp.float16 and x.to("bfloat16").dtype == jnp.bfloat16
    with pytest.raises(ValueError, match="`target`"):
        x.to("cpu:99")
    with pytest.raises(ValueError, match="`target`"):
        x.to(object())


# -- 6. GeometricTensor indexing ---------------------------------------------------------


def test_geometric_tensor_selects_fields_and_crops(c4):
    t = nn.FieldType(c4, [c4.trivial_repr, c4.regular_repr, c4.irrep(1), c4.regular_repr])
    arr = jax.random.normal(KEY, (3, t.size, 9, 9))
    x = nn.GeometricTensor(arr, t)
    y = x[:, 1:3]
    assert y.type == t.index_select([1, 2]) and y.shape == (3, 6, 9, 9)
    np.testing.assert_array_equal(y.tensor, arr[:, 1:7])
    y = x[:, 1]
    assert y.type == t.index_select([1]) and y.shape == (3, 4, 9, 9)
    y = x[:, [3, 0]]
    assert y.type == t.index_select([3, 0])
    np.testing.assert_array_equal(y.tensor, jnp.concatenate([arr[:, 7:11], arr[:, 0:1]], axis=1))
    y = x[:, np.array([True, False, True, False])]
    assert y.type == t.index_select([0, 2])
    y = x[:, ::-2]
    assert y.type == t.index_select([3, 1])
    y = x[..., 2:5, 2:5]
    assert y.type == t and y.shape == (3, t.size, 3, 3)
    np.testing.assert_array_equal(y.tensor, arr[..., 2:5, 2:5])
    y = x[:, :, 4, 2:5]
    assert y.shape == (3, t.size, 1, 3)  # an integer keeps a spatial axis (size 1), as in escnn
    assert x[0].shape == (t.size, 9, 9) and x[1:].shape == (2, t.size, 9, 9)
    np.testing.assert_array_equal(x[0, 1:2].tensor, arr[0, 1:5])
    assert x[:, -1].type == t.index_select([3])
    # under jit, indices are static
    np.testing.assert_array_equal(jax.jit(lambda v: v[:, 2:, 1:-1, 1:-1])(x).tensor, arr[:, 5:, 1:-1, 1:-1])
    # unbatched: the first index is the field axis
    assert x[0][2:].type == t.index_select([2, 3])


def test_geometric_tensor_indexing_refusals(c4):
    t = nn.FieldType(c4, [c4.trivial_repr, c4.regular_repr, c4.regular_repr])
    x = nn.GeometricTensor(jnp.zeros((2, t.size, 5, 5)), t)
    with pytest.raises(IndexError, match="3 fields.*9 channels"):
        x[:, 0:6]  # channels, not fields
    with pytest.raises(IndexError, match="no field"):
        x[:, 2:1]
    with pytest.raises(IndexError, match="field 5"):
        x[:, [0, 5]]
    with pytest.raises(IndexError, match="boolean mask"):
        x[:, np.array([True, False])]
    with pytest.raises(IndexError, match="no pixel"):
        x[..., 3:3, :]
    with pytest.raises(IndexError, match="too many"):
        x[0, 0, 0, 0, 0]
    with pytest.raises(IndexError, match="Ellipsis"):
        x[..., 0, ...]
    with pytest.raises(IndexError, match="None"):
        x[None]
    with pytest.raises(IndexError, match="field"):
        x[:, jnp.array([0, 1])]
    g = gspaces.no_base_space(c4.fibergroup)
    ft = nn.FieldType(g, [g.trivial_repr, g.regular_repr])
    v = nn.GeometricTensor(jnp.arange(10.0).reshape(2, 5), ft)
    assert v[:, 1:].type == ft.index_select([1]) and v[:, 1:].shape == (2, 4)


# -- 7. messages that say what to write instead -------------------------------------------


def test_stateful_call_message_names_make_with_state(types):
    a, b = types
    seq = nn.SequentialModule(nn.R2Conv(a, b, 3, key=KEY), nn.InnerBatchNorm(b))
    x = nn.GeometricTensor(jnp.zeros((2, 1, 7, 7)), a)
    with pytest.raises(ValueError, match=r"eqx\.nn\.make_with_state"):
        seq(x)
    multiple = nn.MultipleModule(b, ["a", "b"], [(nn.InnerBatchNorm(b.index_select([0])), "a"),
                                                 (nn.ReLU(b.index_select([1])), "b")])  # fmt: skip
    with pytest.raises(ValueError, match=r"eqx\.nn\.make_with_state"):
        multiple(nn.GeometricTensor(jnp.zeros((2, b.size, 5, 5)), b))


def test_so2_maximum_frequency_mismatch_is_named():
    a = gspaces.rot2dOnR2(-1, maximum_frequency=3)
    b = gspaces.rot2dOnR2(-1, maximum_frequency=5)
    ta, tb = nn.FieldType(a, [a.irrep(1)]), nn.FieldType(b, [b.irrep(1)])
    for fn in (
        lambda: nn.R2Conv(ta, tb, 3, key=KEY),
        lambda: ta + tb,
        lambda: nn.FieldType(a, [b.irrep(1)]),
        lambda: nn.GeometricTensor(jnp.zeros((1, 2, 3, 3)), ta) + nn.GeometricTensor(jnp.zeros((1, 2, 3, 3)), tb),
        lambda: nn.R2Conv(ta, ta, 3, key=KEY)(nn.GeometricTensor(jnp.zeros((1, 2, 5, 5)), tb)),
        lambda: nn.SequentialModule(nn.IdentityModule(ta), nn.IdentityModule(tb)),
    ):
        with pytest.raises(ValueError, match=r"maximum_frequency=[35]\b.*maximum_frequency=[35]\b"):
            fn()
    ga, gb = gspaces.no_base_space(a.fibergroup), gspaces.no_base_space(b.fibergroup)
    with pytest.raises(ValueError, match=r"maximum_frequency=3.*maximum_frequency=5"):
        nn.Linear(nn.FieldType(ga, [ga.trivial_repr]), nn.FieldType(gb, [gb.trivial_repr]), key=KEY)


@pytest.mark.parametrize("dtype", ["flaot32", "int32", jnp.int32, np.uint8, "complex64", 3, "bool"])
def test_bad_parameter_dtype_is_refused(types, dtype):
    a, b = types
    with pytest.raises((TypeError, ValueError), match="`dtype`"):
        nn.R2Conv(a, b, 3, dtype=dtype, key=KEY)
    g = gspaces.no_base_space(c4_group())
    t = nn.FieldType(g, [g.trivial_repr])
    with pytest.raises((TypeError, ValueError), match="`dtype`"):
        nn.Linear(t, t, dtype=dtype, key=KEY)


def test_good_parameter_dtypes(types):
    a, b = types
    assert nn.R2Conv(a, b, 3, dtype="bfloat16", key=KEY).weights.dtype == jnp.bfloat16
    assert nn.R2Conv(a, b, 3, dtype=jnp.float16, key=KEY).weights.dtype == jnp.float16
    assert nn.R2Conv(a, b, 3, dtype="float32", key=KEY).weights.dtype == jnp.float32


# -- 8. inputs smaller than the kernel -------------------------------------------------------


def test_r2conv_refuses_inputs_smaller_than_its_kernel(types):
    a, b = types
    conv = nn.R2Conv(a, b, 5, key=KEY)
    x = nn.GeometricTensor(jnp.zeros((2, 1, 4, 9)), a)
    with pytest.raises(ValueError, match=r"4x9.*kernel_size.*5.*padding"):
        conv(x)
    with pytest.raises(ValueError, match="4x9"):
        eqx.filter_jit(conv)(x)
    assert nn.R2Conv(a, b, 5, padding=1, key=KEY)(nn.GeometricTensor(jnp.zeros((2, 1, 3, 3)), a)).shape[-2:] == (1, 1)
    dil = nn.R2Conv(a, b, 3, dilation=3, key=KEY)  # extent 7
    with pytest.raises(ValueError, match=r"6x6.*dilation"):
        dil(nn.GeometricTensor(jnp.zeros((1, 6, 6)), a))
    assert dil(nn.GeometricTensor(jnp.zeros((1, 7, 7)), a)).shape == (b.size, 1, 1)
    circ = nn.R2Conv(a, b, 5, padding=1, padding_mode="circular", key=KEY)
    with pytest.raises(ValueError, match="2x2"):
        circ(nn.GeometricTensor(jnp.zeros((1, 2, 2)), a))


def test_r2conv_transposed_refuses_empty_outputs(types):
    a, b = types
    t = nn.R2ConvTransposed(a, b, 3, padding=2, key=KEY)  # output (H - 1) - 4 + 3 = H - 2
    with pytest.raises(ValueError, match=r"2x2.*padding"):
        t(nn.GeometricTensor(jnp.zeros((1, 1, 2, 2)), a))
    assert t(nn.GeometricTensor(jnp.zeros((1, 1, 3, 3)), a)).shape == (1, b.size, 1, 1)


def test_type_mismatch_is_a_value_error_and_escnn_assertion():
    # escnn asserts input types; code that catches AssertionError must keep working
    gs = gspaces.rot2dOnR2(4)
    relu = nn.ReLU(nn.FieldType(gs, [gs.trivial_repr]))
    x = nn.GeometricTensor(jnp.ones((1, 4, 3, 3)), nn.FieldType(gs, [gs.regular_repr]))
    for exc in (ValueError, AssertionError, nn.FieldTypeMismatchError):
        with pytest.raises(exc, match="ReLU expects"):
            relu(x)
