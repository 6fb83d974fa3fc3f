"""Run the notebooks top to bottom in quick mode (code cells executed in a fresh process).

Quick mode runs on the digit sample bundled with equijax (`equijax.data.load_sample`), and the
environment variables that point a notebook at other data are removed, so these tests run, and
test the same thing, on every machine: none is ever skipped for want of a dataset.
"""

import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).parents[2]
# what points a notebook at other data than the bundled sample (removed for the test)
DATA_VARIABLES = ("EQUIJAX_MNIST", "EQUIJAX_DATASET", "EQUIJAX_CKPT_DIR")
# what each notebook must print (a notebook without an entry here fails the test)
EXPECTED = {
    "c8_steerable_cnn.ipynb": ["max deviation, 90-degree rotations", "test accuracy"],
    "upright_vs_rotated.ipynb": ["averaged over rotations", "C4CNN - CNN on rotated digits", "saved"],
    "equivariance_figure.ipynb": ["stabilized invariant field", "saved"],
}
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def notebook_source(path: pathlib.Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    return "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def test_every_notebook_is_tested():
    assert NOTEBOOKS and sorted(p.name for p in NOTEBOOKS) == sorted(EXPECTED)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_in_quick_mode(path, tmp_path):
    script = tmp_path / "notebook.py"
    script.write_text(notebook_source(path))
    env = dict(os.environ, EQUIJAX_NOTEBOOK_QUICK="1", EQUIJAX_FIGURE_DIR=str(tmp_path))
    for name in DATA_VARIABLES:
        env.pop(name, None)
    out = subprocess.run(
        [sys.executable, str(script)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900
    )
    assert out.returncode == 0, out.stderr[-3000:]
    # every notebook says which data it used: in quick mode, the bundled sample
    assert "dataset: bundled sample" in out.stdout, out.stdout[-2000:]
    for text in EXPECTED[path.name]:
        assert text in out.stdout, (text, out.stdout[-2000:])
    for png in ("upright_vs_rotated.png", "equivariance.png"):
        if png in out.stdout:
            assert (tmp_path / png).stat().st_size > 10_000
    print(out.stdout)
