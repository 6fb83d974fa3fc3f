import gzip
import zipfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from equijax import data


def _smooth(rng, n, size):
    x = rng.random((n, size, size)).astype(np.float32)
    k = np.ones(5) / 5  # blur so that bilinear interpolation is accurate
    x = np.apply_along_axis(lambda r: np.convolve(r, k, "same"), -1, x)
    return np.apply_along_axis(lambda r: np.convolve(r, k, "same"), -2, x).astype(np.float32)


# -- transforms ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", [28, 29])
def test_rotate_quarter_turns_are_exact(rng, size):
    x = rng.random((3, size, size)).astype(np.float32)
    for k in range(4):
        out = data.rotate_images(x, jnp.full(3, k * np.pi / 2))
        np.testing.assert_allclose(out, np.rot90(x, k, axes=(-2, -1)), atol=1e-5)
    # negative control: +90 degrees is counterclockwise, not clockwise
    out = data.rotate_images(x, jnp.full(3, np.pi / 2))
    assert np.abs(np.asarray(out) - np.rot90(x, -1, axes=(-2, -1))).max() > 0.1


def test_rotate_round_trip_and_per_image_angles(rng):
    x = np.zeros((2, 1, 29, 29), np.float32)
    x[:, :, 8:21, 8:21] = _smooth(rng, 2, 13)[:, None]
    angles = jnp.array([0.3, -1.1])
    back = data.rotate_images(data.rotate_images(x, angles), -angles)
    assert np.abs(np.asarray(back) - x).max() < 0.1
    one = data.rotate_images(x[1:], angles[1:])
    np.testing.assert_allclose(data.rotate_images(x, angles)[1:], one, atol=1e-6)


def test_supersampling_reduces_sampling_error():
    # rotations preserve a digit's ink; plain bilinear sampling loses or gains some, depending on
    # the angle, and supersampling averages that error away
    x = data.pad_images(data.load_sample().x_test[:100], 29)
    ink = x.sum(axis=(1, 2))

    def ink_error(s):
        errs = []
        for theta in np.linspace(0.1, 6.0, 7):
            r = np.asarray(data.rotate_images(x, jnp.full(100, theta), supersample=s))
            errs.append(np.mean(np.abs(r.sum(axis=(1, 2)) - ink)) / ink.mean())
        return np.mean(errs)

    plain, fine = ink_error(1), ink_error(4)
    assert fine < plain / 3, (plain, fine)


def test_rotate_under_jit_and_float64():
    x = jnp.ones((2, 9, 9), jnp.float32)
    out = jax.jit(lambda x, a: data.rotate_images(x, a, supersample=2))(x, jnp.zeros(2))
    assert out.dtype == jnp.float32 and out.shape == x.shape
    y = data.rotate_images(np.ones((1, 9, 9)), np.zeros(1))
    assert y.dtype == jnp.result_type(float)  # float64 when x64 is enabled


def test_random_rotations_keyed(getkey):
    x = jnp.asarray(np.random.default_rng(1).random((4, 1, 29, 29)), jnp.float32)
    key = getkey()
    a, b = data.random_rotations(key, x), data.random_rotations(key, x)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, data.random_rotations(getkey(), x))
    assert not np.allclose(a[0], a[1] if np.allclose(x[0], x[1]) else x[0])


def test_transform_errors():
    with pytest.raises(ValueError, match="angles"):
        data.rotate_images(np.zeros((2, 5, 5), np.float32), np.zeros(3))
    with pytest.raises(TypeError, match="images"):
        data.rotate_images(np.zeros((2, 5, 5), np.int32), np.zeros(2))
    with pytest.raises(ValueError, match="supersample"):
        data.rotate_images(np.zeros((2, 5, 5), np.float32), np.zeros(2), supersample=0)
    with pytest.raises(ValueError, match="images"):
        data.rotate_images(np.zeros((5, 5), np.float32), np.zeros(5))
    with pytest.raises(ValueError, match="size"):
        data.pad_images(np.zeros((1, 28, 28)), 27)


def test_pad_images():
    x = np.ones((2, 28, 28), np.float32)
    p = data.pad_images(x, 29)
    assert p.shape == (2, 29, 29) and p[:, :28, :28].all() and not p[:, 28].any() and not p[:, :, 28].any()
    p = data.pad_images(x, 33)
    assert p[:, 2:30, 2:30].all() and p.sum() == x.sum()


