"""`HashedValue`: the shared base of equijax's immutable values hashed once at construction.

A subclass stores its fields through ``self.__dict__`` in `__init__` (assignment raises
`AttributeError` with the class's `_IMMUTABLE` message), sets ``_hash`` there, and names in
`_VALUE_FIELDS` the fields `__eq__` compares after the hashes (numpy arrays by content).
The class that sets `_VALUE_FIELDS` is the one whose instances compare with each other, its
subclasses included (an irrep equals the same `Representation`); other objects give
`NotImplemented`. `Representation` and `equijax.nn.FieldType` use it.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np


class HashedValue:
    """An immutable value with a hash computed once (see the module docstring)."""

    _IMMUTABLE: ClassVar[str]
    _VALUE_FIELDS: ClassVar[tuple[str, ...]]
    _VALUE_CLASS: ClassVar[type]
    _hash: int

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "_VALUE_FIELDS" in cls.__dict__:
            cls._VALUE_CLASS = cls

    def __setattr__(self, name, value):
        raise AttributeError(self._IMMUTABLE)

    def __eq__(self, other) -> bool:
        if not isinstance(other, self._VALUE_CLASS):
            return NotImplemented
        if self._hash != other._hash:
            return False
        for name in self._VALUE_FIELDS:
            a, b = getattr(self, name), getattr(other, name)
            if not (np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b):
                return False
        return True

    def __hash__(self) -> int:
        return self._hash
