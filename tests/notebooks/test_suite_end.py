"""The end of a `pytest -n 2` run (`make test`): workers must finish within execnet's grace.

See `tests/conftest.py::pytest_sessionfinish` for the cause of the "KeyboardInterrupt in
_xla_gc_callback" warning the suite used to end with.
"""

import gc
import pathlib
import sys
import types
import weakref

import pytest

CONFTEST = pathlib.Path(__file__).parents[1] / "conftest.py"


@pytest.fixture
def conftest(request):
    plugins = [p for p in request.config.pluginmanager.get_plugins() if getattr(p, "__file__", None) == str(CONFTEST)]
    assert len(plugins) == 1, "tests/conftest.py is not loaded as a plugin"
    return plugins[0]


class _Cycle:
    def __init__(self):
        self.me = self


def _session(config, worker: bool):
    attrs = {"pluginmanager": config.pluginmanager}
    if worker:
        attrs["workerinput"] = {"workerid": "gw0"}
    return types.SimpleNamespace(config=types.SimpleNamespace(**attrs))


def test_worker_collects_and_freezes_before_it_reports(conftest, request):
    garbage = weakref.ref(_Cycle())  # cyclic garbage: only a collection frees it
    assert gc.get_freeze_count() == 0
    try:
        conftest.pytest_sessionfinish(_session(request.config, worker=True))
        assert garbage() is None, "the worker did not collect before reporting"
        assert gc.get_freeze_count() > 0, "the survivors were not frozen"
        if request.config.pluginmanager.has_plugin("hypothesispytest"):
            assert "hypothesis" in sys.modules  # what Hypothesis's terminal summary imports
    finally:
        gc.unfreeze()


def test_nothing_changes_outside_xdist_workers(conftest, request):
    garbage = weakref.ref(_Cycle())
    gc.disable()  # no automatic collection may free the cycle meanwhile
    try:
        conftest.pytest_sessionfinish(_session(request.config, worker=False))
        assert gc.get_freeze_count() == 0
        assert garbage() is not None
    finally:
        gc.enable()
        gc.unfreeze()
