"""Files and the training CLI: nothing corrupt is used, nothing is lost (issue 13).

Every refusal is checked for a one-line message naming the argument or file, and for leaving
the files on disk as they were (bytes and modification times). One tiny training run (a C4
CNN of width 1/4, 4 steps) makes the checkpoint that the file faults are applied to."""

import json
import os
import shutil
import stat
import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from equijax import data
from equijax.train import TrainConfig, fit, load_checkpoint, load_trained, main, read_header, save_checkpoint
from equijax.train._checkpoint import checkpoint_path
from equijax.train._cli import _parser

# a D4 model: the one training run of this file also checks that reflections train end to end
TINY = dict(
    model="c4", width=0.25, group="D4", epochs=2, batch_size=32, eval_batch_size=64, invariance_samples=64,
    progress=False,
)  # fmt: skip


def _cli_args(dataset, **over):
    cfg = {**TINY, "dataset": dataset, **over}
    args = ["--no-progress", "--no-fast-cpu-convolutions"]
    for k, v in cfg.items():
        if k == "progress":
            continue
        if v is True:
            args.append(f"--{k.replace('_', '-')}")
        else:
            args += [f"--{k.replace('_', '-')}", str(v)]
    return args


def _snapshot(root):
    """Every file and directory under `root`: bytes and modification time of each file."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            out[os.path.relpath(os.path.join(dirpath, d), root)] = "dir"
        for f in filenames:
            p = os.path.join(dirpath, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = (fh.read(), os.stat(p).st_mtime_ns)
    return out


def _one_line_error(capsys, *needles):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("equijax-train: error: "), err
    for n in needles:
        assert n in err[0], (n, err[0])
    assert "Traceback" not in err[0] and "pickle" not in err[0].lower()
    return err[0]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished run (2 epochs of 4 steps): its dataset file, its checkpoint directory, the
    checkpoint's bytes, and what `fit` returned and logged."""
    root = tmp_path_factory.mktemp("run")
    s = data.load_sample()
    ds = data.Dataset("tiny", "tiny subset", s.x_train[:128], s.y_train[:128], s.x_test[:64], s.y_test[:64])
    dataset = str(root / "tiny.npz")
    data.save_dataset(dataset, ds)
    ck = root / "ck"
    logs = []
    out = fit(TrainConfig(dataset=dataset, ckpt_dir=str(ck), **TINY), log=logs.append)
    return dataset, ck, checkpoint_path(ck).read_bytes(), out, logs


# -- checksums ---------------------------------------------------------------------------


def test_flipped_bytes_anywhere_are_refused(run, tmp_path, capsys):
    dataset, _, good, *_ = run
    ck = tmp_path / "ck"
    ck.mkdir()
    path = checkpoint_path(ck)
    head_len = good.index(b"\n") + 1
    # 6 positions over the header line (its newline included), 14 over the payload (its last byte included)
    positions = [int(p) for p in np.linspace(0, head_len - 1, 6)]
    positions += [int(p) for p in np.linspace(head_len, len(good) - 1, 14)]
    assert len(set(positions)) == 20
    path.write_bytes(good)
    ref = jax.tree.leaves(load_trained(ck)[:2])  # the good file loads ...
    for i, pos in enumerate(positions):
        bad = bytearray(good)
        bad[pos] ^= 1 << (i % 8)  # one bit, a different one each time
        path.write_bytes(bytes(bad))
        before = _snapshot(tmp_path)
        for load in (read_header, lambda p: load_trained(p.parent)):
            with pytest.raises(ValueError) as e:
                load(path)
            msg = str(e.value)
            assert str(path) in msg and "\n" not in msg, (pos, msg)
        # --resume refuses it before training, and overwrites nothing
        assert main([*_cli_args(dataset), "--ckpt-dir", str(ck), "--resume"]) == 2, pos
        _one_line_error(capsys, str(path))
        assert _snapshot(tmp_path) == before, pos
    path.write_bytes(good)  # ... and still does after all this: the checks did not change
    model, state, _, header = load_trained(ck)
    for a, b in zip(jax.tree.leaves((model, state)), ref, strict=True):
        np.testing.assert_array_equal(a, b)
    assert header["epoch"] == 2 and len(header["sha256"]) == 64


