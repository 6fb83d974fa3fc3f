import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from equijax import data
from equijax.train import TrainConfig, fit, main, read_header
from equijax.train._checkpoint import checkpoint_path

TINY = dict(model="c4", width=0.25, epochs=2, batch_size=32, eval_batch_size=64, invariance_samples=64, progress=False)


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    """256 training and 128 test digits of the bundled sample, saved as a dataset file."""
    s = data.load_sample()
    ds = data.Dataset(
        "tiny", "tiny subset of the sample", s.x_train[:256], s.y_train[:256], s.x_test[:128], s.y_test[:128]
    )
    path = tmp_path_factory.mktemp("tiny") / "tiny.npz"
    data.save_dataset(path, ds)
    return str(path)


def _run_cli(args, **kw):
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    return subprocess.run([sys.executable, "-m", "equijax.train", *args], env=env, capture_output=True, text=True, **kw)


def test_fit_trains_checkpoints_and_reports(tiny_dataset, tmp_path):
    metrics = tmp_path / "m.jsonl"
    cfg = TrainConfig(dataset=tiny_dataset, ckpt_dir=str(tmp_path / "ck"), metrics=str(metrics), **TINY)
    out = fit(cfg, log=lambda s: None)
    hist, summary = out["history"], out["summary"]
    assert [h["epoch"] for h in hist] == [1, 2]
    assert hist[1]["train_loss"] < hist[0]["train_loss"]
    assert summary["test_images"] == 128 and 0 <= summary["test_accuracy"] <= 1
    assert summary["invariance_error_rot90"] < 1e-4 and summary["prediction_agreement_rot90"] == 1.0
    lines = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert [r.get("epoch") for r in lines[:2]] == [1, 2] and lines[-1]["event"] == "summary"
    header = read_header(checkpoint_path(tmp_path / "ck"))
    assert header["epoch"] == 2 and header["architecture"]["model"] == "c4"


def test_cnn_baseline_is_not_invariant(tiny_dataset):
    # negative control for the invariance figure the trainer reports
    cfg = TrainConfig(dataset=tiny_dataset, **{**TINY, "model": "cnn", "epochs": 1})
    assert fit(cfg, log=lambda s: None)["summary"]["invariance_error_rot90"] > 1e-2


