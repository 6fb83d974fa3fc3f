"""Data for rotated-digit experiments: loaders (MNIST-rot, plain MNIST, the bundled sample),
the protocol builder, JAX image transforms for on-device augmentation, and batching."""

from ._dataset import Dataset as Dataset, load_sample as load_sample
from ._files import atomic_write as atomic_write
from ._load import load_dataset as load_dataset, save_dataset as save_dataset
from ._mnist import build_rotated_mnist as build_rotated_mnist, load_mnist as load_mnist, read_idx as read_idx
from ._mnist_rot import (
    MNIST_ROT_URL as MNIST_ROT_URL,
    default_cache_dir as default_cache_dir,
    download_mnist_rot as download_mnist_rot,
    load_mnist_rot as load_mnist_rot,
)
from ._pipeline import batch_indices as batch_indices, epoch_order as epoch_order, prefetch as prefetch
from ._transforms import pad_images as pad_images, random_rotations as random_rotations, rotate_images as rotate_images

__all__ = [
    "MNIST_ROT_URL",
    "Dataset",
    "atomic_write",
    "batch_indices",
    "build_rotated_mnist",
    "default_cache_dir",
    "download_mnist_rot",
    "epoch_order",
    "load_dataset",
    "load_mnist",
    "load_mnist_rot",
    "load_sample",
    "pad_images",
    "prefetch",
    "random_rotations",
    "read_idx",
    "rotate_images",
    "save_dataset",
]