def test_hand_edited_header_is_refused(run, tmp_path, capsys):
    dataset, _, good, *_ = run
    ck = tmp_path / "ck"
    ck.mkdir()
    head, _, payload = good.partition(b"\n")
    header = json.loads(head)
    assert header["epoch"] == 2
    for edit in ({"epoch": 1, "history": header["history"][:1]}, {"run": {**header["run"], "epochs": 5}}):
        edited = json.dumps({**header, **edit}, sort_keys=True).encode() + b"\n" + payload
        checkpoint_path(ck).write_bytes(edited)
        before = _snapshot(tmp_path)
        with pytest.raises(ValueError, match="checksum does not match"):
            read_header(checkpoint_path(ck))
        assert main([*_cli_args(dataset, epochs=5), "--ckpt-dir", str(ck), "--resume"]) == 2
        _one_line_error(capsys, str(checkpoint_path(ck)), "checksum")
        assert _snapshot(tmp_path) == before
    # the same header written in another JSON layout: not the canonical bytes, refused as well
    checkpoint_path(ck).write_bytes(json.dumps(header, sort_keys=True, indent=None, separators=(",", ":")).encode()
                                    + b"\n" + payload)  # fmt: skip
    with pytest.raises(ValueError, match="checksum"):
        read_header(checkpoint_path(ck))


def test_version_1_checkpoints_load_with_a_warning(run, tmp_path):
    _, _, good, *_ = run
    head, _, payload = good.partition(b"\n")
    header = json.loads(head)
    del header["sha256"]
    header["version"] = 1
    ck = tmp_path / "ck"
    ck.mkdir()
    checkpoint_path(ck).write_bytes(json.dumps(header).encode() + b"\n" + payload)
    with pytest.warns(UserWarning, match="version-1 checkpoint without a checksum"):
        model, state, config, h = load_trained(ck)
    assert config.model == "c4" and config.group == "D4" and h["epoch"] == 2
    # a version-1 header carrying a checksum is not an old file: a damaged new one
    checkpoint_path(ck).write_bytes(json.dumps({**header, "sha256": "0" * 64}).encode() + b"\n" + payload)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="version 1"):
            read_header(checkpoint_path(ck))


def test_save_checkpoint_checks_its_header(tmp_path):
    with pytest.raises(ValueError, match="reserved"):
        save_checkpoint(tmp_path / "c.eqx", {"sha256": "x"}, [jnp.zeros(2)])
    with pytest.raises(TypeError, match="`header`"):
        save_checkpoint(tmp_path / "c.eqx", ["epoch", 1], [jnp.zeros(2)])
    assert not any(tmp_path.iterdir())
    save_checkpoint(tmp_path / "c.eqx", {"epoch": 3, "note": "hand-made"}, [jnp.arange(3.0)])
    header, tree = load_checkpoint(tmp_path / "c.eqx", [jnp.zeros(3)])
    assert header["epoch"] == 3 and tree[0].tolist() == [0.0, 1.0, 2.0]


def test_checkpoint_header_missing_a_key_is_one_line(run, tmp_path, capsys):
    dataset, _, good, *_ = run
    ck = tmp_path / "ck"
    header = read_header_of(good)
    model, state, _, _ = load_trained(run[1])
    for key in ("history", "epoch", "run"):
        h = {k: v for k, v in header.items() if k not in ("format", "version", "payload_bytes", "sha256", key)}
        save_checkpoint(checkpoint_path(ck), h, (model, state))
        before = _snapshot(tmp_path)
        assert main([*_cli_args(dataset), "--ckpt-dir", str(ck), "--resume"]) == 2
        _one_line_error(capsys, str(checkpoint_path(ck)), f"lacks `{key}`")
        assert _snapshot(tmp_path) == before


def read_header_of(raw: bytes) -> dict:
    return json.loads(raw.partition(b"\n")[0])


# -- output paths ------------------------------------------------------------------------


