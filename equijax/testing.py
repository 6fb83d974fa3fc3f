"""Testing helpers for equivariance, public so users can test their own models.

from equijax.testing import assert_equivariant
assert_equivariant(model, x)          # x: a GeometricTensor
"""

from .nn.testing import (
    assert_equivariant as assert_equivariant,
    equivariance_errors as equivariance_errors,
    grid_exact_elements as grid_exact_elements,
    random_input as random_input,
)

__all__ = ["grid_exact_elements", "random_input", "equivariance_errors", "assert_equivariant"]
