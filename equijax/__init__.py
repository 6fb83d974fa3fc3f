"""equijax: E(2)-equivariant steerable CNNs in JAX and Equinox."""

from . import group as group

__version__ = "0.1.0"