# -- datasets ------------------------------------------------------------------------------


def test_sample_is_real_small_and_labelled():
    path = Path(data.__file__).with_name("mnist_rot_sample.npz")
    assert path.stat().st_size <= 2 * 1024 * 1024
    ds = data.load_sample()
    assert ds.x_train.shape == (2000, 28, 28) and ds.x_test.shape == (2000, 28, 28)
    assert ds.x_train.dtype == np.float32 and 0 <= ds.x_train.min() and ds.x_train.max() <= 1
    assert set(np.unique(ds.y_train)) == set(range(10)) and set(np.unique(ds.y_test)) == set(range(10))
    assert "2000 train / 2000 test" in ds.description
    assert data.load_dataset("sample").description == ds.description


def _synthetic_mnist(n_train=150, n_test=100):
    # image k is constant with value k + 1: its centre survives any rotation
    ids = np.arange(n_train + n_test)
    x = np.broadcast_to((ids + 1).astype(np.uint8)[:, None, None], (len(ids), 28, 28)).copy()
    y = (ids % 10).astype(np.uint8)
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def test_build_rotated_mnist_protocol():
    src = _synthetic_mnist()
    ds = data.build_rotated_mnist(src, 100, 120, seed=3)
    assert len(ds.x_train) == 100 and len(ds.x_test) == 120
    ident = lambda x: np.round(x[:, 14, 14] * 255).astype(int) - 1  # noqa: E731
    tr, te = ident(ds.x_train), ident(ds.x_test)
    assert np.array_equal(tr % 10, ds.y_train % 10) and np.array_equal(te % 10, ds.y_test % 10)
    # labels follow their digits, and train and test are disjoint draws
    assert len(np.unique(np.concatenate([tr, te]))) == 220  # distinct digits, train and test disjoint
    assert tr.min() >= 0 and te.max() < 250
    ds2 = data.build_rotated_mnist(src, 100, 120, seed=3)
    np.testing.assert_array_equal(ds.x_train, ds2.x_train)
    ds3 = data.build_rotated_mnist(src, 100, 120, seed=4)
    assert not np.array_equal(ds.y_train, ds3.y_train)
    with pytest.raises(ValueError, match="exceeds"):
        data.build_rotated_mnist(src, 200, 51)
    with pytest.raises(ValueError, match="n_train"):
        data.build_rotated_mnist(src, 0, 10)


def test_build_from_real_mnist_rotates_digits(mnist_file):
    ds = data.build_rotated_mnist(mnist_file, 200, 300, seed=0)
    x_train, *_ = data.load_mnist(mnist_file)
    # rotated digits keep their ink (up to interpolation at the border) but not their pixels
    ink = x_train[:500].astype(np.float32).sum(axis=(1, 2)).mean() / 255
    assert abs(ds.x_train.sum(axis=(1, 2)).mean() - ink) / ink < 0.15
    assert "seed 0" in ds.description and "200 train / 300 test" in ds.description


