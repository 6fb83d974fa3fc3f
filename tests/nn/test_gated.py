"""Gated, induced, concatenated and vector-field nonlinearities: equivariance (C4, D4, C8,
SO(2), O(2) where supported), escnn's semantics on hand-computed values, negative controls,
jit/grad/vmap, float64, export and bad input."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from equijax import gspaces, nn
from equijax.group import Representation, directsum
from equijax.testing import assert_equivariant

GSPACES = [
    gspaces.rot2dOnR2(4),
    gspaces.flipRot2dOnR2(4),
    gspaces.rot2dOnR2(8),
    gspaces.rot2dOnR2(-1, maximum_frequency=3),
    gspaces.flipRot2dOnR2(-1, maximum_frequency=3),
]
C4 = GSPACES[0]


def _two(gs):
    return [p for p in gs.irreps if p.size == 2][0]


def _big(gs):
    """A larger gated field: the regular representation, or a sum of irreps for SO(2)/O(2)."""
    if not gs.fibergroup.continuous:
        return gs.regular_repr
    return directsum([p for p in gs.irreps if p.size == 2][:2])


def _induced(gs):
    """(gate, induced gated field) pairs for the group of `gs` (none for SO(2)), sorted by
    (size, sub-field size) of the gated field; the two pairs differ in that key or share a gate."""
    G = gs.fibergroup
    specs = {
        "C4": [(2, lambda H: H.irrep(1)), (2, lambda H: H.regular_representation)],
        "D4": [((None, 4), lambda H: H.irrep(1)), ((0, 2), lambda H: H.irrep(1, 0))],
        "C8": [(4, lambda H: H.irrep(1)), (2, lambda H: H.irrep(1))],
        "O(2)": [((None, -1), lambda H: H.irrep(1)), ((None, -1), lambda H: H.irrep(2))],
    }.get(G.name, [])
    pairs = [(G.quotient_representation(sid), G.induced_representation(sid, f(G.subgroup(sid)[0]))) for sid, f in specs]
    return sorted(pairs, key=lambda p: (p[1].size, p[1].induced_from[1].size))  # escnn's pairing order


def _concat_type(gs):
    G = gs.fibergroup
    if not G.continuous:
        q = gs.quotient_repr((None, G.N) if G.has_flips else 2)
        return nn.FieldType(gs, [gs.trivial_repr, gs.regular_repr, q])
    if G.has_flips:
        return nn.FieldType(gs, [gs.trivial_repr, G.quotient_representation((None, -1))])
    return nn.FieldType(gs, [gs.trivial_repr, gs.trivial_repr])


def modules(gs, seed=0):
    """One module of each kind (and variants) supported by `gs`, with non-trivial biases."""
    keys = iter([jax.random.key(seed + i) for i in range(16)])
    triv, two, one, big = gs.trivial_repr, _two(gs), gs.irreps[1], _big(gs)
    G = gs.fibergroup
    out = {
        "Gated1": nn.GatedNonLinearity1(nn.FieldType(gs, 3 * [triv] + [two, big, one]), key=next(keys)),
        "Gated1(labels, keep gates)": nn.GatedNonLinearity1(
            nn.FieldType(gs, [triv, big, triv, two, one, triv]),
            ["gate", "gated", "gate", "gated", "gated", "gate"],
            drop_gates=False,
            key=next(keys),
        ),
        "Gated2": nn.GatedNonLinearity2(
            (nn.FieldType(gs, 3 * [triv]), nn.FieldType(gs, [big, one, two])), key=next(keys)
        ),
        "GatedUniform": nn.GatedNonLinearityUniform(
            nn.FieldType(gs, 2 * [directsum([G.trivial_representation] * 2 + [two, one])]), key=next(keys)
        ),
    }
    pairs = _induced(gs)
    if pairs:
        gates, gated = [p[0] for p in pairs], [p[1] for p in pairs]
        t = nn.FieldType(gs, gates + gated)
        out["InducedGated1"] = nn.InducedGatedNonLinearity1(t, key=next(keys))
        # escnn pairs the k-th gate with the k-th gated field sorted by (size, sub-field size)
        t = nn.FieldType(gs, [gated[1], gates[0], gated[0], gates[1]])
        labels = ["gated", "gate", "gated", "gate"]
        out["InducedGated1(labels, keep gates)"] = nn.InducedGatedNonLinearity1(
            t, labels, drop_gates=False, key=next(keys)
        )
        ind = nn.FieldType(gs, gated + gated[::-1])
        m = nn.InducedNormNonLinearity(ind)
        out["InducedNorm(n_relu)"] = eqx.tree_at(lambda m: m.log_bias, m, jnp.linspace(-1.0, 0.5, len(ind)))
        out["InducedNorm(n_sigmoid)"] = nn.InducedNormNonLinearity(ind, "n_sigmoid")
        out["InducedNorm(squash)"] = nn.InducedNormNonLinearity(ind, "squash", bias=False)
    out["Concatenated(c_relu)"] = nn.ConcatenatedNonLinearity(_concat_type(gs))
    out["Concatenated(c_tanh)"] = nn.ConcatenatedNonLinearity(_concat_type(gs), "c_tanh")
    if not G.continuous and not G.has_flips:
        out["VectorField"] = nn.VectorFieldNonLinearity(nn.FieldType(gs, 2 * [gs.regular_repr]))
    return out


def _in_types(m):
    return list(m.in_type) if isinstance(m, nn.GatedNonLinearity2) else [m.in_type]


def _apply(m, parts):
    return m(*parts)


call = eqx.filter_jit(_apply)  # one compilation per module (eager calls compile every operation)


def rand(ftype, seed=0, batch=2, size=5, dtype=np.float32):
    """A standard-normal GeometricTensor drawn with numpy (no compilation per shape)."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((batch, ftype.size, size, size)).astype(dtype)
    return nn.GeometricTensor(jnp.asarray(a), ftype)


