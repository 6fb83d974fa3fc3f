"""One precision table for the trainer: `TrainConfig`, the CLI, the train step and the
evaluation all read `equijax.train._config.PRECISIONS`, and refuse other names with the
messages they gave before."""

import importlib
import pkgutil

import jax.numpy as jnp
import optax
import pytest

import equijax.train
from equijax.train import TrainConfig, make_train_step
from equijax.train._cli import _parser
from equijax.train._config import PRECISIONS, precision_dtype


def test_one_table():
    tables = {}
    for info in pkgutil.iter_modules(equijax.train.__path__):
        if info.name == "__main__":
            continue
        module = importlib.import_module(f"equijax.train.{info.name}")
        if "PRECISIONS" in vars(module):
            tables[info.name] = vars(module)["PRECISIONS"]
    assert tables and all(t is PRECISIONS for t in tables.values()), tables
    assert PRECISIONS == {"float32": None, "bfloat16": jnp.bfloat16}


def test_names_and_dtypes():
    assert precision_dtype("float32") is None and precision_dtype("bfloat16") is jnp.bfloat16
    with pytest.raises(ValueError, match=r"^`precision` \(='float16'\) must be one of float32, bfloat16$"):
        precision_dtype("float16")
    with pytest.raises(ValueError, match=r"^`precision` \(='float16'\) must be one of float32, bfloat16$"):
        make_train_step(optax.sgd(0.1), precision="float16")
    action = next(a for a in _parser()._actions if a.dest == "precision")
    assert list(action.choices) == ["float32", "bfloat16"]


@pytest.mark.parametrize("bad", ["float16", ["float32"], 32])
def test_config_refuses_other_names(bad):
    with pytest.raises(ValueError, match=r"^unknown `precision` .*; expected one of float32, bfloat16$"):
        TrainConfig(precision=bad)


def test_counts_read_as_english():
    from equijax.train._report import _count

    assert _count(3, "epoch") == "3 epochs"  # was "3 epoches"
    assert _count(1, "epoch") == "1 epoch"
    assert _count(3, "class") == "3 classes" and _count(2, "batch") == "2 batches"
    assert _count(2, "cpu device") == "2 cpu devices"
