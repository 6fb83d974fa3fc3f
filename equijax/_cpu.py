"""XLA:CPU settings that make equijax's convolutions faster on CPU."""

from __future__ import annotations

import os
import re

YNN_FLAG = "--xla_cpu_experimental_ynn_fusion_type=dot,eltwise,reduce"


def ynn_enabled() -> bool:
    """Whether XLA:CPU runs with YNNPACK dot fusion (``XLA_FLAGS`` holds
    ``--xla_cpu_experimental_ynn_fusion_type`` with ``dot``), which makes its convolutions and
    their gradients faster on CPU."""
    m = re.search(r"--xla_cpu_experimental_ynn_fusion_type=(\S+)", os.environ.get("XLA_FLAGS", ""))
    return m is not None and "dot" in m.group(1).split(",")


def enable_fast_cpu_convolutions() -> bool:
    """Turn on XLA:CPU's YNNPACK fusions (dots, elementwise, reductions), under which its
    convolutions and their gradients run about 1.3-2x faster on CPU, by adding
    ``--xla_cpu_experimental_ynn_fusion_type=dot,eltwise,reduce`` to ``XLA_FLAGS``.

    XLA reads its flags when JAX starts its backends, so call this before any JAX
    computation (or set the variable in the shell). Only XLA:CPU is affected; equijax then
    uses XLA's own filter gradient, which is the fastest with these fusions. A user's own
    ``--xla_cpu_experimental_ynn_fusion_type`` setting is left as it is.

    **Returns:** True if the fusions are on (now or already), False if the user's
    ``XLA_FLAGS`` sets the YNN fusion types without dots.

    **Raises:** `RuntimeError` if JAX's backends are already initialised without the flag.
    """
    flags = os.environ.get("XLA_FLAGS", "")
    if "--xla_cpu_experimental_ynn_fusion_type" in flags:
        return ynn_enabled()
    from jax._src import xla_bridge

    if xla_bridge.backends_are_initialized():
        raise RuntimeError(
            "JAX has already started its backends, so XLA flags can no longer change: call "
            "equijax.enable_fast_cpu_convolutions() before any JAX computation, or start Python with "
            f"XLA_FLAGS='{YNN_FLAG}'"
        )
    os.environ["XLA_FLAGS"] = f"{flags} {YNN_FLAG}".strip()
    return True
