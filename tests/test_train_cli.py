"""The training CLI end to end: train, save, reload; and torchrun DDP with two CPU processes."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import safetensors.torch
import torch

from core import checkpoint, train_cli
from core.elbo import heldout_nelbo

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--task", "pairs", "--task-param", "n=4", "--steps", "6", "--batch-size", "16",
        "--d-model", "16", "--n-layers", "1", "--eval-every", "3", "--eval-size", "32", "--warmup", "2"]


def _run(args, **kw):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, **kw)


def test_cli_trains_saves_and_reloads(tmp_path):
    out = tmp_path / "run"
    proc = _run([sys.executable, "-m", "core.train", *TINY, "--schedule", "learned", "--seed", "3",
                 "--out", str(out)])
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    metrics = json.loads((out / "metrics.json").read_text())
    assert summary["heldout_nelbo"] == metrics["heldout_nelbo"]
    assert [h["step"] for h in metrics["history"]] == [0, 3, 6]
    assert all(len(h["exponents"]) == 8 for h in metrics["history"])
    assert {"heldout_se", "group_precedence", "kendall_tau", "order_entropy"} <= set(metrics)
    ckpt = checkpoint.load(str(out))
    assert torch.allclose(ckpt.schedule.exponents, torch.tensor(metrics["exponents"]), atol=1e-5)
    assert ckpt.config["seed"] == 3 and ckpt.meta.name == "pairs"
    # the reloaded model reproduces the recorded held-out NELBO (same eval orders, same data)
    from core.tasks import make_task

    heldout = make_task("pairs", seed=3, n=4).heldout[:32]
    est = heldout_nelbo(ckpt.model, heldout, ckpt.schedule, 2, torch.Generator().manual_seed(12345))
    assert abs(est.value - metrics["heldout_nelbo"]) < 1e-4


def test_cli_rejects_bad_settings(tmp_path):
    proc = _run([sys.executable, "-m", "core.train", "--task", "nonsense", "--out", str(tmp_path)])
    assert proc.returncode != 0 and "nonsense" in proc.stderr
    proc = _run([sys.executable, "-m", "core.train", *TINY, "--K", "1", "--out", str(tmp_path)])
    assert proc.returncode != 0 and "K must be" in proc.stderr


def test_torchrun_ddp_two_cpu_ranks_agree(tmp_path):
    out = tmp_path / "ddp"
    proc = _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                 "-m", "core.train", *TINY, "--device", "cpu", "--out", str(out)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == 2
    a, b = metrics["param_fingerprints"]
    assert a == b
    assert checkpoint.load(str(out)).schedule.exponents.shape == (8,)


# --- a run is never lost -------------------------------------------------------------------------

RUN = ["--task", "pairs", "--task-param", "n=4", "--steps", "240", "--batch-size", "64", "--d-model", "32",
       "--eval-every", "20", "--eval-size", "32", "--warmup", "10", "--seed", "1", "--threads", "1"]


def _start(args):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "core.train", *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for_step(proc, folder: Path, step: int, timeout: float = 240) -> None:
    """Until the checkpoint in ``folder`` has reached ``step`` (it is rewritten at every evaluation)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if json.loads((folder / "metrics.json").read_text())["steps"] >= step:
                return
        except (OSError, ValueError, KeyError):
            pass
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        time.sleep(0.02)
    raise AssertionError(f"no checkpoint at step {step} within {timeout} s")


def _final(folder: Path):
    tensors = safetensors.torch.load_file(str(folder / "model.safetensors"))
    metrics = json.loads((folder / "metrics.json").read_text())
    strip = lambda d: {k: v for k, v in d.items() if k != "elapsed"}  # noqa: E731
    return tensors, {**strip(metrics), "history": [strip(h) for h in metrics["history"]]}


