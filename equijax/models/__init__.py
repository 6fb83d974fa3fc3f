"""Reference architectures: the seeds' models and baselines."""

from ._seeds import C4CNN as C4CNN, CNN as CNN, C8SteerableCNN as C8SteerableCNN

__all__ = ["CNN", "C4CNN", "C8SteerableCNN"]
