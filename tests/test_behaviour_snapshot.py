"""Behaviour is unchanged: model outputs, batch-norm state, exported models and layer
parameter counts match the snapshot in `tests/data/` (written by
`tests/data/make_behaviour_snapshot.py` before the dimension-generic re-cut)."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).parent / "data"
sys.path.insert(0, str(DATA))
import make_behaviour_snapshot as snapshot  # noqa: E402


@pytest.fixture(scope="module")
def stored():
    with np.load(snapshot.NPZ) as f:
        return {k: f[k] for k in f.files}


@pytest.mark.parametrize(
    "model", [pytest.param("c8", marks=pytest.mark.slow), "c4cnn", "e2wrn"]
)  # the full C8 model compiles for a minute on 2 cores: `-m slow` (run for every re-cut)
def test_model_outputs_match_snapshot(stored, model):
    outputs = snapshot.model_outputs([model])
    assert set(outputs) == {k for k in stored if k.startswith(f"{model}/")}
    for name, value in outputs.items():
        np.testing.assert_allclose(value, stored[name], rtol=0, atol=1e-6, err_msg=name)
    # negative control: the check sees a change far below the models' own scale
    name = f"{model}/train_logits"
    assert np.max(np.abs(outputs[name] + 1e-5 - stored[name])) > 1e-6


def test_layer_counts_match_snapshot():
    counts = snapshot.layer_counts()
    stored = json.loads(snapshot.JSON.read_text())
    assert len(stored) >= 280
    assert counts == stored
    assert sum(w for w, _ in counts.values()) > 0 and any(b for _, b in counts.values())