def test_resume_after_kill_matches_uninterrupted_run(tiny_dataset, tmp_path):
    args = dict(TINY, epochs=3)
    reference = fit(TrainConfig(dataset=tiny_dataset, **args), log=lambda s: None)
    ck = tmp_path / "ck"
    cli = [
        "--model", "c4", "--width", "0.25", "--epochs", "3", "--batch-size", "32", "--eval-batch-size", "64",
        "--invariance-samples", "64", "--no-progress", "--dataset", tiny_dataset, "--ckpt-dir", str(ck),
        "--no-fast-cpu-convolutions",  # the same XLA:CPU settings as the in-process reference run
    ]  # fmt: skip
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    proc = subprocess.Popen([sys.executable, "-m", "equijax.train", *cli], env=env, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not checkpoint_path(ck).exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = read_header(checkpoint_path(ck))["epoch"]
    assert killed_at < 3, "the run finished before it could be killed"
    resumed = _run_cli([*cli, "--resume", "--metrics", str(tmp_path / "m.jsonl")], timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed {checkpoint_path(ck)} after epoch {killed_at}" in resumed.stderr
    lines = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    summary = lines[-1]
    for key in ("test_loss", "test_accuracy", "invariance_error_rot90"):
        np.testing.assert_allclose(summary[key], reference["summary"][key], rtol=1e-6, err_msg=key)
    header = read_header(checkpoint_path(ck))
    for got, want in zip(header["history"], reference["history"]):
        np.testing.assert_allclose(got["train_loss"], want["train_loss"], rtol=1e-6)


def test_four_devices_match_one(tiny_dataset):
    script = textwrap.dedent(
        f"""
        import json, jax
        from equijax.train import TrainConfig, fit
        assert len(jax.devices()) == 4, jax.devices()
        out = {{}}
        for n in (1, 4):
            cfg = TrainConfig(dataset={tiny_dataset!r}, devices=n, **{TINY!r})
            r = fit(cfg, log=lambda s: None)
            out[n] = [h["train_loss"] for h in r["history"]] + [r["summary"]["test_loss"]]
        print(json.dumps(out))
        """
    )
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS="--xla_force_host_platform_device_count=4")
    res = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(out["4"], out["1"], rtol=1e-4)


def test_bad_inputs_give_one_line_errors(tiny_dataset, tmp_path, capsys):
    # unknown model: argparse's own one-line error
    r = _run_cli(["--model", "resnet"])
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1
    assert lines[0].startswith("equijax-train: error: argument --model: invalid choice: 'resnet'")
    cases = [
        (["--dataset", str(tmp_path / "missing.npz")], "nor an existing file"),
        (["--width", "-1"], "`--width` (=-1.0)"),
        (["--model", "cnn", "--group", "C8"], "does not apply"),
        (["--group", "E4"], "'D<N>'"),
        (["--resume"], "`--resume` needs `--ckpt-dir`"),
        (["--devices", "3"], "devices"),
    ]
    for args, message in cases:
        assert main([*args, "--no-progress"]) == 2, args
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("equijax-train: error:") and message in err[0], (args, err)
    truncated = tmp_path / "trunc.npz"
    truncated.write_bytes(open(tiny_dataset, "rb").read()[:5000])
    assert main(["--dataset", str(truncated), "--no-progress"]) == 2
    assert "truncated" in capsys.readouterr().err


def test_checkpoint_mismatch_overwrites_nothing(tiny_dataset, tmp_path, capsys):
    ck = tmp_path / "ck"
    base = ["--model", "c4", "--width", "0.25", "--epochs", "1", "--batch-size", "32", "--eval-batch-size", "64"]
    base += ["--invariance-samples", "64", "--no-progress", "--dataset", tiny_dataset, "--ckpt-dir", str(ck)]
    metrics = tmp_path / "m.jsonl"
    assert main([*base, "--metrics", str(metrics)]) == 0
    capsys.readouterr()
    before, metrics_before = checkpoint_path(ck).read_bytes(), metrics.read_bytes()
    cases = [
        ([], "exists; pass `--resume`"),
        (["--resume", "--width", "0.5"], "another architecture: width"),
        (["--resume", "--model", "cnn"], "another architecture: model"),
        (["--resume", "--lr", "0.01"], "other settings"),
    ]
    for extra, message in cases:
        args = [a for a in base if a != "0.25"] if "--width" in extra else base
        if "--width" in extra:
            args = [a for a in args if a != "--width"]
        assert main([*args, *extra, "--metrics", str(metrics)]) == 2, extra
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], (extra, err)
        assert checkpoint_path(ck).read_bytes() == before and metrics.read_bytes() == metrics_before
    # a truncated checkpoint
    checkpoint_path(ck).write_bytes(before[: len(before) // 2])
    assert main([*base, "--resume"]) == 2
    assert "is truncated: it holds" in capsys.readouterr().err


def test_config_validation():
    with pytest.raises(ValueError, match="unknown `model` 'vgg'"):
        TrainConfig(model="vgg")
    with pytest.raises(ValueError, match="`epochs`"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match="`optimizer`"):
        TrainConfig(optimizer="lamb")
    assert TrainConfig(model="c8", group="C16").rotation_order == 16
    assert TrainConfig(model="cnn").rotation_order is None


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_match_one_device(tiny_dataset, tmp_path):
    """Multi-host data parallelism (jax.distributed over two CPU processes, gloo collectives)."""
    reference = fit(TrainConfig(dataset=tiny_dataset, **TINY), log=lambda s: None)
    want = [h["train_loss"] for h in reference["history"]] + [reference["summary"]["test_loss"]]
    script = textwrap.dedent(
        f"""
        import json, sys
        import jax
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize("127.0.0.1:{_free_port()}", num_processes=2, process_id=int(sys.argv[1]))
        from equijax.train import TrainConfig, fit
        cfg = TrainConfig(dataset={tiny_dataset!r}, metrics=sys.argv[2], **{TINY!r})
        r = fit(cfg, log=lambda s: None)
        print(json.dumps([h["train_loss"] for h in r["history"]] + [r["summary"]["test_loss"]]))
        """
    )
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(i), str(tmp_path / f"m{i}.jsonl")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    for out, _ in outs:
        np.testing.assert_allclose(json.loads(out.strip().splitlines()[-1]), want, rtol=1e-4)
    assert (tmp_path / "m0.jsonl").exists() and not (tmp_path / "m1.jsonl").exists()  # only process 0 writes