def joint(mods):
    """All modules as one map on the direct sum of their input types (one compilation)."""
    types = [t for m in mods for t in _in_types(m)]
    total = types[0]
    for t in types[1:]:
        total = total + t
    points = np.cumsum([0] + [len(t) for t in types]).tolist()

    def fn(x):
        parts = x.split(points)
        outs, i = [], 0
        for m in mods:
            k = len(_in_types(m))
            outs.append(m(*parts[i : i + k]))
            i += k
        return nn.tensor_directsum(outs)

    return total, fn


@pytest.mark.parametrize("gs", GSPACES, ids=repr)
def test_equivariance(gs):
    mods = modules(gs)
    expected = {"Gated1", "Gated2", "GatedUniform", "Concatenated(c_relu)"}
    assert expected <= set(mods)
    assert ("InducedGated1" in mods) == (gs.fibergroup.name != "SO(2)")
    assert ("VectorField" in mods) == (gs.fibergroup.name in ("C4", "C8"))
    total, fn = joint(list(mods.values()))
    x = rand(total, seed=1, size=9)
    errs = assert_equivariant(fn, x)
    assert len(errs) >= 4
    # the maps act pixel by pixel: the fibre action alone must commute with them for every testing
    # element (all 8 rotations of C8, 52 (and 52 reflections) for SO(2) / O(2)), exactly
    f = eqx.filter_jit(fn)
    y = f(x)
    for g in gs.testing_elements():
        np.testing.assert_allclose(f(x.transform_fibers(g)).tensor, y.transform_fibers(g).tensor, atol=1e-5)


def test_check_equivariance_methods():
    m = modules(gspaces.flipRot2dOnR2(4))["Gated2"]
    assert len(m.check_equivariance(key=jax.random.key(0), input_size=5)) == 8


# -- escnn's semantics on hand-computed values -------------------------------------------------------
def _sig(v):
    return 1 / (1 + np.exp(-v))


