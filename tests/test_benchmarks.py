"""The benchmark harness runs, and its floor network has the equivariant model's shapes."""

import math
import pathlib
import sys

import jax
import pytest

from equijax import nn

sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "benchmarks"))
import seed_c8  # noqa: E402


@pytest.mark.parametrize(
    "model, group",
    [pytest.param("c8", "C8", marks=pytest.mark.slow), ("c8", "D4"), pytest.param("c4", "C4", marks=pytest.mark.slow)],
)  # one case in the timed suite, all with -m slow
def test_floor_has_the_models_filter_shapes(model, group):
    N, refl = seed_c8.parse_group(group)
    eq, _, _, fields = seed_c8.build_equijax(model, N, refl, 0.25, jax.random.key(0))
    floor = seed_c8.floor_for(model, fields, 2 * N if refl else N, 10, jax.random.key(0))
    convs = [layer for layer in eq.blocks if isinstance(layer, nn.R2Conv)]
    assert [c.expand_parameters()[0].shape for c in convs] == [f.shape for f in floor.filters]


@pytest.mark.slow  # about a minute on 2 cores; the e2wrn benchmark's smoke run (timed suite) shares the harness
def test_compare_prints_the_table(capsys):
    ratios = seed_c8.compare("c4", "C4", 0.25, 4, 1)
    out = capsys.readouterr().out
    assert "| equijax" in out and "| floor" in out and "ratios:" in out
    assert all(math.isfinite(v) and v > 0 for v in ratios.values())
