"""Damaged and foreign data files are one-line `ValueError`s that never suggest unpickling;
refused loads leave nothing behind; saved files respect the umask (issue 13)."""

import os
import stat
import zipfile

import numpy as np
import pytest

from equijax import data


def _amat(rng, n):
    x = rng.random((n, 784)).round(3)
    y = rng.integers(0, 10, n)
    return "\n".join(" ".join(f"{v:g}" for v in row) + f" {lab}" for row, lab in zip(x, y)) + "\n"


def _mnist_rot(tmp_path, rng):
    d = tmp_path / "mnist_rotation_new"
    d.mkdir()
    (d / data._mnist_rot.MNIST_ROT_TRAIN).write_text(_amat(rng, 6))
    (d / data._mnist_rot.MNIST_ROT_TEST).write_text(_amat(rng, 4))
    z = tmp_path / "mnist_rotation_new.zip"
    with zipfile.ZipFile(z, "w") as f:
        for p in d.iterdir():
            f.write(p, p.name)
    return d, z


def _listing(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_refused_mnist_rot_load_leaves_no_cache(tmp_path, rng):
    d, z = _mnist_rot(tmp_path, rng)
    before = _listing(tmp_path)
    for source in (d, z, d / data._mnist_rot.MNIST_ROT_TEST):
        with pytest.raises(ValueError, match="rows; the MNIST-rot file has"):
            data.load_mnist_rot(source)  # strict: the official row counts
        assert _listing(tmp_path) == before, source
    # a load that succeeds caches, and the cache is then used
    ds = data.load_mnist_rot(d, strict=False)
    assert (d / ".mnist_rot_cache.npz").exists()
    assert np.array_equal(data.load_mnist_rot(d, strict=False).x_train, ds.x_train)


def test_not_npz_files_are_named_and_never_unpickled(tmp_path):
    random_bytes = tmp_path / "random.npz"
    random_bytes.write_bytes(np.random.default_rng(0).bytes(3000))
    npy = tmp_path / "array.npz"
    with open(npy, "wb") as f:
        np.save(f, np.zeros(3))
    pickled = tmp_path / "objects.npz"
    np.savez(pickled, description=np.array("d"), x_train=np.array([{"a": 1}], dtype=object), y_train=np.zeros(1),
             x_test=np.zeros(1), y_test=np.zeros(1))  # fmt: skip
    for path, needle in ((random_bytes, "not a valid dataset file"), (npy, "not a valid dataset file"),
                         (pickled, "Python objects")):  # fmt: skip
        with pytest.raises(ValueError) as e:
            data.load_dataset(str(path))
        msg = str(e.value)
        assert needle in msg and str(path) in msg and "\n" not in msg
        assert "pickle" not in msg.lower(), msg
    with pytest.raises(ValueError, match="not a valid MNIST .npz file") as e:
        data.load_mnist(random_bytes)
    assert "pickle" not in str(e.value).lower()


def test_corrupted_member_data_is_one_line(tmp_path):
    s = data.load_sample()
    path = tmp_path / "d.npz"
    data.save_dataset(path, data.Dataset("d", "d", s.x_train[:200], s.y_train[:200], s.x_test[:10], s.y_test[:10]))
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("x_train.npy")
    name_len, extra_len = np.frombuffer(bytes(raw[info.header_offset + 26 : info.header_offset + 30]), "<u2")
    start = info.header_offset + 30 + int(name_len) + int(extra_len)  # the local header's own lengths
    for offset in (10, info.compress_size // 2, info.compress_size - 3):  # inside x_train's compressed data
        bad = bytearray(raw)
        bad[start + offset] ^= 0x55
        path.write_bytes(bytes(bad))
        with pytest.raises(ValueError) as e:
            data.load_dataset(str(path))
        msg = str(e.value)
        assert str(path) in msg and "'x_train'" in msg and "corrupt" in msg and "\n" not in msg, msg


def test_dataset_message_does_not_say_spec(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        data.load_dataset(str(tmp_path / "nope.npz"))
    assert "spec" not in str(e.value) and f"dataset {str(tmp_path / 'nope.npz')!r}" in str(e.value)


def test_saved_dataset_lacking_arrays_or_with_bad_values(tmp_path):
    np.savez(tmp_path / "a.npz", description=np.array("d"), x_train=np.zeros((2, 28, 28)))
    with pytest.raises(ValueError, match=r"a\.npz is not a valid dataset file: it lacks y_train, x_test, y_test"):
        data.load_dataset(str(tmp_path / "a.npz"))
    z = np.zeros((2, 28, 28), np.float32)
    np.savez(tmp_path / "b.npz", description=np.array("d"), x_train=z + 3, y_train=np.zeros(2, int), x_test=z,
             y_test=np.zeros(2, int))  # fmt: skip
    with pytest.raises(ValueError, match=r"b\.npz is not a valid dataset file: `x_train` values"):
        data.load_dataset(str(tmp_path / "b.npz"))
    with pytest.raises(ValueError, match="`path`"):
        data.save_dataset(tmp_path, data.load_sample())


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_atomic_writes_respect_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        data.atomic_write(tmp_path / "f.bin", lambda f: f.write(b"x"))
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "f.bin").st_mode) == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_download_respects_the_umask(tmp_path, rng):
    _, z = _mnist_rot(tmp_path, rng)
    old = os.umask(0o022)
    try:
        target = data.download_mnist_rot(tmp_path / "cache", url=z.as_uri())
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o644
