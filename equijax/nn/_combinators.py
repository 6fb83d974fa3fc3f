"""Modules that restructure fields: `RestrictionModule`, `DisentangleModule`,
`ReshuffleModule`, `BranchingModule`, `MergeModule` and `MultipleModule`.

None of them has parameters of its own; all index maps are numpy constants computed from
the field types when the module is built (static configuration, never array leaves).
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..group import Representation, decompose
from ..group._decompose import quadrature_elements
from ._field_type import FieldType
from ._geometric_tensor import GeometricTensor
from ._module import EquivariantModule, array_function, check_input, default_key, stateful_call_error
from ._structure import _MISSING, _state_is_optional, _takes

# -- helpers -------------------------------------------------------------------------------


def _apply(module, args, state, key, inference):
    """Call `module(*args)`, passing `key`, `inference` and `state` where it takes them.

    **Returns:** ``(output, state)``.
    """
    kwargs = {}
    if key is not None and _takes(module, "key"):
        kwargs["key"] = key
    if inference is not None and _takes(module, "inference"):
        kwargs["inference"] = inference
    if _takes(module, "state"):
        if state is _MISSING:
            if _state_is_optional(module):
                return module(*args, **kwargs), state
            raise stateful_call_error(module, "container")
        return module(*args, state, **kwargs)
    return module(*args, **kwargs), state


def _split_keys(key, n: int) -> list:
    return [None] * n if key is None else list(jax.random.split(key, n))


def _check_ftype(name: str, t) -> FieldType:
    if not isinstance(t, FieldType):
        raise TypeError(f"`{name}` (={t!r}) must be a FieldType")
    return t


def _channel_index(ftype: FieldType, fields: Sequence[int]) -> np.ndarray:
    """The channels of `fields` (field indices of `ftype`), in that order."""
    if not len(fields):
        return np.zeros(0, dtype=np.int64)
    return np.concatenate([np.arange(ftype.fields_start[i], ftype.fields_end[i]) for i in fields]).astype(np.int64)


def _take_channels(t: jnp.ndarray, index: tuple[int, ...], channel_axis: int) -> jnp.ndarray:
    """Gather the channels `index` (a static tuple) along `channel_axis`; a slice when the
    channels are contiguous."""
    n = len(index)
    ax = t.ndim + channel_axis
    if n and index == tuple(range(index[0], index[0] + n)):
        if index[0] == 0 and n == t.shape[ax]:
            return t
        return jax.lax.slice_in_dim(t, index[0], index[0] + n, axis=ax)
    return jnp.take(t, np.asarray(index, dtype=np.int32), axis=ax)


# -- RestrictionModule ---------------------------------------------------------------------


class RestrictionModule(EquivariantModule):
    """Sees the input's fields as fields of the subgroup `id` of the gspace's group
    (escnn's ``RestrictionModule``).

    The data are unchanged: only the type changes, to ``in_type.restrict(id)``, whose
    representations are the restrictions (the same matrices on the subgroup's elements,
    written with the subgroup's irreps). Follow it with a `DisentangleModule` to split the
    restricted fields into smaller ones.

    **Arguments:**

    - `in_type`: the input `FieldType`.
    - `id`: the subgroup id, as in `gspace.restrict` (e.g. ``(0, 4)`` for D4 in D8, ``4``
      for C4 in C8, ``(None, 4)`` for C4 in D4).

    **Raises:** `TypeError` if `in_type` is not a field type; `ValueError` if `id` names no
    subgroup of the group.
    """

    in_type: FieldType = eqx.field(static=True)
    out_type: FieldType = eqx.field(static=True)
    id: object = eqx.field(static=True)

    def __init__(self, in_type: FieldType, id):
        _check_ftype("in_type", in_type)
        G = in_type.fibergroup
        try:
            out_type = in_type.restrict(id)
        except (ValueError, TypeError) as e:
            raise ValueError(f"`id` (={id!r}) is not a subgroup id of {G.name}: {e}") from None
        self.in_type, self.out_type, self.id = in_type, out_type, id

    def __call__(self, x: GeometricTensor, *, key=None) -> GeometricTensor:
        """**Returns:** the same array as a `GeometricTensor` of `out_type`."""
        del key
        check_input(self, x)
        return GeometricTensor(x.tensor, self.out_type)

    def check_equivariance(
        self, atol: float = 1e-5, rtol: float = 1e-5, *, key=None, elements=None, input_size=None, batch: int = 2,
        state=None,
    ):  # fmt: skip
        """Check ``f(h x) = h f(x)`` for the subgroup's elements h (default: those moving the
        pixel grid onto itself), h acting on the input as the parent group's element."""
        from ..testing import grid_exact_elements, random_input

        del state
        _, inclusion, _ = self.in_type.fibergroup.subgroup(self.id)
        x = random_input(self.in_type, key=default_key(key), batch=batch, size=input_size or self._testing_input_size())
        if elements is None:
            square = self.in_type.gspace.dimensionality == 0 or x.shape[-1] == x.shape[-2]
            elements = grid_exact_elements(self.out_type.gspace, square=square)
        y = self(x)
        scale = float(jnp.max(jnp.abs(y.tensor)))
        out = []
        for h in elements:
            err = float(jnp.max(jnp.abs(self(x.transform(inclusion(h))).tensor - y.transform(h).tensor)))
            if not err <= atol + rtol * scale:
                raise AssertionError(f"not equivariant: max |f(h x) - h f(x)| = {err:.3g} for h = {h}")
            out.append((h, err))
        return out

    def export(self):
        """`eqx.nn.Identity()`: the data do not change."""
        return eqx.nn.Identity()


# -- DisentangleModule ---------------------------------------------------------------------


def _sample_elements(rep: Representation) -> list:
    G = rep.group
    if not G.continuous:
        return list(G.elements)
    # a trigonometric polynomial of degree <= 2 * bandwidth that vanishes on these vanishes
    return quadrature_elements(G, 4 * max(rep.bandwidth, 1))


def _components(M: np.ndarray) -> list[list[int]]:
    """Connected components of the channels coupled by any of the matrices ``M (n, d, d)``,
    each sorted, ordered by their first channel."""
    d = M.shape[1]
    coupled = (np.abs(M) > 1e-9).any(axis=0)
    coupled = coupled | coupled.T
    label = -np.ones(d, dtype=np.int64)
    comps = []
    for start in range(d):
        if label[start] >= 0:
            continue
        stack, comp = [start], []
        label[start] = len(comps)
        while stack:
            i = stack.pop()
            comp.append(i)
            for j in np.nonzero(coupled[i])[0]:
                if label[j] < 0:
                    label[j] = len(comps)
                    stack.append(int(j))
        comps.append(sorted(comp))
    return comps


def _as_regular(G, rows: list[int], mats: np.ndarray, elements: list) -> list[int] | None:
    """If the block `rows` is a copy of G's regular representation up to the order of its
    channels, the channels in G's element order; else None."""
    if G.continuous or len(rows) != G.order():
        return None
    B = mats[:, rows][:, :, rows]
    if not np.allclose(np.abs(B).sum(axis=1), 1.0, atol=1e-8) or not np.allclose(np.abs(B).max(axis=1), 1.0):
        return None  # not permutation matrices
    index = {g: i for i, g in enumerate(elements)}
    order = []
    for h in G.elements:
        column = B[index[h], :, 0]  # where h sends the first channel
        order.append(int(np.argmax(column)))
    if sorted(order) != list(range(len(rows))):
        return None
    reordered = B[:, order][:, :, order]
    if not np.allclose(reordered, G.regular_representation.matrices(elements), atol=1e-8):
        return None
    return [rows[i] for i in order]


@functools.lru_cache(maxsize=512)
def disentangle(rep: Representation) -> tuple[tuple[int, ...], tuple[Representation, ...]]:
    """Split `rep` into the smallest blocks of channels that no group element mixes.

    **Returns:** ``(permutation, representations)``: reading the channels in the order
    `permutation` gives the direct sum of `representations`. A block that is a copy of an
    irrep or of the regular representation (up to the order of its channels) becomes that
    representation; other blocks get a representation named ``f"{rep.name}_{i}"``. A
    representation that does not split is returned unchanged.
    """
    G = rep.group
    elements = _sample_elements(rep)
    mats = rep.matrices(elements)
    comps = _components(mats)
    perm: list[int] = []
    reprs: list[Representation] = []
    for b, rows in enumerate(comps):
        block = mats[:, rows][:, :, rows]
        candidates = [G.irrep(*i) for i in dict.fromkeys(rep.irreps) if G.irrep(*i).size == len(rows)]
        match = next((p for p in candidates if np.allclose(block, p.matrices(elements), atol=1e-8)), None)
        if match is not None:
            perm += rows
            reprs.append(match)
            continue
        ordered = _as_regular(G, rows, mats, elements)
        if ordered is not None:
            perm += ordered
            reprs.append(G.regular_representation)
            continue
        if len(comps) == 1:
            return tuple(range(rep.size)), (rep,)
        ids, Q = decompose(G, lambda gs, rows=rows: rep.matrices(gs)[:, rows][:, :, rows], rep.bandwidth)
        perm += rows
        reprs.append(Representation(G, ids, Q, f"{rep.name}_{b}", rep.supported_nonlinearities))
    return tuple(perm), tuple(reprs)


class DisentangleModule(EquivariantModule):
    """Splits every field into the smallest blocks of channels that the group never mixes,
    by a permutation of its channels (escnn's ``DisentangleModule``).

    Typical use: after a `RestrictionModule`, a regular field of D8 seen by D4 splits into
    two regular fields of D4 (one per coset). Blocks that are copies of an irrep or of the
    regular representation become exactly that representation (so that
    ``out_type.representations`` compare equal to ``gspace.regular_repr``); others get a
    representation named after the field's. Fields that do not split are unchanged.

    Where escnn looks for the blocks in the sparsity of the change of basis, this looks at
    the representation's matrices, which finds the finest split whatever basis the
    representation was written in.

    **Arguments:** `in_type`, the input `FieldType`.
    """

    in_type: FieldType = eqx.field(static=True)
    out_type: FieldType = eqx.field(static=True)
    index: tuple[int, ...] = eqx.field(static=True)

    def __init__(self, in_type: FieldType):
        _check_ftype("in_type", in_type)
        index, out_reprs = [], []
        for r, start in zip(in_type.representations, in_type.fields_start):
            perm, reprs = disentangle(r)
            index += [int(start) + p for p in perm]
            out_reprs += reprs
        self.in_type = in_type
        self.out_type = FieldType(in_type.gspace, out_reprs)
        self.index = tuple(index)

    def __call__(self, x: GeometricTensor, *, key=None) -> GeometricTensor:
        """**Returns:** the channels of `x`, permuted within each field, as `out_type`."""
        del key
        check_input(self, x)
        return GeometricTensor(_take_channels(x.tensor, self.index, self.in_type.channel_axis), self.out_type)

    def export(self):
        return array_function(self)


# -- ReshuffleModule -----------------------------------------------------------------------


class ReshuffleModule(EquivariantModule):
    """Permutes the fields (escnn's ``ReshuffleModule``): output field i is input field
    ``permutation[i]``.

    **Arguments:**

    - `in_type`: the input `FieldType`.
    - `permutation`: a permutation of ``0, ..., len(in_type) - 1``.

    **Raises:** `ValueError` if `permutation` is not a permutation of the field indices.
    """

    in_type: FieldType = eqx.field(static=True)
    out_type: FieldType = eqx.field(static=True)
    permutation: tuple[int, ...] = eqx.field(static=True)
    index: tuple[int, ...] = eqx.field(static=True)

    def __init__(self, in_type: FieldType, permutation: Sequence[int]):
        _check_ftype("in_type", in_type)
        n = len(in_type)
        try:
            perm = list(permutation)
        except TypeError:
            perm = None
        ok = perm is not None and not isinstance(permutation, str)
        ok = ok and all(isinstance(p, numbers.Integral) and not isinstance(p, bool) for p in perm)
        if not ok or sorted(int(p) for p in perm) != list(range(n)):
            raise ValueError(
                f"`permutation` (={permutation!r}) must be a permutation of the {n} field indices 0..{n - 1}"
            )
        self.in_type = in_type
        self.permutation = tuple(int(p) for p in perm)
        self.out_type = in_type.index_select(self.permutation)
        self.index = tuple(int(i) for i in _channel_index(in_type, self.permutation))

    def __call__(self, x: GeometricTensor, *, key=None) -> GeometricTensor:
        del key
        check_input(self, x)
        return GeometricTensor(_take_channels(x.tensor, self.index, self.in_type.channel_axis), self.out_type)

    def export(self):
        return array_function(self)


# -- BranchingModule -----------------------------------------------------------------------


def _check_labels(labels, ftype: FieldType) -> list[str]:
    if isinstance(labels, str) or not isinstance(labels, Sequence):
        raise TypeError(f"`labels` (={labels!r}) must be a list of strings, one per field")
    labels = list(labels)
    bad = [lab for lab in labels if not isinstance(lab, str)]
    if bad:
        raise TypeError(f"`labels` contains {bad[0]!r}; labels must be strings")
    if len(labels) != len(ftype):
        raise ValueError(f"`labels` has {len(labels)} entries, but `in_type` has {len(ftype)} fields")
    return labels


def _branch_plan(in_type: FieldType, labels: list[str], reshuffle: int):
    """``(permutation or None, ((label, field type, channel index), ...))``, labels in order of
    first appearance (after the reshuffle)."""
    if isinstance(reshuffle, bool) or not isinstance(reshuffle, numbers.Integral) or not 0 <= reshuffle <= 3:
        raise ValueError(f"`reshuffle` (={reshuffle!r}) must be 0, 1, 2 or 3")
    permutation = None
    if reshuffle:
        keys = [(lab, r.size, r.name, i) for i, (lab, r) in enumerate(zip(labels, in_type.representations))]
        order = [k[3] for k in sorted(keys, key=lambda k: k[:reshuffle])]
        if order != list(range(len(labels))):
            permutation = tuple(order)
    fields = list(range(len(labels))) if permutation is None else list(permutation)
    groups: dict[str, list[int]] = {}
    for f in fields:
        groups.setdefault(labels[f], []).append(f)
    branches = tuple(
        (lab, in_type.index_select(fs), tuple(int(c) for c in _channel_index(in_type, fs)))
        for lab, fs in groups.items()
    )
    return permutation, branches


class BranchingModule(EquivariantModule):
    """Splits the input into one tensor per label (escnn's ``BranchingModule``).

    Each field gets a label; the call returns a dict ``{label: GeometricTensor}`` holding
    each label's fields in their input order (a dict is a pytree: it crosses `jax.jit`).

    **Arguments:**

    - `in_type`: the input `FieldType`.
    - `labels`: one string per field.
    - `reshuffle`: escnn's option to first sort the fields (1: by label; 2: by label then
      size; 3: by label, size and representation name). It only changes the order of the
      fields inside each branch.

    **Raises:** `TypeError`/`ValueError` if `labels` is not one string per field or
    `reshuffle` is not in 0..3.
    """

    in_type: FieldType = eqx.field(static=True)
    labels: tuple[str, ...] = eqx.field(static=True)
    reshuffle: int = eqx.field(static=True)
    branches: tuple = eqx.field(static=True)  # ((label, FieldType, channel index), ...)

    def __init__(self, in_type: FieldType, labels: Sequence[str], reshuffle: int = 0):
        _check_ftype("in_type", in_type)
        labels = _check_labels(labels, in_type)
        _, self.branches = _branch_plan(in_type, labels, reshuffle)
        self.in_type, self.labels, self.reshuffle = in_type, tuple(labels), int(reshuffle)

    @property
    def out_type(self) -> dict[str, FieldType]:
        """``{label: FieldType}`` of the branches."""
        return {lab: t for lab, t, _ in self.branches}

    def __call__(self, x: GeometricTensor, *, key=None) -> dict[str, GeometricTensor]:
        """**Returns:** ``{label: GeometricTensor}``."""
        del key
        check_input(self, x)
        ax = self.in_type.channel_axis
        return {lab: GeometricTensor(_take_channels(x.tensor, idx, ax), t) for lab, t, idx in self.branches}

    def evaluate_output_shape(self, input_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        shape = list(input_shape)
        ax = len(shape) + self.in_type.channel_axis
        if len(shape) <= ax or ax < 0 or shape[ax] != self.in_type.size:
            raise ValueError(f"`input_shape` {tuple(input_shape)} does not match {self.in_type!r}")
        return {lab: tuple(shape[:ax] + [t.size] + shape[ax + 1 :]) for lab, t, _ in self.branches}

    def check_equivariance(
        self, atol: float = 1e-5, rtol: float = 1e-5, *, key=None, elements=None, input_size=None, batch: int = 2,
        state=None,
    ):  # fmt: skip
        """Check each branch: ``f(g x)[label] = g f(x)[label]``."""
        from ..testing import assert_equivariant, random_input

        del state
        x = random_input(self.in_type, key=default_key(key), batch=batch, size=input_size or self._testing_input_size())
        out = []
        for lab, _, _ in self.branches:
            out += assert_equivariant(lambda t, lab=lab: self(t)[lab], x, elements=elements, atol=atol, rtol=rtol)
        return out

    def export(self):
        """An Equinox module ``array -> {label: array}``."""
        return _BranchExport(tuple((lab, idx) for lab, _, idx in self.branches), self.in_type.channel_axis)


class _BranchExport(eqx.Module):
    branches: tuple = eqx.field(static=True)
    channel_axis: int = eqx.field(static=True)

    def __call__(self, x, *, key=None):
        del key
        return {lab: _take_channels(x, idx, self.channel_axis) for lab, idx in self.branches}


# -- MergeModule ---------------------------------------------------------------------------


def _check_modules(modules) -> tuple[list, list[tuple[str, ...]]]:
    if isinstance(modules, (str, bytes)) or not isinstance(modules, Sequence) or not modules:
        raise ValueError(f"`modules` (={modules!r}) must be a non-empty list of (module, label or labels) pairs")
    mods, labels = [], []
    for i, item in enumerate(modules):
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise ValueError(f"`modules[{i}]` (={item!r}) must be a pair (module, label or list of labels)")
        m, lab = item
        if not isinstance(m, EquivariantModule) or not isinstance(getattr(m, "out_type", None), FieldType):
            raise TypeError(f"`modules[{i}]` holds {type(m).__name__}, not an EquivariantModule with an out_type")
        labs = (lab,) if isinstance(lab, str) else lab
        if not isinstance(labs, (tuple, list)) or not labs or not all(isinstance(s, str) for s in labs):
            raise TypeError(f"`modules[{i}]` has label {lab!r}: give a string or a non-empty list of strings")
        mods.append(m)
        labels.append(tuple(labs))
    return mods, labels


def _module_input_types(m, labels: tuple[str, ...], i: int) -> dict[str, FieldType]:
    t = m.in_type
    if len(labels) == 1 and isinstance(t, FieldType):
        return {labels[0]: t}
    if isinstance(t, (tuple, list)) and len(t) == len(labels) and all(isinstance(s, FieldType) for s in t):
        return dict(zip(labels, t))
    raise ValueError(
        f"`modules[{i}]` ({type(m).__name__}) takes {t!r} but is given the labels {list(labels)}: one label per input"
    )


class MergeModule(EquivariantModule):
    """Applies one module per label (or list of labels) to a dict of tensors and
    concatenates the outputs, in the order of `modules` (escnn's ``MergeModule``).

    Stateful members (batch norms) are supported: call it as ``y, state = merge(xs, state)``;
    a merge with no stateful member may also be called as ``y = merge(xs)``.

    **Arguments:** `modules`, a list of pairs ``(module, label)`` or ``(module, [labels])``;
    a module with several labels is called with the tensors of those labels in order.

    **Raises:** `TypeError`/`ValueError` if `modules` is not such a list, a label is given
    twice with different types, or the modules live on different gspaces.
    """

    modules: tuple
    module_labels: tuple = eqx.field(static=True)
    in_types: tuple = eqx.field(static=True)  # ((label, FieldType), ...)
    out_type: FieldType = eqx.field(static=True)

    def __init__(self, modules: Sequence[tuple[EquivariantModule, str | Sequence[str]]]):
        mods, labels = _check_modules(modules)
        in_types: dict[str, FieldType] = {}
        for i, (m, labs) in enumerate(zip(mods, labels)):
            for lab, t in _module_input_types(m, labs, i).items():
                if in_types.setdefault(lab, t) != t:
                    raise ValueError(
                        f"label {lab!r} is given to modules expecting different types: {in_types[lab]!r}, {t!r}"
                    )
        gspaces = {m.out_type.gspace for m in mods}
        if len(gspaces) > 1:
            raise ValueError(f"`modules` output fields on different gspaces: {sorted(g.name for g in gspaces)}")
        out = mods[0].out_type
        for m in mods[1:]:
            out = out + m.out_type
        self.modules, self.module_labels = tuple(mods), tuple(labels)
        self.in_types, self.out_type = tuple(in_types.items()), out

    @property
    def in_type(self) -> dict[str, FieldType]:
        """``{label: FieldType}`` of the inputs."""
        return dict(self.in_types)

    def __call__(self, x: dict[str, GeometricTensor], state=_MISSING, *, key=None, inference: bool | None = None):
        """**Arguments:** `x`, a dict ``{label: GeometricTensor}`` (extra labels are
        ignored); `state` if a member keeps state.

        **Returns:** the concatenation of the members' outputs (``(y, state)`` if `state` is
        given).
        """
        if not isinstance(x, dict):
            raise TypeError(f"`x` must be a dict {{label: GeometricTensor}}, got {type(x).__name__}")
        missing = [lab for lab, _ in self.in_types if lab not in x]
        if missing:
            raise ValueError(f"`x` has no tensor for the labels {missing}")
        outs = []
        for m, labs, k in zip(self.modules, self.module_labels, _split_keys(key, len(self.modules))):
            y, state = _apply(m, [x[lab] for lab in labs], state, k, inference)
            outs.append(y)
        y = GeometricTensor(jnp.concatenate([o.tensor for o in outs], axis=self.out_type.channel_axis), self.out_type)
        return y if state is _MISSING else (y, state)

    def evaluate_output_shape(self, input_shapes: dict[str, tuple[int, ...]]) -> tuple[int, ...]:
        xs = {lab: jax.ShapeDtypeStruct(tuple(input_shapes[lab]), jnp.float32) for lab, _ in self.in_types}
        types = dict(self.in_types)

        def run(ts):
            return _call_with_default_state(self, {lab: GeometricTensor(t, types[lab]) for lab, t in ts.items()}).tensor

        return tuple(jax.eval_shape(run, xs).shape)

    def check_equivariance(
        self, atol: float = 1e-5, rtol: float = 1e-5, *, key=None, elements=None, input_size=None, batch: int = 2,
        state=None,
    ):  # fmt: skip
        """Check ``f(g x) = g f(x)`` on random inputs for every label."""
        from ..testing import assert_equivariant, random_input

        labels = [lab for lab, _ in self.in_types]
        whole = self.in_types[0][1]
        for _, t in self.in_types[1:]:
            whole = whole + t
        sizes = np.cumsum([0] + [len(t) for _, t in self.in_types])
        x = random_input(whole, key=default_key(key), batch=batch, size=input_size or self._testing_input_size())

        def fn(t):
            parts = t.split(list(sizes))
            return _call_with_default_state(self, dict(zip(labels, parts)), state)

        return assert_equivariant(fn, x, elements=elements, atol=atol, rtol=rtol)

    def export(self, state: eqx.nn.State | None = None):
        """An Equinox module ``{label: array} -> array`` of the exported members (stateful
        members need `state`)."""
        return _MergeExport(
            tuple(_export(m, state) for m in self.modules), self.module_labels, self.out_type.channel_axis
        )

    def _testing_input_size(self) -> int:
        return max((m._testing_input_size() for m in self.modules), default=17)


def _export(module, state):
    e = module.export(state) if _takes(module.export, "state") else module.export()
    return e if isinstance(e, eqx.Module) else _Function(e)


class _Function(eqx.Module):
    """A plain function (of one or several arrays) as an Equinox module."""

    fn: object = eqx.field(static=True)

    def __call__(self, *args, key=None):
        del key
        return self.fn(*args)


def _call_with_default_state(module, x, state=None):
    if state is None:
        state = eqx.nn.State(module)
    leaves, treedef = jax.tree_util.tree_flatten(state)
    return module(x, jax.tree_util.tree_unflatten(treedef, leaves))[0]


class _MergeExport(eqx.Module):
    modules: tuple
    module_labels: tuple = eqx.field(static=True)
    channel_axis: int = eqx.field(static=True)

    def __call__(self, x: dict, *, key=None):
        del key
        outs = [m(*[x[lab] for lab in labs]) for m, labs in zip(self.modules, self.module_labels)]
        return jnp.concatenate(outs, axis=self.channel_axis)


# -- MultipleModule ------------------------------------------------------------------------


class MultipleModule(EquivariantModule):
    """Splits the fields by label, applies one module per label (or list of labels) and
    concatenates the outputs in the order of `modules` (escnn's ``MultipleModule``: a
    `BranchingModule` followed by a `MergeModule`).

    Every label must be taken by a module (as escnn asserts). Stateful members (batch
    norms) are supported: call it as ``y, state = m(x, state)``; with no stateful member
    ``y = m(x)`` works too. Keys are split among the members.

    **Arguments:**

    - `in_type`: the input `FieldType`.
    - `labels`: one string per field of `in_type`.
    - `modules`: a list of pairs ``(module, label)`` or ``(module, [labels])``; each
      module's `in_type` must be the type of its label's fields.
    - `reshuffle`: 0..3, see `BranchingModule`.

    **Raises:** `TypeError`/`ValueError` naming the bad argument (unknown or unused labels,
    types that do not match the fields of a label).
    """

    branching: BranchingModule
    merging: MergeModule
    in_type: FieldType = eqx.field(static=True)
    out_type: FieldType = eqx.field(static=True)

    def __init__(
        self,
        in_type: FieldType,
        labels: Sequence[str],
        modules: Sequence[tuple[EquivariantModule, str | Sequence[str]]],
        reshuffle: int = 0,
    ):
        branching = BranchingModule(in_type, labels, reshuffle=reshuffle)
        merging = MergeModule(modules)
        branch_types = branching.out_type
        for lab, t in merging.in_types:
            if lab not in branch_types:
                raise ValueError(
                    f"`modules` use the label {lab!r}, which no field has (labels: {sorted(branch_types)})"
                )
            if t != branch_types[lab]:
                raise ValueError(
                    f"the module for label {lab!r} expects {t!r}, but the fields labelled {lab!r} are "
                    f"{branch_types[lab]!r}"
                )
        unused = [lab for lab in branch_types if lab not in dict(merging.in_types)]
        if unused:
            raise ValueError(f"no module in `modules` takes the fields labelled {unused}: every label needs a module")
        self.branching, self.merging = branching, merging
        self.in_type, self.out_type = in_type, merging.out_type

    def __call__(self, x: GeometricTensor, state=_MISSING, *, key=None, inference: bool | None = None):
        """**Returns:** ``(y, state)`` if `state` is given, else ``y``."""
        check_input(self, x)
        if state is _MISSING:
            return self.merging(self.branching(x), key=key, inference=inference)
        return self.merging(self.branching(x), state, key=key, inference=inference)

    def export(self, state: eqx.nn.State | None = None):
        """An Equinox module on arrays: the branching, then the merge's export."""
        return _MultipleExport(self.merging.export(state), self.branching.export())

    def _testing_input_size(self) -> int:
        return self.merging._testing_input_size()


class _MultipleExport(eqx.Module):
    merge: _MergeExport
    branch: _BranchExport

    def __call__(self, x, *, key=None):
        del key
        return self.merge(self.branch(x))
