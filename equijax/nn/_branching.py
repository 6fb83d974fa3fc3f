"""Modules that split a tensor by labels and combine modules over the parts:
`BranchingModule` (one tensor per label), `MergeModule` (one module per label, outputs
concatenated) and `MultipleModule` (a branching followed by a merge).

None of them has parameters of its own; the branches' index maps are numpy constants
computed from the field types when the module is built (static configuration, never array
leaves). Members are called through `call_member`, with the key, state and inference flag
each takes.
"""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..internal import is_int
from ._field_type import FieldType
from ._geometric_tensor import GeometricTensor
from ._misc import MISSING, call_member, channel_index, check_field_type, export_member, split_keys, take_channels
from ._module import EquivariantModule, check_input, default_key

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
    if not is_int(reshuffle) or not 0 <= reshuffle <= 3:
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
        (lab, in_type.index_select(fs), tuple(int(c) for c in channel_index(in_type, fs))) for lab, fs in groups.items()
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
        check_field_type(in_type)
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
        return {lab: GeometricTensor(take_channels(x.tensor, idx, ax), t) for lab, t, idx in self.branches}

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
        from .testing import assert_equivariant, random_input

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
        return {lab: take_channels(x, idx, self.channel_axis) for lab, idx in self.branches}


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

    def __call__(self, x: dict[str, GeometricTensor], state=MISSING, *, key=None, inference: bool | None = None):
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
        for m, labs, k in zip(self.modules, self.module_labels, split_keys(key, len(self.modules))):
            y, state = call_member(m, [x[lab] for lab in labs], state, k, inference, "container")
            outs.append(y)
        y = GeometricTensor(jnp.concatenate([o.tensor for o in outs], axis=self.out_type.channel_axis), self.out_type)
        return y if state is MISSING else (y, state)

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
        from .testing import assert_equivariant, random_input

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
    e = export_member(module, state)
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

    def __call__(self, x: GeometricTensor, state=MISSING, *, key=None, inference: bool | None = None):
        """**Returns:** ``(y, state)`` if `state` is given, else ``y``."""
        check_input(self, x)
        if state is MISSING:
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