def test_output_paths_are_checked_before_anything(run, tmp_path, capsys):
    dataset, *_ = run
    metrics = tmp_path / "m.jsonl"
    metrics.write_text('{"epoch": 1, "note": "an earlier run"}\n')
    a_file = tmp_path / "a_file"
    a_file.write_text("not a directory")
    (tmp_path / "ck_dir_clash" / "checkpoint.eqx").mkdir(parents=True)
    (tmp_path / "metrics_dir").mkdir()
    # the dataset does not exist: each error below must come first, from the output paths
    missing = str(tmp_path / "missing.npz")
    cases = [
        (["--ckpt-dir", str(a_file), "--metrics", str(metrics)], ["`--ckpt-dir`", "is a file"]),
        (["--ckpt-dir", str(a_file / "sub"), "--metrics", str(metrics)], ["`--ckpt-dir`", "is a file"]),
        (["--ckpt-dir", "", "--metrics", str(metrics)], ["`--ckpt-dir`", "empty"]),
        (["--metrics", ""], ["`--metrics`", "empty"]),
        (["--metrics", str(tmp_path / "metrics_dir")], ["`--metrics`", "is a directory"]),
        (["--metrics", str(a_file / "m.jsonl")], ["`--metrics`", "is a file"]),
        (["--ckpt-dir", str(tmp_path / "ck_dir_clash")], ["checkpoint.eqx is a directory", "`--ckpt-dir`"]),
        (["--init-from", ""], ["`--init-from`", "empty"]),
    ]
    for extra, needles in cases:
        before = _snapshot(tmp_path)
        assert main([*_cli_args(missing), *extra]) == 2, extra
        _one_line_error(capsys, *needles)
        assert _snapshot(tmp_path) == before, extra
    # the metrics file may not be an input of the run
    before = _snapshot(tmp_path)
    assert main([*_cli_args(dataset), "--metrics", dataset]) == 2
    _one_line_error(capsys, "`--metrics`", "dataset")
    assert main([*_cli_args(dataset), "--ckpt-dir", str(run[1]), "--resume", "--metrics",
                 str(checkpoint_path(run[1]))]) == 2  # fmt: skip
    _one_line_error(capsys, "`--metrics`", "checkpoint")
    assert _snapshot(tmp_path) == before and checkpoint_path(run[1]).read_bytes() == run[2]


def test_metrics_file_survives_a_refused_run(run, tmp_path, capsys):
    dataset, ck, good, *_ = run
    metrics = tmp_path / "m.jsonl"
    metrics.write_text('{"epoch": 1, "note": "an earlier run"}\n')
    before = _snapshot(tmp_path)
    # the checkpoint directory holds a finished run: refused, and the metrics file is as it was
    assert main([*_cli_args(dataset), "--ckpt-dir", str(ck), "--metrics", str(metrics)]) == 2
    _one_line_error(capsys, "exists", "`--resume`", "`--init-from`")
    # labels beyond n_classes (found after the dataset is loaded): the metrics file is as it was
    with pytest.raises(ValueError, match="`n_classes`"):
        fit(TrainConfig(dataset=dataset, metrics=str(metrics), **{**TINY, "n_classes": 3}), log=lambda s: None)
    assert _snapshot(tmp_path) == before
    assert checkpoint_path(ck).read_bytes() == good


def test_one_local_device_is_singular(run, capsys):
    if len(jax.local_devices()) != 1:
        pytest.skip("needs a process with one device")
    assert main([*_cli_args(run[0]), "--devices", "2"]) == 2
    line = _one_line_error(capsys, "`--devices` (=2)")
    assert "1 local device available" in line and "devices available" not in line


# -- datasets given to the CLI -----------------------------------------------------------


