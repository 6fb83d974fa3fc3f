"""Image transforms in JAX: rotation with optional supersampling, padding, and the
random-rotation augmentation. All jit-compatible and keyed per sample.

Conventions match `equijax.gspaces`: a positive angle rotates the picture counterclockwise
as displayed (row 0 at the top), so ``rotate_images(x, pi / 2)`` equals
``np.rot90(x, axes=(-2, -1))`` on odd-sized grids, and rotations are about the grid centre.
"""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp
import numpy as np


def _check_supersample(supersample) -> int:
    if not isinstance(supersample, numbers.Integral) or isinstance(supersample, bool) or supersample < 1:
        raise ValueError(f"`supersample` (={supersample!r}) must be a positive integer")
    return int(supersample)


def _rotate_one(image: jnp.ndarray, angle: jnp.ndarray, supersample: int) -> jnp.ndarray:
    """One image ``(..., H, W)`` rotated by a scalar angle, bilinear with zeros outside; each
    output pixel is the mean of ``supersample**2`` bilinear samples spread over its area."""
    H, W = image.shape[-2:]
    s = supersample
    offsets = (np.arange(s) + 0.5) / s - 0.5
    rows = (np.arange(H)[:, None] + offsets[None, :]).reshape(-1)  # (H*s,)
    cols = (np.arange(W)[:, None] + offsets[None, :]).reshape(-1)  # (W*s,)
    px = jnp.asarray(cols - (W - 1) / 2, image.dtype)[None, :]  # x to the right
    py = jnp.asarray((H - 1) / 2 - rows, image.dtype)[:, None]  # y upwards
    c, sn = jnp.cos(angle).astype(image.dtype), jnp.sin(angle).astype(image.dtype)
    # source point R(-angle) p, in padded pixel coordinates (one ring of zeros)
    sx = c * px + sn * py
    sy = -sn * px + c * py
    fj = jnp.clip(sx + (W - 1) / 2 + 1, 0, W + 1)
    fi = jnp.clip((H - 1) / 2 - sy + 1, 0, H + 1)
    i0 = jnp.floor(fi).astype(jnp.int32)
    j0 = jnp.floor(fj).astype(jnp.int32)
    i1, j1 = jnp.minimum(i0 + 1, H + 1), jnp.minimum(j0 + 1, W + 1)
    lead = (1,) * (image.ndim - 2)  # explicit broadcasting over leading (channel) axes
    wi = (fi - i0.astype(fi.dtype)).reshape(lead + fi.shape)
    wj = (fj - j0.astype(fj.dtype)).reshape(lead + fj.shape)
    xp = jnp.pad(image, [(0, 0)] * (image.ndim - 2) + [(1, 1), (1, 1)])
    out = (
        xp[..., i0, j0] * ((1 - wi) * (1 - wj))
        + xp[..., i0, j1] * ((1 - wi) * wj)
        + xp[..., i1, j0] * (wi * (1 - wj))
        + xp[..., i1, j1] * (wi * wj)
    )
    if s > 1:
        out = out.reshape(out.shape[:-2] + (H, s, W, s)).mean(axis=(-3, -1))
    return out


def rotate_images(images, angles, *, supersample: int = 1) -> jnp.ndarray:
    """Rotate a batch of images about the grid centre, counterclockwise by `angles` (radians).

    Bilinear interpolation with zeros outside the grid. With ``supersample=s > 1`` each
    output pixel averages ``s x s`` bilinear samples over its area: the same as rotating an
    ``s``-times upsampled image and average-pooling it back, which removes most of the
    blur and aliasing of plain bilinear rotation.

    **Arguments:**

    - `images`: ``(B, ..., H, W)`` floating-point array.
    - `angles`: ``(B,)`` angles in radians, one per image.
    - `supersample`: samples per pixel along each axis.

    **Returns:** the rotated images, same shape and dtype.

    **Raises:** `ValueError` on shapes that do not match or a bad `supersample`.
    """
    s = _check_supersample(supersample)
    images = jnp.asarray(images)
    angles = jnp.asarray(angles)
    if images.ndim < 3:
        raise ValueError(f"`images` must have shape (B, ..., H, W); got shape {images.shape}")
    if not jnp.issubdtype(images.dtype, jnp.floating):
        raise TypeError(f"`images` must be floating point; got dtype {images.dtype}")
    if angles.shape != images.shape[:1]:
        raise ValueError(f"`angles` must have shape ({images.shape[0]},), one per image; got shape {angles.shape}")
    return jax.vmap(lambda im, a: _rotate_one(im, a, s))(images, angles)


def pad_images(images, size: int) -> jnp.ndarray:
    """Zero-pad images ``(..., H, W)`` to ``size x size``; an odd surplus goes to the bottom
    and right (28 -> 29 pads one row and column, as the escnn tutorial does).

    **Raises:** `ValueError` if an image is larger than `size`.
    """
    if not isinstance(size, numbers.Integral) or isinstance(size, bool) or size < 1:
        raise ValueError(f"`size` (={size!r}) must be a positive integer")
    xp = np if isinstance(images, np.ndarray) else jnp
    H, W = images.shape[-2:]
    if H > size or W > size:
        raise ValueError(f"`images` of size {H}x{W} do not fit in `size`={size}")
    top, left = (size - H) // 2, (size - W) // 2
    pad = [(0, 0)] * (images.ndim - 2) + [(top, size - H - top), (left, size - W - left)]
    return xp.pad(images, pad)


def random_rotations(key, images, *, supersample: int = 1) -> jnp.ndarray:
    """Rotate each image of a batch ``(B, ..., H, W)`` by its own angle drawn uniformly from
    [0, 2 pi); the angle of image i depends only on ``(key, i)``."""
    images = jnp.asarray(images)
    if images.ndim < 3:
        raise ValueError(f"`images` must have shape (B, ..., H, W); got shape {images.shape}")
    keys = jax.random.split(key, images.shape[0])
    angles = jax.vmap(lambda k: jax.random.uniform(k, (), images.dtype, 0.0, 2 * np.pi))(keys)
    return rotate_images(images, angles, supersample=supersample)