def _write_idx(path, arr):
    header = bytes([0, 0, 8, arr.ndim]) + np.array(arr.shape, ">u4").tobytes()
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def test_load_mnist_npz_and_idx(tmp_path):
    xtr, ytr, xte, yte = _synthetic_mnist(20, 10)
    np.savez(tmp_path / "m.npz", x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    got = data.load_mnist(tmp_path / "m.npz")
    np.testing.assert_array_equal(got[0], xtr)
    d = tmp_path / "idx"
    d.mkdir()
    for name, a in (("train-images", xtr), ("train-labels", ytr), ("t10k-images", xte), ("t10k-labels", yte)):
        _write_idx(d / f"{name}-idx{a.ndim}-ubyte.gz", a)
    got = data.load_mnist(d)
    np.testing.assert_array_equal(got[2], xte)
    np.testing.assert_array_equal(got[3], yte)
    # truncated IDX, wrong keys, labels out of range, missing file
    raw = gzip.open(d / "t10k-images-idx3-ubyte.gz").read()
    with gzip.open(d / "t10k-images-idx3-ubyte.gz", "wb") as f:
        f.write(raw[:-100])
    with pytest.raises(ValueError, match="truncated"):
        data.load_mnist(d)
    np.savez(tmp_path / "bad.npz", x_train=xtr)
    with pytest.raises(ValueError, match="lacks"):
        data.load_mnist(tmp_path / "bad.npz")
    np.savez(tmp_path / "lab.npz", x_train=xtr, y_train=ytr + 10, x_test=xte, y_test=yte)
    with pytest.raises(ValueError, match="labels"):
        data.load_mnist(tmp_path / "lab.npz")
    with pytest.raises(FileNotFoundError, match="nope"):
        data.load_mnist(tmp_path / "nope.npz")
    (tmp_path / "trunc.npz").write_bytes((tmp_path / "m.npz").read_bytes()[:200])
    with pytest.raises(ValueError, match="truncated"):
        data.load_mnist(tmp_path / "trunc.npz")


def _amat(rng, n):
    x = rng.random((n, 784)).round(4)
    y = rng.integers(0, 10, n)
    return x, y, "\n".join(" ".join(f"{v:g}" for v in row) + f" {lab}" for row, lab in zip(x, y)) + "\n"


def _mnist_rot_dir(tmp_path, rng, n_train=12, n_test=8):
    d = tmp_path / "mnist_rotation_new"
    d.mkdir()
    xtr, ytr, ttr = _amat(rng, n_train)
    xte, yte, tte = _amat(rng, n_test)
    (d / "mnist_all_rotation_normalized_float_train_valid.amat").write_text(ttr)
    (d / "mnist_all_rotation_normalized_float_test.amat").write_text(tte)
    return d, (xtr, ytr, xte, yte)


def test_load_mnist_rot_dir_zip_and_cache(tmp_path, rng):
    d, (xtr, ytr, xte, yte) = _mnist_rot_dir(tmp_path, rng)
    ds = data.load_mnist_rot(d, strict=False)
    np.testing.assert_allclose(ds.x_train.reshape(-1, 784), xtr, atol=1e-6)
    np.testing.assert_array_equal(ds.y_test, yte)
    assert (d / ".mnist_rot_cache.npz").exists()
    np.testing.assert_array_equal(data.load_mnist_rot(d, strict=False).x_test, ds.x_test)  # from the cache
    z = tmp_path / "mnist_rotation_new.zip"
    with zipfile.ZipFile(z, "w") as f:
        for p in d.glob("*.amat"):
            f.write(p, p.name)
    dz = data.load_mnist_rot(z, strict=False)
    np.testing.assert_array_equal(dz.x_train, ds.x_train)
    assert dz.name == "mnist-rot" and "12 train / 8 test" in dz.description
    with pytest.raises(ValueError, match="rows"):  # the official counts are checked by default
        data.load_mnist_rot(z)
    # an .amat path finds its sibling; load_dataset dispatches on the suffix (and checks the official counts)
    with pytest.raises(ValueError, match="12000"):
        data.load_dataset(str(d / "mnist_all_rotation_normalized_float_test.amat"))
    assert len(data.load_mnist_rot(d / "mnist_all_rotation_normalized_float_test.amat", strict=False).x_test) == 8


def test_load_mnist_rot_truncated_and_bad(tmp_path, rng):
    d, _ = _mnist_rot_dir(tmp_path, rng)
    f = d / "mnist_all_rotation_normalized_float_test.amat"
    f.write_text(f.read_text()[:-900])
    with pytest.raises(ValueError, match="truncated"):
        data.load_mnist_rot(d, strict=False)
    z = tmp_path / "x.zip"
    z.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ValueError, match="zip"):
        data.load_mnist_rot(z, strict=False)
    d2 = tmp_path / "labels"
    d2.mkdir()
    _, _, text = _amat(rng, 3)
    (d2 / "mnist_all_rotation_normalized_float_train_valid.amat").write_text(
        text.replace(" 0\n", " 11\n") + "0 " * 784 + "12\n"
    )
    (d2 / "mnist_all_rotation_normalized_float_test.amat").write_text(text)
    with pytest.raises(ValueError, match="labels"):
        data.load_mnist_rot(d2, strict=False)
    (d2 / "mnist_all_rotation_normalized_float_test.amat").unlink()
    with pytest.raises(FileNotFoundError, match="lacks"):
        data.load_mnist_rot(d2, strict=False)


