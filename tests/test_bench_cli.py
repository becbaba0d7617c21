"""The benchmark command lines: bad input gets one line naming the problem and exit status 2 (no traceback),
and the arithmetic behind the reports (model FLOPs, the MFU peak table, merging result files) is right."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
import tabular  # bench/ is on pytest's pythonpath (pyproject.toml)
import tabular_records
import train_step  # noqa: E402

from core.model import Denoiser, ModelConfig  # noqa: E402

# command line -> what the one line must name
BAD_COMMANDS = {
    "bench/sample.py /nonexistent": "/nonexistent",
    "bench/estimator_variance.py /nonexistent": "/nonexistent",
    "bench/train_step.py --task nosuch": "unknown task 'nosuch'",
    "bench/train_step.py --repeats 0": "--repeats must be >= 1",
    "bench/tabular.py --tables nosuch": "unknown table(s) nosuch",
    "bench/tabular.py --steps -5": "--steps must be >= 1",
    "bench/tabular.py --summary --out some.csv": "some.csv: no such file",
    "bench/class_followers.py --followers 0": "--followers must be >= 1",
    "bench/class_followers.py --replay nosuch": "no shipped run 'nosuch'",
}


@pytest.fixture(scope="module")
def bad_runs(tmp_path_factory) -> dict:
    """Every bad command line, started together (each imports torch) in an empty folder."""
    cwd = tmp_path_factory.mktemp("bench-cli")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    procs = {}
    for line in BAD_COMMANDS:
        script, *args = line.split()
        procs[line] = subprocess.Popen([sys.executable, str(ROOT / script), *args], cwd=cwd, env=env, text=True,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    results = {line: (proc, *proc.communicate(timeout=300)) for line, proc in procs.items()}
    assert not any(cwd.iterdir()), "a refused command wrote something"
    return results


@pytest.mark.parametrize("line", list(BAD_COMMANDS))
def test_bad_input_gets_one_line_and_exit_status_2(bad_runs, line):
    proc, stdout, stderr = bad_runs[line]
    assert "Traceback" not in stderr + stdout
    assert proc.returncode == 2, stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert BAD_COMMANDS[line] in stderr and ": error: " in stderr
    assert str(ROOT) not in stderr  # only paths the user typed


def test_forward_flops_match_a_hand_count():
    config = ModelConfig([2] * 8, d_model=16, n_layers=1, n_heads=2)  # L = 8, V = 2
    qkv, proj, mlp = 2 * 8 * 16 * 48, 2 * 8 * 16 * 16, 2 * (2 * 8 * 16 * 64)
    scores_and_values = 2 * (2 * 8 * 8 * 16)
    head = 2 * 8 * 16 * 2
    assert train_step.forward_flops(config) == qkv + proj + mlp + scores_and_values + head == 53760
    assert train_step.train_flops(config, 4) == 3 * 4 * 53760


def _explicit_attention(q, k, v, dropout_p=0.0, is_causal=False):
    """Attention as two plain matmuls, which torch's FLOP counter sees on every device."""
    return torch.softmax(q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5, dim=-1) @ v


def test_train_flops_match_torchs_flop_counter_on_a_real_step(monkeypatch):
    from torch.utils.flop_counter import FlopCounterMode

    config = ModelConfig([3, 2, 5, 2, 4, 2], d_model=24, n_layers=2, n_heads=3)
    model = Denoiser(config)
    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", _explicit_attention)
    z = torch.randint(0, config.mask_id + 1, (5, config.length), generator=torch.Generator().manual_seed(0))
    with FlopCounterMode(display=False) as counter:
        model(z).clamp_min(-1e4).sum().backward()
    assert counter.get_total_flops() == train_step.train_flops(config, 5)


def test_peak_table_and_mfu():
    assert train_step.device_peak_tflops("NVIDIA H100 80GB HBM3") == 989.0
    assert train_step.device_peak_tflops("NVIDIA H100 PCIe") == 756.0
    assert train_step.device_peak_tflops("NVIDIA H200") == 989.0
    assert train_step.device_peak_tflops("NVIDIA A100-SXM4-80GB") == 312.0
    assert train_step.device_peak_tflops("Tesla V100-SXM2-16GB") is None
    assert train_step.mfu(494.5e12, 1.0, 989.0) == pytest.approx(0.5)
    assert train_step.mfu(1e12, 0.5, None) is None


def test_train_step_report_on_cpu_with_a_given_peak(tmp_path):
    out = tmp_path / "step.jsonl"
    cmd = [sys.executable, "bench/train_step.py", "--device", "cpu", "--task-param", "n=4", "--d-model", "16",
           "--n-layers", "1", "--batch-size", "8", "--repeats", "2", "--peak-tflops", "1", "--threads", "1",
           "--json", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    record = json.loads(out.read_text().splitlines()[-1])
    assert record["tokens_per_step"] == 8 * 2 * 8 and record["peak_source"] == "--peak-tflops"
    bare = record["variants"]["bare"]
    assert bare["mfu"] == pytest.approx(record["flops_per_step"] / (bare["ms"] / 1e3) / 1e12)
    assert "MFU against 1 TFLOP/s" in proc.stdout and "ratio linear / bare" in proc.stdout


def _record(table, config, seed, steps=600):
    return {"table": table, "config": config, "seed": seed, "test_nelbo": 1.0 + seed, "settings": {"steps": steps}}


def test_merge_keeps_each_run_once_and_refuses_mixed_sizes(tmp_path):
    a, b, c = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    a.write_text(json.dumps([_record("adult", "linear", 0), _record("adult", "learned", 0)]))
    b.write_text(json.dumps([_record("adult", "linear", 0), _record("magic", "linear", 1)]))
    c.write_text(json.dumps([_record("magic", "linear", 2, steps=8000)]))
    merged = tabular_records.merge([a, b])
    assert [(r["table"], r["config"], r["seed"]) for r in merged] == [
        ("adult", "linear", 0), ("adult", "learned", 0), ("magic", "linear", 1)]
    with pytest.raises(ValueError, match="other settings"):
        tabular_records.merge([a, c])
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="not a JSON list of benchmark runs"):
        tabular_records.read_records(tmp_path / "bad.json")


def test_steps_override_scales_the_schedule_delay():
    args = tabular.build_parser().parse_args(["--preset", "reduced", "--steps", "200"])
    settings = tabular.settings_from_args(args)
    assert (settings.steps, settings.schedule_delay) == (200, 66)  # the preset's 200 of 600, a third
    assert tabular.build_parser().parse_args([]).out == Path("runs/tabular.json")  # git-ignored
