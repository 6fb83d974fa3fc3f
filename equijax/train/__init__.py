"""Training: a jit-compiled, data-parallel loop with checkpoints and metrics, and the
``equijax-train`` command line (`main`)."""

from ._checkpoint import (
    load_checkpoint as load_checkpoint,
    read_header as read_header,
    save_checkpoint as save_checkpoint,
)
from ._cli import main as main
from ._config import MODEL_NAMES as MODEL_NAMES, TrainConfig as TrainConfig
from ._evaluate import evaluate as evaluate, invariance_error as invariance_error
from ._loop import fit as fit
from ._resume import load_trained as load_trained
from ._step import make_optimizer as make_optimizer, make_train_step as make_train_step

__all__ = [
    "MODEL_NAMES",
    "TrainConfig",
    "evaluate",
    "fit",
    "invariance_error",
    "load_checkpoint",
    "load_trained",
    "main",
    "make_optimizer",
    "make_train_step",
    "read_header",
    "save_checkpoint",
]
