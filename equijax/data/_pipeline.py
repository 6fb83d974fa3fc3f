"""Host-side batching with prefetch to the accelerator."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator

import jax
import numpy as np


def epoch_order(n: int, epoch: int, seed: int) -> np.ndarray:
    """The shuffled order of `n` examples in `epoch`: a function of ``(seed, epoch)`` only,
    so a resumed run sees exactly the batches an uninterrupted one would."""
    return np.random.default_rng([int(seed), int(epoch)]).permutation(n)


def batch_indices(n: int, batch_size: int, order: np.ndarray | None = None, drop_last: bool = True) -> list:
    """Index arrays of consecutive batches of `order` (default ``arange(n)``).

    **Raises:** `ValueError` if `batch_size` is not a positive integer, or it exceeds `n`
    with ``drop_last=True`` (no batch at all).
    """
    if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"`batch_size` (={batch_size!r}) must be a positive integer")
    if drop_last and batch_size > n:
        raise ValueError(f"`batch_size` (={batch_size}) exceeds the {n} examples available")
    order = np.arange(n) if order is None else order
    stop = n - n % batch_size if drop_last else n
    return [order[i : i + batch_size] for i in range(0, stop, batch_size)]


def prefetch(batches: Iterable, put: Callable = jax.device_put, size: int = 2) -> Iterator:
    """Iterate over `batches` with `put` (e.g. a sharded `jax.device_put`) applied up to
    `size` batches ahead in a background thread, so host work and the host-to-device copy
    overlap the previous step. Exceptions in the producer are re-raised in the consumer."""
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"`size` (={size!r}) must be a positive integer")
    q: queue.Queue = queue.Queue(maxsize=size)
    done = object()
    stop = threading.Event()

    def produce():
        try:
            for b in batches:
                if stop.is_set():
                    return
                q.put(put(b))
            q.put(done)
        except BaseException as e:  # handed to the consumer
            q.put(e)

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.01)
