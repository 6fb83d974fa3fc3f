"""Write `behaviour_snapshot.npz` and `behaviour_snapshot.json`: the outputs the library
produces today, which `tests/test_behaviour_snapshot.py` holds every later version to.

    .venv/bin/python tests/data/make_behaviour_snapshot.py          # (re)write both files
    .venv/bin/python tests/data/make_behaviour_snapshot.py --check  # compare, write nothing

Recorded, for fixed keys and inputs: the logits and batch-norm state of the seed C8 model,
the C4CNN and a small equivariant Wide ResNet in training mode, their inference-mode logits
and the outputs of their exported plain-Equinox models (npz); and the trainable-parameter
counts (filter weights and biases) of a few hundred R2Conv / R2ConvTransposed / Linear layers
between fields of the planar gspaces (json). Regenerate only for an intended change of
behaviour, and say so in the commit.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from equijax.data._files import atomic_write  # the package's own atomic, mode-keeping write

HERE = Path(__file__).resolve().parent
NPZ = HERE / "behaviour_snapshot.npz"
JSON = HERE / "behaviour_snapshot.json"


def _models():
    from equijax import models

    wrn = dict(depth=10, widen_factor=1, N=4, r=1, f=True, fixparams=False, dropout_rate=0.0)
    return {
        "c8": (lambda: eqx.nn.make_with_state(models.C8SteerableCNN)(jax.random.key(0)), (2, 1, 29, 29)),
        "c4cnn": (lambda: eqx.nn.make_with_state(models.C4CNN)(jax.random.key(1)), (2, 1, 33, 33)),
        "e2wrn": (lambda: eqx.nn.make_with_state(models.WideResNet)(jax.random.key(2), **wrn), (2, 3, 17, 17)),
    }


def model_outputs(names=None) -> dict[str, np.ndarray]:
    """Training-mode logits and state, inference logits and exported outputs per model, all in
    float64: a float32 training-mode batch norm over two images amplifies rounding (a change of
    XLA's optimisation level alone moves the C8 logits by 2e-4), float64 leaves only the
    behaviour to compare."""
    with jax.enable_x64(True):
        return _model_outputs(names)


def _model_outputs(names) -> dict[str, np.ndarray]:
    out = {}
    for name, (build, shape) in _models().items():
        if names is not None and name not in names:
            continue
        model, state = build()
        x = jax.random.normal(jax.random.key(7), shape, jnp.float64)
        logits, new_state = eqx.filter_jit(lambda m, x, s: m(x, s))(model, x, state)
        out[f"{name}/train_logits"] = np.asarray(logits)
        for i, leaf in enumerate(jax.tree_util.tree_leaves(new_state)):
            out[f"{name}/state_{i}"] = np.asarray(leaf)
        logits_inf, _ = eqx.filter_jit(lambda m, x, s: m(x, s, inference=True))(model, x, new_state)
        out[f"{name}/inference_logits"] = np.asarray(logits_inf)
        exported = model.export(new_state)
        out[f"{name}/export_logits"] = np.asarray(eqx.filter_jit(lambda e, x: jax.vmap(e)(x))(exported, x))
    return out


def layer_counts() -> dict[str, list[int]]:
    """``{layer description: [filter weights, bias parameters]}`` for a few hundred layers."""
    from equijax import gspaces, nn

    spaces = {
        "rot1": gspaces.rot2dOnR2(1),
        "rot2": gspaces.rot2dOnR2(2),
        "rot3": gspaces.rot2dOnR2(3),
        "rot4": gspaces.rot2dOnR2(4),
        "rot8": gspaces.rot2dOnR2(8),
        "fliprot1": gspaces.flipRot2dOnR2(1),
        "fliprot4": gspaces.flipRot2dOnR2(4),
        "fliprot6": gspaces.flipRot2dOnR2(6),
        "so2_3": gspaces.rot2dOnR2(-1, maximum_frequency=3),
        "o2_2": gspaces.flipRot2dOnR2(-1, maximum_frequency=2),
        "flip": gspaces.flip2dOnR2(),
        "trivial": gspaces.trivialOnR2(),
    }
    counts: dict[str, list[int]] = {}
    for sname, gs in spaces.items():
        gs0 = gspaces.no_base_space(gs.fibergroup)
        fields = {"trivial": gs.trivial_repr}
        if gs.fibergroup.order() > 0:
            fields["regular"] = gs.regular_repr
        for irr in gs.irreps[1:3]:
            fields[f"irrep{irr.id}"] = irr
        names = list(fields)
        for a in names:
            for b in names:
                t_in = nn.FieldType(gs, [fields[a], fields[b]])
                t_out = nn.FieldType(gs, [fields[b], fields[a], fields[a]])
                k = 5 if a == b else 3
                conv = nn.R2Conv(t_in, t_out, k, key=jax.random.key(0))
                counts[f"{sname} R2Conv {a},{b} -> {b},{a},{a} k={k}"] = _count(conv)
                if a == b:
                    tconv = nn.R2ConvTransposed(t_in, t_out, 3, key=jax.random.key(0))
                    counts[f"{sname} R2ConvTransposed {a},{b} -> {b},{a},{a} k=3"] = _count(tconv)
                lin_in, lin_out = (nn.FieldType(gs0, t.representations) for t in (t_in, t_out))
                try:
                    lin = nn.Linear(lin_in, lin_out, key=jax.random.key(0))
                except ValueError as e:  # no equivariant linear map between these types
                    if "no equivariant" not in str(e).lower() and "empty" not in str(e).lower():
                        raise
                    counts[f"{sname} Linear {a},{b} -> {b},{a},{a}"] = [0, 0]
                else:
                    counts[f"{sname} Linear {a},{b} -> {b},{a},{a}"] = _count(lin)
    return counts


def _count(layer) -> list[int]:
    weights = getattr(layer, "weights", None)
    bias = getattr(layer, "bias", None)
    return [0 if weights is None else int(weights.size), 0 if bias is None else int(bias.size)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the stored files, write nothing")
    args = parser.parse_args(argv)
    outputs, counts = model_outputs(), layer_counts()
    if args.check:
        with np.load(NPZ) as f:
            stored = {k: f[k] for k in f.files}
        worst = max(float(np.max(np.abs(stored[k] - v))) for k, v in outputs.items())
        same = json.loads(JSON.read_text()) == counts
        print(f"worst output difference {worst:.3g}; layer counts {'equal' if same else 'DIFFER'}")
        return 0 if worst <= 1e-6 and same and set(stored) == set(outputs) else 1

    atomic_write(NPZ, lambda f: np.savez(f, **outputs))
    atomic_write(JSON, lambda f: f.write((json.dumps(counts, indent=0, sort_keys=True) + "\n").encode()))
    print(f"wrote {NPZ.name} ({len(outputs)} arrays) and {JSON.name} ({len(counts)} layers)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
