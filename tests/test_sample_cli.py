"""The sampling and comparison command lines, on tiny checkpoints written with core.checkpoint.save."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from core import checkpoint, compare, tables, tasks
from core import sample as sample_cli
from core.model import Denoiser, ModelConfig
from core.quality import compare_policies, heldout_data
from core.schedules import make_schedule

ROOT = Path(__file__).resolve().parents[1]


def _save(ds, directory) -> Path:
    torch.manual_seed(0)
    model = Denoiser(ModelConfig(ds.meta.num_categories, d_model=16, n_layers=1, n_heads=2))
    schedule = make_schedule("learned", ds.meta.length, init=torch.linspace(0.5, 2.0, ds.meta.length))
    return checkpoint.save(model, schedule, ds.meta, {"note": "test"}, directory)


@pytest.fixture(scope="module")
def pairs_ckpt(tmp_path_factory):
    ds = tasks.make_task("pairs", n=3, num_train=32, num_heldout=48)
    return _save(ds, tmp_path_factory.mktemp("ckpt") / "pairs")


SAMPLE_ARGS = ["--policy", "learned", "--n", "5", "--seed", "3", "--show-order"]
POLICIES = ["learned", "random", "left_to_right", "confidence"]
COMPARE_ARGS = ["--policies", ",".join(POLICIES), "--json", "--seed", "0", "--n-samples", "16",
                "--max-heldout", "24"]


@pytest.fixture(scope="module")
def runs(pairs_ckpt):
    """Both command lines run as ``python -m`` at the same time (each pays for its own interpreter)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    commands = {"sample": ["core.sample", "--checkpoint", str(pairs_ckpt), *SAMPLE_ARGS],
                "compare": ["core.compare", "--checkpoint", str(pairs_ckpt), *COMPARE_ARGS]}
    procs = {name: subprocess.Popen([sys.executable, "-m", *cmd], cwd=ROOT, env=env, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for name, cmd in commands.items()}
    out = {}
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=300)
        out[name] = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    return out


def test_sample_cli_prints_the_decoded_samples_of_the_library(pairs_ckpt, runs):
    out = runs["sample"]
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    ckpt = checkpoint.load(pairs_ckpt)
    samples, traj = sample_cli.sample(ckpt.model, ckpt.meta, "learned", 5, torch.Generator().manual_seed(3),
                                      schedule=ckpt.schedule)
    shown = [line for line in lines if line.startswith("b=")]
    assert shown == [tasks.format_sample(ckpt.meta, s) for s in samples]
    orders = [line.split(":", 1)[1].split() for line in lines if line.startswith("  order:")]
    assert orders == [[ckpt.meta.position_names[p] for p in o] for o in traj.orders.tolist()]
    assert lines[-1].startswith("# valid: ") and lines[-1].endswith("/5")


def test_compare_cli_json_has_exactly_the_promised_keys_and_reproduces(pairs_ckpt, runs):
    out = runs["compare"]
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert list(result) == POLICIES
    ckpt = checkpoint.load(pairs_ckpt)
    expected = compare_policies(ckpt, heldout_data(ckpt.meta)[:24], POLICIES, n_samples=16, seed=0)
    for name, record in result.items():
        assert set(record) == {"nll", "nll_ci", "valid_fraction"}
        lo, hi = record["nll_ci"]
        assert lo <= record["nll"] <= hi and 0.0 <= record["valid_fraction"] <= 1.0
        assert _numbers(record) == pytest.approx(_numbers(expected[name].to_json()))


def _numbers(record: dict) -> list[float]:
    """The record's numbers as one flat list: pytest.approx over nested containers differs by version."""
    return [record["nll"], *record["nll_ci"], record["valid_fraction"]]


@pytest.mark.parametrize("module", [sample_cli, compare])
def test_a_missing_checkpoint_is_a_clear_error(module, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        module.main(["--checkpoint", str(tmp_path / "nowhere")])
    assert exit_info.value.code == 2
    assert f"checkpoint not found: {tmp_path / 'nowhere'}" in capsys.readouterr().err


def test_compare_prints_a_table_and_refuses_bad_arguments(pairs_ckpt, capsys):
    assert compare.main(["--checkpoint", str(pairs_ckpt), "--policies", "reference,2-1-0-5-4-3",
                         "--n-samples", "8", "--max-heldout", "8"]) == 0
    text = capsys.readouterr().out
    assert "order NLL" in text and "reference" in text and "order:2-1-0-5-4-3" in text
    for bad, message in [(["--policies", "best"], "unknown policy"), (["--n-orders", "0"], "at least 1"),
                         (["--policies", "ancestral", "--k", "2"], "k does not apply")]:
        with pytest.raises(SystemExit):
            compare.main(["--checkpoint", str(pairs_ckpt), *bad])
        assert message in capsys.readouterr().err


def test_a_csv_table_needs_its_csv_and_then_gets_fidelity_scores(tmp_path, capsys):
    csv = tmp_path / "mine.csv"
    df = pd.DataFrame({"colour": ["red", "blue", "red", "green"] * 8, "size": [1.0, 2.5, 3.0, 4.5] * 8,
                       "ok": [True, False, False, True] * 8})
    df.to_csv(csv, index=False)
    directory = _save(tables.table_from_csv(csv, name="mine", num_bins=3), tmp_path / "table")
    args = ["--checkpoint", str(directory), "--policies", "random", "--n-samples", "8"]
    with pytest.raises(SystemExit):
        compare.main(args + ["--json"])
    assert "give the CSV" in capsys.readouterr().err
    assert compare.main(args + ["--json", "--data", str(csv)]) == 0
    assert json.loads(capsys.readouterr().out)["random"]["valid_fraction"] is None
    assert compare.main(args + ["--data", str(csv)]) == 0
    assert "shape" in capsys.readouterr().out
    assert sample_cli.main(["--checkpoint", str(directory), "--n", "2"]) == 0
    assert "colour=" in capsys.readouterr().out


@pytest.mark.parametrize("module", [sample_cli, compare])
def test_every_flag_has_help(module):
    for action in module._parser()._actions:
        assert action.help, action.option_strings
