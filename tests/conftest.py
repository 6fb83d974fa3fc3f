import gc
import importlib
import os
from pathlib import Path

# The suite runs small inputs, where XLA's compile time dominates the run time: it compiles
# with LLVM's optimisations off (about 45% less CPU time for the whole suite; XLA's semantics
# are unchanged). Set before JAX starts its backends; subprocesses inherit it. A run that sets
# the level itself keeps its own.
if "--xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_backend_optimization_level=0".strip()

import jax
import numpy as np
import pytest

jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def getkey():
    """A function returning a fresh PRNG key on each call (deterministic per test)."""
    key = jax.random.key(0)

    def _getkey():
        nonlocal key
        key, sub = jax.random.split(key)
        return sub

    return _getkey


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def mnist_file(tmp_path_factory) -> Path:
    """A keras-layout MNIST ``.npz`` of real digits: the file `EQUIJAX_MNIST` names (``make
    test`` sets it), or else one written from the digits bundled with equijax (2,000 + 2,000
    real MNIST digits, already rotated), so that no test is skipped for want of a dataset."""
    given = os.environ.get("EQUIJAX_MNIST")
    if given and Path(given).is_file():
        return Path(given)
    from equijax import data

    path = tmp_path_factory.mktemp("mnist") / "mnist.npz"
    data.save_dataset(path, data.load_sample())  # uint8 (N, 28, 28) x_train ... y_test: keras layout
    return path


def pytest_sessionfinish(session):
    """In a pytest-xdist worker, do the end-of-run work now, before the worker reports back.

    The worker sends "workerfinished" when its `pytest_sessionfinish` hooks are done; the
    controller then closes the worker's gateway, and execnet gives the worker 5 seconds to
    finish before it sends it a SIGINT. What the worker still had to do then took longer on a
    busy 2-core machine: Hypothesis's terminal-summary hook imports the whole `hypothesis`
    package (no test imports it before), and pytest's `unraisableexception` plugin runs a
    full `gc.collect()` at unconfigure, which traverses every live object of a JAX-heavy
    process and runs JAX's gc callback (XLA's collector). The SIGINT then landed in that
    callback: the run ended with "Exception ignored in: <function _xla_gc_callback> ...
    KeyboardInterrupt". So: import what the summary imports, collect now, and freeze the
    survivors (`gc.freeze`), so the collection at unconfigure only looks at objects made
    after this point and takes milliseconds. Finalizer errors are still reported: the
    collection here runs under pytest's unraisable-exception hook like the later one.
    """
    if not hasattr(session.config, "workerinput"):  # not an xdist worker: nothing races
        return
    if session.config.pluginmanager.has_plugin("hypothesispytest"):
        importlib.import_module("hypothesis")
    gc.collect()
    gc.freeze()
