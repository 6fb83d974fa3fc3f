"""Run the notebooks top to bottom in quick mode (code cells executed in a fresh process)."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).parents[2]
MNIST = pathlib.Path(os.environ.get("EQUIJAX_MNIST", ROOT.parent / "shared/data/mnist.npz"))
# what each notebook must print (a notebook without an entry here fails the test)
EXPECTED = {
    "c8_steerable_cnn.ipynb": ["max deviation, 90-degree rotations", "test accuracy", "dataset: bundled sample"],
    "upright_vs_rotated.ipynb": ["averaged over rotations", "C4CNN - CNN on rotated digits", "saved"],
    "equivariance_figure.ipynb": ["stabilized invariant field", "saved"],
}


def notebook_source(path: pathlib.Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    return "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.name)
def test_notebook_runs_in_quick_mode(path, tmp_path):
    if not MNIST.exists():
        pytest.skip(f"MNIST digits not found at {MNIST} (set EQUIJAX_MNIST)")
    script = tmp_path / "notebook.py"
    script.write_text(notebook_source(path))
    env = dict(os.environ, EQUIJAX_NOTEBOOK_QUICK="1", EQUIJAX_MNIST=str(MNIST), EQUIJAX_FIGURE_DIR=str(tmp_path))
    env.pop("EQUIJAX_DATASET", None)
    env.pop("EQUIJAX_CKPT_DIR", None)
    out = subprocess.run([sys.executable, str(script)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    for text in EXPECTED[path.name]:
        assert text in out.stdout, (text, out.stdout[-2000:])
    for png in ("upright_vs_rotated.png", "equivariance.png"):
        if png in out.stdout:
            assert (tmp_path / png).stat().st_size > 10_000
    print(out.stdout)