def test_damaged_dataset_files_are_one_line_errors(run, tmp_path, capsys):
    dataset, *_ = run
    raw = open(dataset, "rb").read()
    random_bytes = tmp_path / "random.npz"
    random_bytes.write_bytes(np.random.default_rng(0).bytes(4000))
    flipped = tmp_path / "flipped.npz"
    z = bytearray(raw)
    z[len(z) // 3] ^= 0x10  # inside the compressed pixels of a member
    flipped.write_bytes(bytes(z))
    np.savez(tmp_path / "lacks.npz", description=np.array("d"), x_train=np.zeros((2, 28, 28)))
    np.savez(tmp_path / "objects.npz", description=np.array("d"), x_train=np.array([None]), y_train=np.zeros(1),
             x_test=np.zeros(1), y_test=np.zeros(1))  # fmt: skip
    cases = [
        (random_bytes, "not a valid dataset file"),
        (flipped, "corrupt"),
        (tmp_path / "lacks.npz", "lacks y_train, x_test, y_test"),
        (tmp_path / "objects.npz", "Python objects"),
        (tmp_path / "missing.npz", "dataset '"),
    ]
    for path, needle in cases:
        before = _snapshot(tmp_path)
        assert main(_cli_args(str(path))) == 2, path
        line = _one_line_error(capsys, needle, str(path))
        assert "spec" not in line
        assert _snapshot(tmp_path) == before


# -- --init-from -------------------------------------------------------------------------


def test_init_from_starts_a_new_run_and_resumes_exactly(run, tmp_path):
    dataset, ck, good, *_ = run
    src_model, _, _, _ = load_trained(ck)
    cfg = dict(TINY, dataset=dataset, init_from=str(ck))  # the fixture's settings: its compiled step is reused
    # an uninterrupted run from the checkpoint ...
    whole = fit(TrainConfig(ckpt_dir=str(tmp_path / "whole"), **cfg), log=lambda s: None)
    header = read_header(checkpoint_path(tmp_path / "whole"))
    assert header["epoch"] == 2 and [h["epoch"] for h in header["history"]] == [1, 2]
    assert header["init_from"] == {
        "path": str(checkpoint_path(ck)),
        "epoch": 2,
        "sha256": read_header_of(good)["sha256"],
    }
    assert checkpoint_path(ck).read_bytes() == good  # the source is only read

    # ... and the same run killed after its first epoch, then resumed: the same numbers
    class Killed(Exception):
        pass

    def kill_after_first_epoch(msg):
        if msg.startswith("epoch 1/2"):
            raise Killed

    with pytest.raises(Killed):
        fit(TrainConfig(ckpt_dir=str(tmp_path / "part"), **cfg), log=kill_after_first_epoch)
    assert read_header(checkpoint_path(tmp_path / "part"))["epoch"] == 1
    logs = []
    resumed = fit(TrainConfig(ckpt_dir=str(tmp_path / "part"), resume=True, **cfg), log=logs.append)
    assert any("resumed" in s for s in logs) and any("`init_from` is not used" in s for s in logs)
    for key in ("test_loss", "test_accuracy"):
        assert resumed["summary"][key] == whole["summary"][key], key
    assert [h["train_loss"] for h in resumed["history"]] == [h["train_loss"] for h in whole["history"]]
    # the run did start from the checkpoint's weights: 8 Adam steps of 1e-3 moved none far from them,
    # while a fresh initialisation is far away
    fresh, _ = TrainConfig(**cfg).build_model(jax.random.key(0))
    params = [eqx.filter(m, eqx.is_inexact_array) for m in (whole["model"], src_model, fresh)]
    trained, src, init = (jax.tree.leaves(p) for p in params)
    assert max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(trained, src)) < 8 * 1e-3 * 3
    assert max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(init, src)) > 0.1


def test_init_from_refusals(run, tmp_path, capsys):
    dataset, ck, good, *_ = run
    bad = tmp_path / "bad"
    bad.mkdir()
    damaged = bytearray(good)
    damaged[-5] ^= 0x40
    checkpoint_path(bad).write_bytes(bytes(damaged))
    cases = [
        (["--init-from", str(ck), "--width", "0.5"], ["`--init-from`", "another architecture", "width"]),
        (["--init-from", str(ck), "--group", "C4"], ["`--init-from`", "another architecture", "group"]),
        (["--init-from", str(tmp_path / "nothing")], ["`--init-from`", "no checkpoint"]),
        (["--init-from", str(bad)], [str(checkpoint_path(bad)), "checksum"]),
    ]
    for extra, needles in cases:
        before = _snapshot(tmp_path)
        args = [a for a in _cli_args(dataset, ckpt_dir=str(tmp_path / "new")) if a != "0.25" and a != "--width"]
        if "--width" not in extra:
            args += ["--width", "0.25"]
        assert main([*args, *extra]) == 2, extra
        _one_line_error(capsys, *needles)
        assert _snapshot(tmp_path) == before
    assert checkpoint_path(ck).read_bytes() == good