def test_ctrl_c_then_kill_then_resume_ends_bit_identical_to_an_uninterrupted_run(tmp_path):
    whole = _run([sys.executable, "-m", "core.train", *RUN, "--out", str(tmp_path / "whole")])
    assert whole.returncode == 0, whole.stderr[-2000:]

    out = tmp_path / "run"
    proc = _start([*RUN, "--out", str(out)])
    _wait_for_step(proc, out, 40)
    proc.send_signal(signal.SIGINT)  # Ctrl-C: stops after the current step and saves it
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err
    message = err.strip().splitlines()[-1]
    assert message.startswith("stopped at step ") and f"--resume {out}" in message
    stopped_at = json.loads((out / "metrics.json").read_text())["steps"]
    assert 40 <= stopped_at < 240

    proc = _start(["--resume", str(out), "--threads", "1"])
    _wait_for_step(proc, out, stopped_at + 60)
    proc.kill()  # SIGKILL: the last evaluation's checkpoint is what remains
    proc.wait()
    assert checkpoint.load(str(out)).config["steps"] == 240

    done = _run([sys.executable, "-m", "core.train", "--resume", str(out), "--threads", "1"])
    assert done.returncode == 0, done.stderr[-2000:]
    (a_tensors, a_metrics), (b_tensors, b_metrics) = _final(tmp_path / "whole"), _final(out)
    assert all(torch.equal(a_tensors[k], b_tensors[k]) for k in a_tensors)
    assert a_metrics == b_metrics and a_metrics["steps"] == 240
    again = _run([sys.executable, "-m", "core.train", "--resume", str(out)])
    assert again.returncode == 0 and "already complete" in again.stderr


@pytest.mark.parametrize("args, problem", [
    (["--out", "{file}"], "is a file"),
    (["--out", "{full}"], "holds other files"),
    (["--out", "{file}/sub"], "cannot be created"),
    (["--steps", "200", "--schedule-delay", "500", "--out", "{new}"], "would never move"),
    (["--task", "my.csv", "--out", "{new}"], "--csv my.csv"),
    (["--csv", "{new}/missing.csv", "--out", "{new}"], "no such file"),
    (["--resume", "{new}"], "not a checkpoint folder"),
    (["--resume", "{full}", "--steps", "5"], "drop --steps"),
    ([], "--out is required"),
])
def test_cli_refuses_before_the_first_step_with_one_message(tmp_path, capsys, args, problem):
    (tmp_path / "file").write_text("x")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    paths = {"file": tmp_path / "file", "full": tmp_path / "full", "new": tmp_path / "new"}
    base = [] if "--resume" in args else TINY
    with pytest.raises(SystemExit) as exit_info:
        train_cli.main([*base, *[a.format(**paths) for a in args]])
    assert exit_info.value.code == 2
    assert problem in capsys.readouterr().err.splitlines()[-1]  # the error line, after argparse's usage
    assert not (tmp_path / "new").exists() and (tmp_path / "full" / "notes.txt").read_text() == "mine"


def test_cli_trains_on_a_csv_table(tmp_path):
    rows = ["colour,size,price"] + [f"{c},{s},{(i * 37) % 101}" for i, (c, s) in
                                    enumerate((c, s) for c in ("red", "blue", "green") for s in "SML")
                                    for _ in range(12)]
    table = tmp_path / "shop.csv"
    table.write_text("\n".join(rows) + "\n")
    proc = _run([sys.executable, "-m", "core.train", *TINY, "--csv", str(table), "--out", str(tmp_path / "t")])
    assert proc.returncode == 0, proc.stderr[-2000:]
    ckpt = checkpoint.load(str(tmp_path / "t"))
    assert ckpt.meta.position_names == ["colour", "size", "price"] and ckpt.config["task"] == "shop"
    assert f"saved the checkpoint to {tmp_path / 't'}" in proc.stderr


def test_help_shows_only_meaningful_defaults():
    proc = _run([sys.executable, "-m", "core.train", "--help"])
    assert proc.returncode == 0
    assert "(default: True)" not in proc.stdout and "(default: None)" not in proc.stdout
    assert "--resume DIR" in proc.stdout and "--csv FILE" in proc.stdout
