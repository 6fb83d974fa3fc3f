"""Reference architectures: the seeds' models and baselines."""

from ._e2wrn import (
    WideBasic as WideBasic,
    WideResNet as WideResNet,
    e2wrn16_8_stl as e2wrn16_8_stl,
    e2wrn28_7 as e2wrn28_7,
    e2wrn28_10 as e2wrn28_10,
    e2wrn28_10R as e2wrn28_10R,
)
from ._seeds import C4CNN as C4CNN, CNN as CNN, C8SteerableCNN as C8SteerableCNN

__all__ = [
    "CNN",
    "C4CNN",
    "C8SteerableCNN",
    "WideBasic",
    "WideResNet",
    "e2wrn16_8_stl",
    "e2wrn28_7",
    "e2wrn28_10",
    "e2wrn28_10R",
]