# -- file modes --------------------------------------------------------------------------


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_files_are_written_with_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        save_checkpoint(tmp_path / "c.eqx", {"epoch": 0}, [jnp.zeros(2)])
        s = data.load_sample()
        data.save_dataset(tmp_path / "d.npz", data.Dataset("d", "d", s.x_train[:2], s.y_train[:2], s.x_test[:2],
                                                            s.y_test[:2]))  # fmt: skip
    finally:
        os.umask(old)
    for f in ("c.eqx", "d.npz"):
        assert stat.S_IMODE(os.stat(tmp_path / f).st_mode) == 0o666 & ~umask, f
    # a file that is replaced keeps its permissions, as with a plain write
    os.chmod(tmp_path / "c.eqx", 0o640)
    save_checkpoint(tmp_path / "c.eqx", {"epoch": 1}, [jnp.zeros(2)])
    assert stat.S_IMODE(os.stat(tmp_path / "c.eqx").st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.eqx", "d.npz"]  # no temporary file left


# -- --help and --group ------------------------------------------------------------------


def test_help_shows_each_default_once(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    assert "(default: True)" not in text and "(default: False)" not in text and "(default: None)" not in text
    parser = _parser()
    for action in parser._actions:
        if action.dest == "help":
            continue
        assert action.help, action.option_strings
        h = action.help % {"default": action.default}
        assert h.count("default") <= 1, h
        if action.nargs is None and action.const is None:  # options taking a value: their default is shown
            assert "(default: " in h, action.option_strings
    for flag, default in (("--epochs", "10"), ("--batch-size", "64"), ("--optimizer", "adam"),
                          ("--weight-decay", "0.0"), ("--schedule", "cosine"), ("--seed", "0")):  # fmt: skip
        action = next(a for a in parser._actions if flag in a.option_strings)
        assert f"(default: {default})" in action.help % {"default": action.default}, flag


def test_group_takes_rotations_and_reflections():
    assert TrainConfig(model="c4", group="D4").reflections and TrainConfig(model="c4", group="D4").rotation_order == 4
    assert TrainConfig(model="c8", group="d16").group == "D16"
    assert not TrainConfig(model="c4", group="C3").reflections
    for bad in ("D0", "E4", "C", "4"):
        with pytest.raises(ValueError, match="'D<N>'"):
            TrainConfig(model="c4", group=bad)


def test_dihedral_model_trains_and_is_mirror_invariant(run):
    *_, out, logs = run  # the fixture's run: c4 with group D4
    s = out["summary"]
    assert s["group"] == "D4" and s["invariance_error_rot90"] < 1e-4 and s["invariance_error_flip"] < 1e-4
    assert s["prediction_agreement_flip"] == 1.0
    assert [h["epoch"] for h in out["history"]] == [1, 2] and np.isfinite(s["test_loss"])
    assert any("group D4" in line for line in logs) and any("mirror image" in line for line in logs)


def test_summary_says_when_no_invariance_is_expected():
    from equijax.train._report import _format_summary

    base = dict(test_accuracy=0.5, test_images=10, dataset="d", test_loss=1.0, eval_seconds=1.0,
                train_images_per_second=None, invariance_error_rot90=0.3, prediction_agreement_rot90=0.8,
                devices=1, platform="cpu")  # fmt: skip
    c3 = _format_summary({**base, "model": "c4", "group": "C3"})
    assert "C3 has no 90-degree rotation" in c3
    assert "not equivariant" in _format_summary({**base, "model": "cnn", "group": None})
    assert "no 90-degree" not in _format_summary({**base, "model": "c8", "group": "C8"})
    assert "no 90-degree" not in _format_summary({**base, "model": "c4", "group": "D4"})


# -- configuration -----------------------------------------------------------------------


def test_config_checks_types_and_paths():
    for kw, err, needle in [
        (dict(batch_norm="no"), TypeError, "`batch_norm`"),
        (dict(augment=1), TypeError, "`augment`"),
        (dict(resume="yes", ckpt_dir="x"), TypeError, "`resume`"),
        (dict(progress=None), TypeError, "`progress`"),
        (dict(ckpt_dir=""), ValueError, "`ckpt_dir`"),
        (dict(metrics=3), TypeError, "`metrics`"),
        (dict(dataset=""), ValueError, "`dataset`"),
        (dict(init_from=" "), ValueError, "`init_from`"),
        (dict(model="c8", batch_norm=False), ValueError, "always has batch norm"),
        (dict(width=float("inf")), ValueError, "`width`"),
        (dict(weight_decay=float("nan")), ValueError, "`weight_decay`"),
        (dict(n_classes=0), ValueError, "`n_classes`"),
    ]:
        with pytest.raises(err, match=needle.replace("(", r"\(")):
            TrainConfig(**kw)
    assert TrainConfig(ckpt_dir=os.path.join("a", "b")).ckpt_dir == os.path.join("a", "b")
    import pathlib

    assert TrainConfig(metrics=pathlib.Path("m.jsonl")).metrics == "m.jsonl"


def test_a_copied_checkpoint_stays_valid(run, tmp_path):
    # a checkpoint copied elsewhere (another path, same bytes) stays valid: the checksum covers content only
    shutil.copytree(run[1], tmp_path / "copy")
    assert read_header(checkpoint_path(tmp_path / "copy"))["epoch"] == 2


def test_resume_accepts_the_same_dataset_by_another_path(run, monkeypatch):
    from equijax.train._resume import _check_compatible

    dataset, ck, good, *_ = run
    header = read_header_of(good)
    monkeypatch.chdir(os.path.dirname(dataset))
    _check_compatible(header, TrainConfig(**{**TINY, "dataset": os.path.basename(dataset)}), ck)
    with pytest.raises(ValueError, match="dataset: "):
        _check_compatible(header, TrainConfig(**{**TINY, "dataset": "sample"}), ck)
