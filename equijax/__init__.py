"""equijax: E(2)-equivariant steerable CNNs in JAX and Equinox."""

from . import (
    data as data,
    group as group,
    gspaces as gspaces,
    kernels as kernels,
    models as models,
    nn as nn,
    testing as testing,
)
from ._cpu import enable_fast_cpu_convolutions as enable_fast_cpu_convolutions

__version__ = "0.1.0"