def test_gated1_pairs_gates_by_field_size_like_escnn():
    gs = C4
    # gated sizes 4 (regular), 2 (irrep 1), 1 (irrep 2): gates g0, g1, g2 go to the fields sorted by size
    t = nn.FieldType(gs, [gs.trivial_repr, gs.regular_repr, gs.trivial_repr, gs.irrep(1), gs.irrep(2), gs.trivial_repr])
    labels = ["gate", "gated", "gate", "gated", "gated", "gate"]
    m = nn.GatedNonLinearity1(t, labels, key=jax.random.key(1))
    assert m.out_type == nn.FieldType(gs, [gs.regular_repr, gs.irrep(1), gs.irrep(2)])
    x = rand(t, size=3)
    a, b = np.asarray(x.tensor), np.asarray(m.bias)
    g = [_sig(a[:, c : c + 1] - b[k]) for k, c in enumerate((0, 5, 9))]
    want = np.concatenate([a[:, 1:5] * g[2], a[:, 6:8] * g[1], a[:, 8:9] * g[0]], axis=1)
    np.testing.assert_allclose(call(m, [x]).tensor, want, rtol=1e-5, atol=1e-6)
    # keeping the gates: every field stays where it was, the gates become sigmoid(gate - bias)
    k = nn.GatedNonLinearity1(t, labels, drop_gates=False, key=jax.random.key(1))
    assert k.out_type == t
    y = np.asarray(call(k, [x]).tensor)
    np.testing.assert_allclose(y[:, [0, 5, 9]], np.concatenate(g, 1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y[:, 1:5], a[:, 1:5] * g[2], rtol=1e-5, atol=1e-6)
    # default labels: first half gates; for fields of one size the k-th gate gates the k-th field
    d = nn.GatedNonLinearity1(nn.FieldType(gs, 2 * [gs.trivial_repr] + 2 * [gs.irrep(1)]))
    np.testing.assert_array_equal(d.bias, np.zeros(2))  # no key: zero biases
    xd = rand(d.in_type, batch=1, size=1)
    ad = np.asarray(xd.tensor)
    want = np.concatenate([ad[:, 2:4] * _sig(ad[:, 0:1]), ad[:, 4:6] * _sig(ad[:, 1:2])], 1)
    np.testing.assert_allclose(call(d, [xd]).tensor, want, rtol=1e-6)
    # N(0, 1) biases from the key, reproducibly
    k2 = nn.GatedNonLinearity1(t, labels, key=jax.random.key(1))
    np.testing.assert_array_equal(k.bias, k2.bias)
    assert np.all(k.bias != 0) and k.bias.dtype == jnp.float32


def test_gated2_matches_gated1():
    gs = gspaces.flipRot2dOnR2(4)
    gates = nn.FieldType(gs, 3 * [gs.trivial_repr])
    gated = nn.FieldType(gs, [gs.regular_repr, gs.irrep(1, 1), gs.irrep(1, 0)])
    m2 = nn.GatedNonLinearity2((gates, gated), key=jax.random.key(0))
    m1 = eqx.tree_at(lambda m: m.bias, nn.GatedNonLinearity1(gates + gated), m2.bias)
    x = rand(gates + gated)
    g, t = x.split([None, 3, None])
    np.testing.assert_allclose(call(m2, [g, t]).tensor, call(m1, [x]).tensor, rtol=1e-6)
    assert m2.out_type == gated
    assert m2.evaluate_output_shape((2, 3, 5, 5), (2, gated.size, 5, 5)) == (2, gated.size, 5, 5)


def test_uniform_gates_each_irrep():
    gs = C4
    G = gs.fibergroup
    rho = directsum([G.trivial_representation] * 2 + [gs.irrep(1), gs.irrep(2)])
    m = nn.GatedNonLinearityUniform(nn.FieldType(gs, 3 * [rho]), key=jax.random.key(0))
    assert m.bias.shape == (3, 2)
    assert m.out_type == nn.FieldType(gs, 3 * [directsum([gs.irrep(1), gs.irrep(2)])])
    x = rand(m.in_type, size=3)
    a, b = np.asarray(x.tensor).reshape(2, 3, 5, 3, 3), np.asarray(m.bias)
    s = _sig(a[:, :, :2] - b[None, :, :, None, None])
    want = np.concatenate([a[:, :, 2:4] * s[:, :, 0:1], a[:, :, 4:5] * s[:, :, 1:2]], axis=2).reshape(2, 9, 3, 3)
    np.testing.assert_allclose(call(m, [x]).tensor, want, rtol=1e-5, atol=1e-6)
    # a custom gate function
    relu = eqx.tree_at(lambda m: m.bias, nn.GatedNonLinearityUniform(m.in_type, gate=jax.nn.relu), m.bias)
    want = np.concatenate([a[:, :, 2:4] * np.maximum(a[:, :, 0:1] - b[None, :, 0:1, None, None], 0)], 2)
    np.testing.assert_allclose(call(relu, [x]).tensor.reshape(2, 3, 3, 3, 3)[:, :, :2], want, rtol=1e-5, atol=1e-6)


def test_induced_gated_scales_sub_fields():
    gs = gspaces.rot2dOnR2(8)
    G = gs.fibergroup
    q2, q4 = G.quotient_representation(2), G.quotient_representation(4)
    ind4 = G.induced_representation(4, G.subgroup(4)[0].irrep(1))  # 2 blocks of 2
    ind2 = G.induced_representation(2, G.subgroup(2)[0].irrep(1))  # 4 blocks of 1
    assert ind4.induced_from[0] == 4 and ind4.size == 4 and q4.size == 2 and q2.size == 4
    # escnn pairs gates and gated fields sorted by (size, sub-field size): ind2 (4, 1) before ind4 (4, 2)
    t = nn.FieldType(gs, [q2, ind4, q4, ind2])
    m = nn.InducedGatedNonLinearity1(t, ["gate", "gated", "gate", "gated"], key=jax.random.key(0))
    x = rand(t, size=3)
    a, b = np.asarray(x.tensor), np.asarray(m.bias)
    s2 = _sig(a[:, 0:4] - b[0])  # the gate of ind2 (field 3)
    s4 = _sig(a[:, 8:10] - b[1])  # the gate of ind4 (field 1)
    want = np.concatenate([a[:, 4:8] * np.repeat(s4, 2, axis=1), a[:, 10:14] * s2], axis=1)
    np.testing.assert_allclose(call(m, [x]).tensor, want, rtol=1e-5, atol=1e-6)
    # the representation induced from the trivial one is a valid gate too
    triv_ind = G.induced_representation(4, G.subgroup(4)[0].trivial_representation)
    assert nn.InducedGatedNonLinearity1(nn.FieldType(gs, [triv_ind, ind4])).out_type.size == 4


def test_induced_norm_per_sub_field():
    gs = C4
    G = gs.fibergroup
    ind_reg = G.induced_representation(2, G.subgroup(2)[0].regular_representation)  # 2 blocks of 2
    ind_sign = G.induced_representation(2, G.subgroup(2)[0].irrep(1))  # 2 blocks of 1
    t = nn.FieldType(gs, [ind_reg, ind_sign])
    m = nn.InducedNormNonLinearity(t)
    np.testing.assert_array_equal(m.log_bias, np.zeros(2))  # escnn: b = exp(0) = 1
    m = eqx.tree_at(lambda m: m.log_bias, m, jnp.array([-0.5, 0.3]))
    x = rand(t, size=3)
    a = np.asarray(x.tensor)
    # escnn sorts fields by (size, sub-field size): ind_sign (2, 1) takes bias 0, ind_reg (4, 2) bias 1
    b_sign, b_reg = np.exp(-0.5), np.exp(0.3)
    want = np.empty_like(a)
    for s, d, b in ((0, 2, b_reg), (2, 2, b_reg), (4, 1, b_sign), (5, 1, b_sign)):
        blk = a[:, s : s + d]
        n = np.linalg.norm(blk, axis=1, keepdims=True)
        want[:, s : s + d] = blk * np.maximum(n - b, 0) / n
    np.testing.assert_allclose(call(m, [x]).tensor, want, rtol=1e-5, atol=1e-6)
    # squash: |block| -> |block| / (1 + |block|); zero blocks stay zero, with finite gradients
    sq = nn.InducedNormNonLinearity(t, "squash", bias=False)
    assert sq.log_bias is None
    n0 = np.linalg.norm(a[:, 0:2], axis=1, keepdims=True)
    np.testing.assert_allclose(call(sq, [x]).tensor[:, 0:2], a[:, 0:2] / (1 + n0), rtol=1e-5, atol=1e-6)
    z = jnp.zeros((1, 6, 2, 2))
    g = jax.jit(jax.grad(lambda v: jnp.sum(sq(nn.GeometricTensor(v, t)).tensor)))(z)
    assert jnp.all(jnp.isfinite(g))
    assert jnp.all(call(m, [nn.GeometricTensor(z, t)]).tensor == 0)


def test_concatenated_interleaves_and_doubles():
    gs = gspaces.flipRot2dOnR2(4)
    t = nn.FieldType(gs, [gs.trivial_repr, gs.regular_repr])
    m = nn.ConcatenatedNonLinearity(t, "c_sigmoid")
    assert m.out_type.size == 2 * t.size and len(m.out_type) == 2
    assert m.out_type == nn.ConcatenatedNonLinearity(t).out_type  # cached, equal values
    # the output fields permute channels: pointwise nonlinearities may follow
    assert all("pointwise" in r.supported_nonlinearities for r in m.out_type)
    P = m.out_type.representations[1].matrices(gs.fibergroup.elements)
    np.testing.assert_allclose(P, np.round(P), atol=1e-9)
    assert np.all(np.round(P).sum(-1) == 1) and np.all(np.round(P) >= 0)
    x = rand(t, size=3)
    y = np.asarray(call(m, [x]).tensor)
    np.testing.assert_allclose(y[:, 0::2], _sig(np.asarray(x.tensor)), rtol=1e-5)
    np.testing.assert_allclose(y[:, 1::2], _sig(-np.asarray(x.tensor)), rtol=1e-5)


def test_vector_field_points_at_the_argmax():
    gs = gspaces.rot2dOnR2(8)
    m = nn.VectorFieldNonLinearity(nn.FieldType(gs, 2 * [gs.regular_repr]))
    assert m.out_type == nn.FieldType(gs, 2 * [gs.irrep(1)])
    x = rand(m.in_type, size=3)
    a = np.asarray(x.tensor).reshape(2, 2, 8, 3, 3)
    k, v = a.argmax(2), np.maximum(a.max(2), 0)
    want = np.stack([np.cos(2 * np.pi * k / 8) * v, np.sin(2 * np.pi * k / 8) * v], 2).reshape(2, 4, 3, 3)
    np.testing.assert_allclose(call(m, [x]).tensor, want, rtol=1e-5, atol=1e-6)
    # C2: the frequency-1 irrep is the sign, 1-dimensional
    c2 = gspaces.rot2dOnR2(2)
    m2 = nn.VectorFieldNonLinearity(nn.FieldType(c2, [c2.regular_repr]))
    assert m2.out_type.size == 1
    assert_equivariant(m2, rand(m2.in_type))


# -- negative controls ---------------------------------------------------------------------------------
def _retyped(m, out_type, transform=lambda t: t):
    """`m` applied to the channels of a tensor of another type (a deliberately wrong map)."""
    return lambda x: nn.GeometricTensor(m(nn.GeometricTensor(transform(x.tensor), m.in_type)).tensor, out_type)


def test_negative_controls():
    gs = gspaces.flipRot2dOnR2(4)
    G = gs.fibergroup
    # gating with a non-trivial (sign) scalar breaks equivariance: why gates must be trivial
    good = nn.FieldType(gs, [gs.trivial_repr, gs.irrep(1, 1)])
    bad = nn.FieldType(gs, [gs.irrep(1, 0), gs.irrep(1, 1)])
    m = nn.GatedNonLinearity1(good, key=jax.random.key(0))
    with pytest.raises(AssertionError, match="not equivariant"):
        assert_equivariant(_retyped(m, m.out_type), rand(bad))
    # one gate channel for every sub-field (instead of one per coset)
    sid = (None, 4)
    q, ind = G.quotient_representation(sid), G.induced_representation(sid, G.subgroup(sid)[0].irrep(1))
    mi = nn.InducedGatedNonLinearity1(nn.FieldType(gs, [q, ind]), key=jax.random.key(0))
    same_gate = lambda a: a[:, jnp.array([0, 0, 2, 3, 4, 5])]  # noqa: E731
    with pytest.raises(AssertionError, match="not equivariant"):
        assert_equivariant(_retyped(mi, mi.out_type, same_gate), rand(mi.in_type))
    # induced norms over blocks the group does not permute (a regular field split in other pairs)
    H2 = C4.fibergroup.subgroup(2)[0]
    ind = C4.fibergroup.induced_representation(2, H2.regular_representation)
    mn = eqx.tree_at(lambda m: m.log_bias, nn.InducedNormNonLinearity(nn.FieldType(C4, [ind])), jnp.array([0.2]))
    reg = nn.FieldType(C4, [C4.regular_repr])
    with pytest.raises(AssertionError, match="not equivariant"):
        assert_equivariant(_retyped(mn, reg), rand(reg))
    # concatenated nonlinearity on a rotating vector field
    mc = nn.ConcatenatedNonLinearity(nn.FieldType(C4, 2 * [C4.trivial_repr]))
    vec = nn.FieldType(C4, [C4.irrep(1)])
    with pytest.raises(AssertionError, match="not equivariant"):
        assert_equivariant(_retyped(mc, mc.out_type), rand(vec))
    # a vector field turning the wrong way (clockwise)
    mv = nn.VectorFieldNonLinearity(reg)
    clockwise = lambda a: a[:, jnp.array([0, 3, 2, 1])]  # noqa: E731
    with pytest.raises(AssertionError, match="not equivariant"):
        assert_equivariant(_retyped(mv, mv.out_type, clockwise), rand(reg))
    # uniform gates that are not invariant
    triv = C4.fibergroup.trivial_representation
    mu = nn.GatedNonLinearityUniform(nn.FieldType(C4, [directsum([triv, C4.irrep(1)])]))
    mu = eqx.tree_at(lambda m: m.bias, mu, jnp.array([[0.3]]))
    wrong = nn.FieldType(C4, [directsum([C4.irrep(2), C4.irrep(1)])])
    with pytest.raises(AssertionError, match="not equivariant"):
        assert_equivariant(_retyped(mu, mu.out_type), rand(wrong))


# -- transformations, dtypes, export ----------------------------------------------------------------------
def _inputs(m, dtype=np.float32):
    return [rand(t, seed=i, dtype=dtype) for i, t in enumerate(_in_types(m))]


def _leaf(m):
    return m.log_bias if isinstance(m, nn.InducedNormNonLinearity) else getattr(m, "bias", None)


@eqx.filter_jit
def _transformations(mods, xs):
    """For every module: output, vmapped output, exported output, parameter and input gradients."""
    out = {}
    for name, m in mods.items():
        x = xs[name]
        loss = lambda m, x: jnp.sum(_apply(m, x).tensor ** 2)  # noqa: E731
        g_params, g_input = eqx.filter_grad(loss)(m, x), jax.grad(loss, argnums=1)(m, x)
        out[name] = (
            _apply(m, x).tensor,
            jax.vmap(lambda *a, m=m: m(*a))(*x).tensor,
            m.export()(*[t.tensor for t in x]),
            _leaf(g_params),
            [t.tensor for t in g_input],
        )
    return out


def test_jit_grad_vmap_export():
    skip = {"InducedGated1", "InducedNorm(n_sigmoid)", "Concatenated(c_tanh)"}  # same code paths as others
    mods = {name: m for name, m in modules(C4).items() if name not in skip}
    xs = {name: _inputs(m) for name, m in mods.items()}
    res = _transformations(mods, xs)
    for name, m in mods.items():
        y, yv, ye, g, gx = res[name]
        x = xs[name]
        if name in ("Gated1", "Gated2"):  # eager and jitted calls agree (eager compiles every op: slow)
            np.testing.assert_allclose(m(*x).tensor, y, rtol=1e-6, atol=1e-7, err_msg=name)
        np.testing.assert_allclose(yv, y, rtol=1e-6, atol=1e-7, err_msg=name)
        np.testing.assert_allclose(ye, y, rtol=1e-6, atol=1e-5, err_msg=name)
        # Invariant 1: the only inexact leaves are the learned biases, and they get gradients
        params = jax.tree.leaves(eqx.filter(m, eqx.is_inexact_array))
        assert len(params) == (0 if _leaf(m) is None else 1), name
        if _leaf(m) is not None:
            assert jnp.all(jnp.isfinite(g)) and jnp.any(g != 0), name
        assert all(jnp.all(jnp.isfinite(t)) for t in gx), name
        if not isinstance(m, nn.GatedNonLinearity2):
            assert m.evaluate_output_shape(x[0].shape) == y.shape, name
        assert eqx.tree_equal(m.eval(), m), name  # no train/eval difference


def test_float64():
    with jax.enable_x64(True):
        mods = modules(C4)
        assert all(_leaf(m) is None or _leaf(m).dtype == jnp.float64 for m in mods.values())
        total, fn = joint(list(mods.values()))
        x = rand(total, dtype=np.float64)
        assert x.tensor.dtype == jnp.float64
        assert eqx.filter_jit(fn)(x).tensor.dtype == jnp.float64
        assert_equivariant(fn, x, atol=1e-12, rtol=1e-12)


# -- bad input --------------------------------------------------------------------------------------------
def _t(gs, *reps):
    return nn.FieldType(gs, list(reps))


C8 = gspaces.rot2dOnR2(8)
_G8 = C8.fibergroup
_IND4 = _G8.induced_representation(4, _G8.subgroup(4)[0].irrep(1))
_IND2 = _G8.induced_representation(2, _G8.subgroup(2)[0].irrep(1))
_Q4, _Q2 = _G8.quotient_representation(4), _G8.quotient_representation(2)
_T, _V, _R = C4.trivial_repr, C4.irrep(1), C4.regular_repr
_ROTATED = directsum([_T, _T], change_of_basis=np.array([[0.6, -0.8], [0.8, 0.6]]))
_UNTAGGED = Representation(C4.fibergroup, [(1,)], None, "untagged")  # supports no nonlinearity


@pytest.mark.parametrize(
    "build, exc, match",
    [
        (lambda: nn.GatedNonLinearity1("x"), TypeError, "`in_type`"),
        (lambda: nn.GatedNonLinearity1(_t(C4, _T, _V, _V)), ValueError, "number of fields must be even"),
        (lambda: nn.GatedNonLinearity1(_t(C4, _T, _V), ["gate"]), ValueError, "`gates` has 1 labels"),
        (lambda: nn.GatedNonLinearity1(_t(C4, _T, _V), ["gate", "gatd"]), ValueError, "'gatd'"),
        (lambda: nn.GatedNonLinearity1(_t(C4, _T, _V), "gate"), TypeError, "`gates`"),
        (lambda: nn.GatedNonLinearity1(_t(C4, _V, _T)), ValueError, "trivial field of size 1"),
        (lambda: nn.GatedNonLinearity1(_t(C4, _R, _V)), ValueError, "trivial field of size 1"),
        (lambda: nn.GatedNonLinearity1(_t(C4, _T, _V, _V), ["gate", "gated", "gated"]), ValueError, "one gate per"),
        (lambda: nn.GatedNonLinearity1(_t(C4, _T, _V), drop_gates=1), TypeError, "`drop_gates`"),
        (lambda: nn.GatedNonLinearity1(_t(C4, _T, _T), ["gate", "gate"]), ValueError, "one gate per"),
        (lambda: nn.GatedNonLinearity1(_t(C4, _T, _UNTAGGED)), ValueError, "does not support gated"),
        (lambda: nn.GatedNonLinearity2(_t(C4, _T)), TypeError, "pair"),
        (lambda: nn.GatedNonLinearity2((_t(C4, _T), _t(C8, C8.irrep(1)))), ValueError, "different gspaces"),
        (lambda: nn.GatedNonLinearity2((_t(C4, _T, _T), _t(C4, _V))), ValueError, "one gate per gated"),
        (lambda: nn.GatedNonLinearity2((_t(C4, _V), _t(C4, _V))), ValueError, "trivial field"),
        (
            lambda: nn.GatedNonLinearityUniform(_t(C4, directsum([_T, _V]), directsum([_T, C4.irrep(2)]))),
            ValueError,
            "uniform",
        ),
        (lambda: nn.GatedNonLinearityUniform(_t(C4, directsum([_T, _T, _V]))), ValueError, "even number"),
        (lambda: nn.GatedNonLinearityUniform(_t(C4, directsum([_V, _T]))), ValueError, "must be trivial"),
        (lambda: nn.GatedNonLinearityUniform(_t(C4, _ROTATED)), ValueError, "change of basis"),
        (lambda: nn.GatedNonLinearityUniform(_t(C4, directsum([_T, _V])), gate="sigmoid"), TypeError, "`gate`"),
        (lambda: nn.InducedGatedNonLinearity1(_t(C8, _Q4, C8.irrep(1))), ValueError, "not an induced"),
        (lambda: nn.InducedGatedNonLinearity1(_t(C8, _Q2, _IND4)), ValueError, "quotient_representation\\(4\\)"),
        (lambda: nn.InducedGatedNonLinearity1(_t(C8, C8.trivial_repr, _IND4)), ValueError, "does not permute"),
        (  # escnn's pairing: sorted by (size, sub-field size), ind2 takes the first gate
            lambda: nn.InducedGatedNonLinearity1(_t(C8, _Q4, _IND4, _Q2, _IND2), ["gate", "gated", "gate", "gated"]),
            ValueError,
            "does not permute",
        ),
        (lambda: nn.InducedGatedNonLinearity1(_t(C8, _Q4, _IND4, _IND4)), ValueError, "must be even"),
        (lambda: nn.InducedNormNonLinearity(_t(C4, _V)), ValueError, "not an induced"),
        (lambda: nn.InducedNormNonLinearity(_t(C8, _IND4), "relu"), ValueError, "`function`"),
        (lambda: nn.InducedNormNonLinearity(_t(C8, _IND4), bias="yes"), TypeError, "`bias`"),
        (lambda: nn.ConcatenatedNonLinearity(_t(C4, _V)), ValueError, "concatenated"),
        (lambda: nn.ConcatenatedNonLinearity(_t(C4, _R), "p_relu"), ValueError, "`function`"),
        (
            lambda: nn.VectorFieldNonLinearity(_t(gspaces.flipRot2dOnR2(4), gspaces.flipRot2dOnR2(4).regular_repr)),
            ValueError,
            "cyclic group",
        ),
        (lambda: nn.VectorFieldNonLinearity(_t(C4, _R, _T)), ValueError, "regular fields"),
        (
            lambda: nn.VectorFieldNonLinearity(_t(gspaces.rot2dOnR2(-1), gspaces.rot2dOnR2(-1).trivial_repr)),
            ValueError,
            "cyclic group",
        ),
    ],
)
def test_bad_construction(build, exc, match):
    with pytest.raises(exc, match=match):
        build()


def test_bad_call():
    t = _t(C4, _T, _V)
    m = nn.GatedNonLinearity1(t)
    with pytest.raises(TypeError, match="GeometricTensor"):
        m(jnp.zeros((1, 3, 3, 3)))
    with pytest.raises(ValueError, match="expects"):
        m(_t(C4, _T, _T, _T)(jnp.zeros((1, 3, 3, 3))))
    gates, gated = _t(C4, _T), _t(C4, _V)
    m2 = nn.GatedNonLinearity2((gates, gated))
    with pytest.raises(TypeError, match="`gates` must be a GeometricTensor"):
        m2(jnp.zeros((1, 1, 3, 3)), gated(jnp.zeros((1, 2, 3, 3))))
    with pytest.raises(ValueError, match="`input` has type"):
        m2(gates(jnp.zeros((1, 1, 3, 3))), gates(jnp.zeros((1, 1, 3, 3))))
    with pytest.raises(ValueError, match="same batch and spatial shape"):
        m2(gates(jnp.zeros((1, 1, 3, 3))), gated(jnp.zeros((1, 2, 5, 5))))
