"""Structural modules: RestrictionModule, DisentangleModule, ReshuffleModule,
BranchingModule, MergeModule, MultipleModule (escnn semantics, equivariance with negative
controls, state threading, jit/grad/vmap, float64, export, bad input)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from equijax import gspaces, nn
from equijax.testing import assert_equivariant, grid_exact_elements

C4, D4, C8, D8 = gspaces.rot2dOnR2(4), gspaces.flipRot2dOnR2(4), gspaces.rot2dOnR2(8), gspaces.flipRot2dOnR2(8)
SO2, O2 = gspaces.rot2dOnR2(-1, maximum_frequency=4), gspaces.flipRot2dOnR2(-1, maximum_frequency=4)
GSPACES = [C4, D4, C8]


_RNG = np.random.default_rng(0)


def randn(ftype, batch=2, size=9):
    """A standard-normal input drawn with numpy (jax.random would compile a program for
    every shape)."""
    shape = (batch, ftype.size) + ((size, size) if ftype.gspace.dimensionality == 2 else ())
    return nn.GeometricTensor(jnp.asarray(_RNG.standard_normal(shape), dtype=jnp.result_type(float)), ftype)


@eqx.filter_jit
def call(m, *args, **kwargs):
    """``m(*args, **kwargs)``, compiled: one compilation instead of many eager ops."""
    return m(*args, **kwargs)


def clone(state):
    leaves, treedef = jax.tree_util.tree_flatten(state)
    return jax.tree_util.tree_unflatten(treedef, leaves)


def mixed_type(gs):
    """Regular, trivial and a 2-dimensional irrep (or, for SO(2)/O(2), irreps only)."""
    two = [p for p in gs.irreps if p.size == 2][0]
    if gs.fibergroup.continuous:
        return nn.FieldType(gs, [two, gs.trivial_repr, gs.irreps[1], two])
    return nn.FieldType(gs, [gs.regular_repr, two, gs.trivial_repr, gs.regular_repr])


# -- RestrictionModule -----------------------------------------------------------------------

RESTRICTIONS = [(C4, 2), (D4, (None, 4)), (D4, (0, 2)), (D4, (1, 2)), (C8, 4), (D8, (0, 4)), (SO2, 4), (O2, (0.0, 4))]


@pytest.mark.parametrize("gs, sid", RESTRICTIONS, ids=lambda v: repr(v))
def test_restriction_is_equivariant_for_the_subgroup(gs, sid, getkey):
    t = mixed_type(gs)
    m = nn.RestrictionModule(t, sid)
    sub, inclusion, _ = gs.fibergroup.subgroup(sid)
    assert m.out_type == t.restrict(sid) and m.out_type.fibergroup == sub and m.out_type.size == t.size
    # the restricted representations are the same matrices on the subgroup's elements
    for h in sub.testing_elements()[:8]:
        np.testing.assert_allclose(m.out_type.fiber_matrix(h), t.fiber_matrix(inclusion(h)), atol=1e-9)
    x = randn(t, size=5)
    errs = [
        float(jnp.max(jnp.abs(m(x.transform(inclusion(h))).tensor - m(x).transform(h).tensor)))
        for h in grid_exact_elements(m.out_type.gspace)
    ]
    assert len(errs) >= 2 and max(errs) < 1e-6
    y = m(x)
    assert y.type == m.out_type
    np.testing.assert_array_equal(y.tensor, x.tensor)  # no data movement
    np.testing.assert_array_equal(jax.vmap(m.export())(x.tensor), x.tensor)


class _ForgetfulRestriction(nn.RestrictionModule):
    """A wrong restriction: labels the data with the subgroup's regular representation,
    forgetting the change of basis that the restricted representation carries."""

    def __call__(self, x, *, key=None):
        g = self.out_type.gspace
        return nn.GeometricTensor(
            x.tensor, nn.FieldType(g, [g.regular_repr] * (self.out_type.size // g.regular_repr.size))
        )


def test_restriction_negative_control(getkey):
    t = nn.FieldType(D8, [D8.regular_repr])
    assert nn.RestrictionModule(t, (0, 4)).check_equivariance(key=getkey(), input_size=9)
    with pytest.raises(AssertionError, match="not equivariant"):
        _ForgetfulRestriction(t, (0, 4)).check_equivariance(key=getkey(), input_size=9)


@pytest.mark.parametrize(
    "gs, sid",
    [(C8, 3), (D4, (0, 3)), (D4, (4, 1)), (D4, 2), (O2, (None, 0)), (C4, "C2")],
    ids=repr,
)
def test_restriction_bad_id(gs, sid):
    with pytest.raises(ValueError, match="`id` .* is not a subgroup id of"):
        nn.RestrictionModule(mixed_type(gs), sid)


# -- DisentangleModule -----------------------------------------------------------------------


def test_disentangle_restricted_regular_fields():
    # D8 regular seen by D4: two cosets, two regular D4 fields (escnn's use case)
    t = nn.FieldType(D8, [D8.regular_repr, D8.trivial_repr, D8.irrep(1, 2)])
    r = nn.RestrictionModule(t, (0, 4))
    d = nn.DisentangleModule(r.out_type)
    g4 = r.out_type.gspace
    assert list(d.out_type.representations[:2]) == [g4.regular_repr] * 2
    assert d.out_type.size == t.size and sorted(d.index) == list(range(t.size))
    # C8 regular seen by C4, and a 2-dimensional irrep of D8 seen by the reflection group
    c = nn.DisentangleModule(nn.FieldType(C8, [C8.regular_repr]).restrict(4))
    assert list(c.out_type.representations) == [gspaces.rot2dOnR2(4).regular_repr] * 2
    f = nn.DisentangleModule(nn.FieldType(D8, [D8.irrep(1, 1)]).restrict((0, 1)))
    assert [r.size for r in f.out_type.representations] == [1, 1]
    # fields that cannot split are unchanged
    same = nn.FieldType(D4, [D4.regular_repr, D4.irrep(1, 1), D4.trivial_repr])
    assert nn.DisentangleModule(same).out_type == same


DISENTANGLE_CASES = [
    (C4, None),
    (D4, None),
    (C8, None),
    (D8, (0, 4)),
    (D8, (None, 8)),
    (D4, (1, 2)),
    (C8, 2),
    (O2, (0.0, 4)),
    (O2, (None, -1)),
    (SO2, 4),
]


@pytest.mark.parametrize("gs, sid", DISENTANGLE_CASES, ids=repr)
def test_disentangle_is_equivariant(gs, sid, getkey):
    t = mixed_type(gs)
    if sid is not None:
        t = t.restrict(sid)
    d = nn.DisentangleModule(t)
    x = randn(t, size=9)
    assert len(assert_equivariant(d, x)) >= 2
    y = d(x)
    # a permutation of channels within each field
    np.testing.assert_array_equal(np.sort(np.asarray(y.tensor), axis=-3), np.sort(np.asarray(x.tensor), axis=-3))
    np.testing.assert_array_equal(jax.vmap(d.export())(x.tensor), y.tensor)


def test_disentangle_negative_control(getkey):
    t = nn.FieldType(D8, [D8.regular_repr] * 2).restrict((0, 4))
    d = nn.DisentangleModule(t)
    assert d.index != tuple(range(t.size))
    x = randn(t, size=9)
    # the data without the permutation, labelled with the disentangled type, is not equivariant
    with pytest.raises(AssertionError, match="not equivariant"):
        assert_equivariant(lambda v: nn.GeometricTensor(v.tensor, d.out_type), x)
    assert_equivariant(d, x)


# -- ReshuffleModule -------------------------------------------------------------------------


@pytest.mark.parametrize("gs", GSPACES + [SO2, O2], ids=repr)
def test_reshuffle(gs, getkey):
    t = mixed_type(gs)
    perm = [2, 0, 3, 1]
    m = nn.ReshuffleModule(t, perm)
    assert list(m.out_type.representations) == [t.representations[i] for i in perm]
    x = randn(t, size=9)
    y = m(x)
    for i, p in enumerate(perm):
        np.testing.assert_array_equal(
            y.tensor[:, m.out_type.fields_start[i] : m.out_type.fields_end[i]],
            x.tensor[:, t.fields_start[p] : t.fields_end[p]],
        )
    assert len(assert_equivariant(m, x)) >= 2
    np.testing.assert_array_equal(m.export()(x.tensor), y.tensor)
    # negative control: the permuted data with the input's type
    if t.representations != m.out_type.representations:
        with pytest.raises(AssertionError, match="not equivariant"):
            assert_equivariant(lambda v: nn.GeometricTensor(m(v).tensor, t), x)


@pytest.mark.parametrize("perm", [[0, 1, 2], [0, 1, 2, 2], [0, 1, 2, 4], "0123", [0.0, 1, 2, 3], 3])
def test_reshuffle_bad_permutation(perm):
    with pytest.raises(ValueError, match="`permutation`"):
        nn.ReshuffleModule(mixed_type(C4), perm)


# -- BranchingModule -------------------------------------------------------------------------


def test_branching_labels_and_reshuffle(getkey):
    gs = D4
    t = nn.FieldType(gs, [gs.regular_repr, gs.irrep(1, 1), gs.trivial_repr, gs.regular_repr, gs.irrep(1, 1)])
    labels = ["p", "n", "p", "p", "n"]
    b = nn.BranchingModule(t, labels)
    assert b.out_type == {"p": t.index_select([0, 2, 3]), "n": t.index_select([1, 4])}
    x = randn(t, size=5)
    ys = b(x)
    assert set(ys) == {"p", "n"} and ys["p"].type == b.out_type["p"]
    np.testing.assert_array_equal(ys["n"].tensor, jnp.concatenate([x.tensor[:, 8:10], x.tensor[:, 19:21]], axis=1))
    assert b.evaluate_output_shape(x.shape) == {"p": (2, 17, 5, 5), "n": (2, 4, 5, 5)}
    # reshuffle 2 sorts by label then size: the trivial field comes first among "p"
    b2 = nn.BranchingModule(t, labels, reshuffle=2)
    assert b2.out_type["p"] == t.index_select([2, 0, 3])
    assert len(b2.check_equivariance(key=getkey(), input_size=9)) >= 8
    # jit: the dict output is a pytree
    yj = eqx.filter_jit(b)(x)
    for k in ys:
        np.testing.assert_array_equal(yj[k].tensor, ys[k].tensor)
    exported = b.export()(x.tensor)
    assert all(np.array_equal(exported[k], ys[k].tensor) for k in ys)


@pytest.mark.parametrize(
    "labels, reshuffle, exc, match",
    [
        (["a", "b"], 0, ValueError, "`labels` has 2 entries"),
        ("abcd", 0, TypeError, "`labels`"),
        (["a", "b", 3, "a"], 0, TypeError, "labels must be strings"),
        (["a"] * 4, 4, ValueError, "`reshuffle`"),
        (["a"] * 4, True, ValueError, "`reshuffle`"),
    ],
)
def test_branching_bad_input(labels, reshuffle, exc, match):
    with pytest.raises(exc, match=match):
        nn.BranchingModule(mixed_type(C4), labels, reshuffle=reshuffle)


# -- MergeModule / MultipleModule ------------------------------------------------------------


def split_type(gs):
    two = [p for p in gs.irreps if p.size == 2][0]
    t = nn.FieldType(gs, [gs.regular_repr, two, gs.trivial_repr, two, gs.regular_repr])
    return t, ["p", "n", "p", "n", "p"]


def stateless_multiple(gs, reshuffle=0):
    t, labels = split_type(gs)
    b = nn.BranchingModule(t, labels, reshuffle=reshuffle).out_type
    norm = eqx.tree_at(lambda m: m.log_bias, nn.NormNonLinearity(b["n"]), jnp.array([-1.2, -0.7]))
    return nn.MultipleModule(t, labels, [(norm, "n"), (nn.ELU(b["p"]), "p")], reshuffle=reshuffle)


@pytest.mark.parametrize("gs", GSPACES, ids=repr)
def test_multiple_stateless(gs, getkey):
    m = stateless_multiple(gs)
    t, _ = split_type(gs)
    # escnn's order: the outputs of the modules, in the order of `modules`
    assert list(m.out_type.representations) == [t.representations[i] for i in (1, 3, 0, 2, 4)]
    x = randn(t, size=9)
    y = call(m, x)
    y_n = call(m.merging.modules[0], nn.BranchingModule(t, ["p", "n", "p", "n", "p"])(x)["n"])
    np.testing.assert_allclose(y.tensor[:, :4], y_n.tensor, atol=1e-6)
    assert len(assert_equivariant(m, x)) >= 4
    np.testing.assert_allclose(call(jax.vmap(m.export()), x.tensor), y.tensor, atol=1e-6)
    # reshuffled: same fields, each branch sorted by label and size
    m3 = stateless_multiple(gs, reshuffle=3)
    assert m3.branching.out_type["p"] == t.index_select([2, 0, 4])
    assert len(assert_equivariant(m3, x)) >= 4


def test_multiple_negative_control(getkey):
    # a pointwise ELU on the "n" (irrep) fields breaks equivariance; MultipleModule is what
    # keeps pointwise maps off those fields
    t, labels = split_type(C4)
    x = randn(t, size=9)
    with pytest.raises(AssertionError, match="not equivariant"):
        assert_equivariant(lambda v: nn.GeometricTensor(jax.nn.elu(v.tensor), t), x)
    with pytest.raises(ValueError, match="act by permuting channels"):
        nn.MultipleModule(t, ["p"] * 5, [(nn.ELU(t), "p")])


@pytest.mark.parametrize("gs", [D4, C8], ids=repr)
def test_multiple_with_batch_norms(gs, getkey):
    t, labels = split_type(gs)
    b = nn.BranchingModule(t, labels).out_type
    bn_p, bn_n = nn.InnerBatchNorm(b["p"]), nn.NormBatchNorm(b["n"])
    bn_p = eqx.tree_at(lambda m: m.bias, bn_p, jnp.arange(1.0, 1.0 + bn_p.bias.size))
    m, state = eqx.nn.make_with_state(nn.MultipleModule)(t, labels, [(bn_p, "p"), (bn_n, "n")])
    x = randn(t, batch=4, size=7)
    x = nn.GeometricTensor(2.0 + 3.0 * x.tensor, t)
    y, new_state = call(m, x, clone(state))
    # the state of each member moves as if it were called alone
    yp, sp = call(bn_p, nn.BranchingModule(t, labels)(x)["p"], eqx.nn.State(bn_p))
    np.testing.assert_allclose(y.tensor[:, : b["p"].size], yp.tensor, atol=1e-5)
    np.testing.assert_allclose(
        new_state.get(m.merging.modules[0].state_index)[0], sp.get(bn_p.state_index)[0], atol=1e-6
    )
    with pytest.raises(ValueError, match="keeps state"):
        m(x)
    # equivariant in training mode and in inference mode (running statistics)
    for mode in (m.train(), m.eval()):
        errs = assert_equivariant(lambda v, mode=mode: mode(v, clone(new_state))[0], x)
        assert len(errs) >= 4
    yi, same = call(m.eval(), x, clone(new_state))
    for a, c in zip(jax.tree.leaves(same), jax.tree.leaves(new_state)):
        np.testing.assert_array_equal(a, c)
    exported = m.export(clone(new_state))
    np.testing.assert_allclose(call(jax.vmap(exported), x.tensor), yi.tensor, atol=1e-5)


def test_merge_multi_label_modules_and_keys(getkey):
    # escnn's gated pattern: a module taking two labels (gates, gated)
    gs = C8
    gates = nn.FieldType(gs, 2 * [gs.trivial_repr])
    gated = nn.FieldType(gs, [gs.irrep(1), gs.irrep(2)])
    t = nn.FieldType(gs, [gs.irrep(1), gs.trivial_repr, gs.regular_repr, gs.irrep(2), gs.trivial_repr])
    labels = ["gated", "gates", "relu", "gated", "gates"]
    gate = nn.GatedNonLinearity2((gates, gated))
    relu = nn.ReLU(nn.FieldType(gs, [gs.regular_repr]))
    m = nn.MultipleModule(t, labels, [(gate, ["gates", "gated"]), (relu, "relu")])
    assert m.out_type == gated + relu.out_type
    x = randn(t, size=9)
    assert len(assert_equivariant(m, x)) >= 4
    y = call(m, x).tensor
    np.testing.assert_allclose(call(jax.vmap(m.export()), x.tensor), y, atol=1e-6)
    # MergeModule on its own, with a dict input, and its own equivariance check
    merge = nn.MergeModule([(gate, ["gates", "gated"]), (relu, "relu")])
    assert set(merge.in_type) == {"gates", "gated", "relu"}
    np.testing.assert_allclose(call(merge, nn.BranchingModule(t, labels)(x)).tensor, y, atol=1e-6)
    assert merge.evaluate_output_shape({"gates": (2, 2, 9, 9), "gated": (2, 4, 9, 9), "relu": (2, 8, 9, 9)}) == (
        2,
        12,
        9,
        9,
    )
    assert len(merge.check_equivariance(key=getkey(), input_size=9)) >= 4
    # keys reach members that take them (dropout, in training mode)
    drop = nn.PointwiseDropout(relu.in_type, p=0.5)
    md = nn.MultipleModule(t, labels, [(gate, ["gates", "gated"]), (drop, "relu")])
    y1 = call(md, x, key=jax.random.key(1)).tensor
    y2 = call(md, x, key=jax.random.key(2)).tensor
    assert not np.allclose(y1, y2)
    np.testing.assert_array_equal(call(md, x, key=jax.random.key(1)).tensor, y1)
    np.testing.assert_allclose(call(md.eval(), x).tensor[:, 4:], x.tensor[:, 3:11])


def test_jit_grad_vmap_float64(getkey):
    gs = C4
    t, labels = split_type(gs)
    b = nn.BranchingModule(t, labels).out_type
    conv = nn.R2Conv(b["p"], b["p"], 3, padding=1, key=getkey())
    m = nn.MultipleModule(t, labels, [(conv, "p"), (nn.NormNonLinearity(b["n"]), "n")])
    x = randn(t, batch=3, size=5)
    grads = eqx.filter_jit(eqx.filter_grad(lambda m, x: jnp.sum(m(x).tensor ** 2)))(m, x)
    g = grads.merging.modules[0].weights
    assert jnp.all(jnp.isfinite(g)) and jnp.any(g != 0)
    np.testing.assert_allclose(call(jax.vmap(m), x).tensor, call(m, x).tensor, atol=1e-5)
    with jax.enable_x64(True):
        t8 = nn.FieldType(D8, [D8.regular_repr, D8.irrep(1, 1)])
        seq = nn.SequentialModule(nn.RestrictionModule(t8, (0, 4)), nn.DisentangleModule(t8.restrict((0, 4))))
        x64 = randn(t8, size=5)
        assert x64.tensor.dtype == jnp.float64
        assert seq(x64).tensor.dtype == jnp.float64
        mm = stateless_multiple(C4)
        xm = randn(mm.in_type, size=5)
        assert_equivariant(mm, xm, atol=1e-12, rtol=1e-12)
        assert call(mm, xm).tensor.dtype == jnp.float64


def test_multiple_and_merge_bad_input(getkey):
    t, labels = split_type(C4)
    b = nn.BranchingModule(t, labels).out_type
    relu = nn.ReLU(b["p"])
    with pytest.raises(ValueError, match="label 'q', which no field has"):
        nn.MultipleModule(t, labels, [(relu, "q")])
    with pytest.raises(ValueError, match=r"takes the fields labelled \['n'\]"):
        nn.MultipleModule(t, labels, [(relu, "p")])
    with pytest.raises(ValueError, match="the module for label 'n' expects"):
        nn.MultipleModule(t, labels, [(relu, "n")])
    with pytest.raises(ValueError, match="`modules`"):
        nn.MultipleModule(t, labels, [])
    with pytest.raises(ValueError, match=r"`modules\[0\]`"):
        nn.MergeModule([relu])
    with pytest.raises(TypeError, match=r"`modules\[0\]` holds"):
        nn.MergeModule([(jax.nn.relu, "p")])
    with pytest.raises(TypeError, match="label 3"):
        nn.MergeModule([(relu, 3)])
    with pytest.raises(ValueError, match="one label per input"):
        nn.MergeModule([(relu, ["p", "q"])])
    merge = nn.MergeModule([(relu, "p")])
    with pytest.raises(ValueError, match=r"no tensor for the labels \['p'\]"):
        merge({"q": randn(b["p"], size=5)})
    with pytest.raises(TypeError, match="must be a dict"):
        merge(randn(b["p"], size=5))
    m = stateless_multiple(C4)
    with pytest.raises(ValueError, match="expects"):
        m(randn(b["p"], size=5))
    with pytest.raises(TypeError, match="`in_type`"):
        nn.RestrictionModule(C4.regular_repr, 2)
    with pytest.raises(TypeError, match="`in_type`"):
        nn.DisentangleModule([C4.regular_repr])