def test_download_from_local_file_url(tmp_path, rng):
    d, _ = _mnist_rot_dir(tmp_path, rng)
    z = tmp_path / "src.zip"
    with zipfile.ZipFile(z, "w") as f:
        for p in d.glob("*.amat"):
            f.write(p, p.name)
    cache = tmp_path / "cache"
    url = z.as_uri()
    with pytest.raises(ValueError, match="SHA-256"):
        data.download_mnist_rot(cache, url=url, sha256="0" * 64)
    assert not any(cache.iterdir())  # nothing kept
    target = data.download_mnist_rot(cache, url=url)
    assert target.read_bytes() == z.read_bytes()
    assert (cache / "mnist_rotation_new.zip.sha256").read_text().strip() == data._files.sha256_of(z)
    assert data.download_mnist_rot(cache, url="http://127.0.0.1:9/never-used") == target  # cached
    # a corrupted cached copy is caught by the recorded digest
    target.write_bytes(target.read_bytes()[:-10])
    with pytest.raises(ValueError, match="SHA-256"):
        data.download_mnist_rot(cache)
    # not a zip: nothing kept
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"hello")
    with pytest.raises(ValueError, match="not a zip"):
        data.download_mnist_rot(tmp_path / "c2", url=bad.as_uri())
    assert not any((tmp_path / "c2").iterdir())


def test_download_offline_is_a_clear_error(tmp_path):
    with pytest.raises(ConnectionError, match="could not download.*--dataset"):
        data.download_mnist_rot(tmp_path, url="http://127.0.0.1:9/mnist_rotation_new.zip", timeout=5)
    assert not any(tmp_path.iterdir())
    with pytest.raises(FileNotFoundError, match="download"):
        data.load_dataset("mnist-rot", cache_dir=tmp_path, download=False)


def test_load_dataset_specs_and_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no/such/file"):
        data.load_dataset("no/such/file.npz")
    with pytest.raises(TypeError, match="spec"):
        data.load_dataset(3)
    ds = data.load_sample()
    small = data.Dataset("small", "a test subset", ds.x_train[:50], ds.y_train[:50], ds.x_test[:20], ds.y_test[:20])
    data.save_dataset(tmp_path / "small.npz", small)
    back = data.load_dataset(str(tmp_path / "small.npz"))
    assert back.name == "small" and "a test subset" in back.description
    np.testing.assert_allclose(back.x_train, small.x_train, atol=0.5 / 255 + 1e-7)
    np.testing.assert_array_equal(back.y_test, small.y_test)


def test_dataset_validation():
    x = np.zeros((4, 28, 28), np.float32)
    y = np.zeros(4, np.int64)
    with pytest.raises(ValueError, match="x_train"):
        data.Dataset("d", "", np.zeros((4, 27, 28)), y, x, y)
    with pytest.raises(ValueError, match=r"y_test.*\[0, 10\)"):
        data.Dataset("d", "", x, y, x, y + 10)
    with pytest.raises(ValueError, match="y_train.*shape"):
        data.Dataset("d", "", x, y[:3], x, y)
    with pytest.raises(ValueError, match=r"x_test.*\[0, 1\]"):
        data.Dataset("d", "", x, y, x + 2, y)
    with pytest.raises(ValueError, match="integer"):
        data.Dataset("d", "", x, y + 0.5, x, y)


# -- batching -----------------------------------------------------------------------------


def test_epoch_order_and_batches():
    a, b = data.epoch_order(100, 3, 0), data.epoch_order(100, 3, 0)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, data.epoch_order(100, 4, 0))
    assert sorted(a) == list(range(100))
    bs = data.batch_indices(100, 32, a)
    assert len(bs) == 3 and all(len(b) == 32 for b in bs)
    assert sum(len(b) for b in data.batch_indices(100, 32, drop_last=False)) == 100
    with pytest.raises(ValueError, match="batch_size"):
        data.batch_indices(10, 0)
    with pytest.raises(ValueError, match="exceeds"):
        data.batch_indices(10, 11)


def test_prefetch_keeps_order_and_reraises():
    assert [int(x) for x in data.prefetch(iter(range(7)), put=np.int64, size=2)] == list(range(7))

    def broken():
        yield 1
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        list(data.prefetch(broken(), put=lambda x: x))
    it = data.prefetch(iter(range(1000)), put=lambda x: x, size=1)
    assert next(it) == 0
    it.close()  # stopping early does not hang
