"""The GPU paths of core on a real CUDA device: the training step (eager and compiled, fp32 and bf16
autocast), dropout drawn from the run's seed, a checkpoint written from the GPU and read on the CPU, the
samplers, and torchrun with NCCL.

Every test is marked ``cuda`` and skips at once without a GPU; ``scripts/gpu_check.sh`` runs them with
``python -m pytest -m cuda tests/test_cuda.py``. Each test takes its device from the ``device`` fixture, so
the same bodies can be read (and tried) against the CPU paths they mirror.
"""

import contextlib
import json
import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
from core import checkpoint
from core.decoding import POLICIES, sample  # noqa: E402
from core.train import Trainer, TrainConfig  # noqa: E402

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

TINY = TrainConfig(task="pairs", task_params={"n": 4, "num_train": 256, "num_heldout": 64}, steps=4, d_model=32,
                   n_layers=1, n_heads=2, batch_size=16, eval_size=64, eval_every=2, warmup=1, schedule_delay=0)
TINY_CLI = ["--task", "pairs", "--task-param", "n=4", "--steps", "4", "--batch-size", "16", "--d-model", "16",
            "--n-layers", "1", "--eval-every", "2", "--eval-size", "32", "--warmup", "1"]


@pytest.fixture
def device() -> str:
    return "cuda"


def _parameters(trainer: Trainer) -> list[torch.Tensor]:
    return [p.detach().clone() for p in [*trainer.model.parameters(), *trainer.schedule.parameters()]]


@pytest.mark.parametrize("compile", [False, True], ids=["eager", "compile"])
@pytest.mark.parametrize("amp", [False, True], ids=["fp32", "bf16"])
def test_training_steps_on_the_device_move_every_parameter_group(device, compile, amp):
    trainer = Trainer(replace(TINY, device=device, compile=compile, amp=amp))
    assert trainer.model.head.weight.device.type == device
    before = _parameters(trainer)
    losses = [trainer.step().loss for _ in range(3)]
    assert all(torch.isfinite(torch.tensor(losses))), losses
    after = _parameters(trainer)
    changed = [not torch.equal(a, b) for a, b in zip(before, after)]
    assert all(changed[:-1]), "a model parameter did not move"
    assert changed[-1], "the learned schedule did not move (schedule_delay is 0)"
    snapshot = trainer.evaluate()
    assert torch.isfinite(torch.tensor(snapshot["heldout_nelbo"]))


@pytest.mark.parametrize("compile", [False, True], ids=["eager", "compile"])
def test_dropout_on_the_device_follows_the_run_seed(device, compile):
    """Dropout masks come from a generator on the device seeded from the run's own: the global CUDA RNG
    does not change them. (Close, not equal: CUDA's embedding backward adds with atomics; a different mask
    would move the weights by about the learning rate.)"""
    runs = []
    for _ in range(2):
        trainer = Trainer(replace(TINY, device=device, compile=compile, dropout=0.2))
        for _ in range(3):
            torch.rand(1000, device=device)
            trainer.step()
        runs.append(_parameters(trainer))
    assert all(torch.allclose(a, b, rtol=0, atol=1e-5) for a, b in zip(*runs))


def test_checkpoint_saved_on_the_device_loads_on_cpu_with_identical_outputs(device, tmp_path):
    trainer = Trainer(replace(TINY, device=device))
    trainer.run()
    trainer.save(tmp_path / "ckpt")
    loaded = checkpoint.load(str(tmp_path / "ckpt"))
    assert all(p.device.type == "cpu" for p in loaded.model.parameters())
    for (name, a), b in zip(trainer.model.state_dict().items(), loaded.model.state_dict().values()):
        assert torch.equal(a.cpu(), b), name
    for (name, a), b in zip(trainer.schedule.state_dict().items(), loaded.schedule.state_dict().values()):
        assert torch.equal(a.cpu(), b), name
    z = torch.randint(0, loaded.model.mask_id + 1, (32, loaded.meta.length),
                      generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        on_cpu = loaded.model.eval()(z)
        trained = trainer.model.eval().cpu()(z)  # the very module that trained, moved to the CPU
    assert torch.equal(on_cpu, trained)


@contextlib.contextmanager
def full_float32_matmuls():
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(previous)


@pytest.mark.parametrize("policy", POLICIES)
def test_samplers_decode_on_the_device_as_on_cpu(device, policy):
    trainer = Trainer(replace(TINY, device=device))
    trainer.run()
    model, schedule, meta = trainer.model.eval(), trainer.schedule, trainer.meta

    def draw(module, sched):
        return sample(module, meta, policy, 64, torch.Generator().manual_seed(3), schedule=sched)

    with full_float32_matmuls():  # the trainer turned TF32 on; the CPU comparison wants full precision
        samples, traj = draw(model, schedule)
        again, _ = draw(model, schedule)
    assert samples.device.type == device and torch.equal(samples, again)  # same seed, same samples
    assert torch.equal(traj.orders.sort(1).values.cpu(), torch.arange(meta.length).expand(64, -1))
    assert (samples.cpu() < torch.tensor(meta.num_categories)).all()
    on_cpu, _ = draw(model.cpu(), schedule.cpu())
    agree = (on_cpu == samples.cpu()).float().mean().item()  # the same draws, up to float rounding
    assert agree > 0.95, f"{policy}: only {agree:.3f} of the tokens agree between the device and the CPU"


def _run(args, cwd=ROOT, timeout=300):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _backend(device: str) -> str:
    return "nccl" if device == "cuda" else "gloo"


def test_torchrun_one_rank_trains_on_the_device(device, tmp_path):
    out = tmp_path / "run"
    proc = _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1",
                 "-m", "core.train", *TINY_CLI, "--device", device, "--out", str(out)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 4 and torch.isfinite(torch.tensor(metrics["heldout_nelbo"]))
    assert checkpoint.load(str(out)).config["device"] == device


# One rank joins a process group and trains the trainer's loss module under DistributedDataParallel: the
# collectives (gradient all-reduce, the rank fingerprints) run through the backend. core.train joins a group
# only for WORLD_SIZE > 1, which one GPU cannot host under NCCL, so this script joins it itself.
DDP_SCRIPT = textwrap.dedent("""
    import json, sys
    import torch, torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel
    from core.train import LossModule, Trainer, TrainConfig, rank_fingerprints

    backend, device = sys.argv[1], sys.argv[2]
    dist.init_process_group(backend)
    trainer = Trainer(TrainConfig(task="pairs", task_params={"n": 4}, d_model=16, n_layers=1, batch_size=16,
                                  eval_size=32, warmup=1, schedule_delay=0, device=device))
    ids = [trainer.device.index] if trainer.device.type == "cuda" else None
    trainer.loss_module = DistributedDataParallel(trainer.loss_module, device_ids=ids)
    trainer.world = dist.get_world_size()
    losses = [trainer.step().loss for _ in range(3)]
    result = {"backend": dist.get_backend(), "losses": losses, **rank_fingerprints(trainer)}
    dist.destroy_process_group()
    print(json.dumps(result))
""")


def test_torchrun_one_rank_ddp_step_through_the_backend(device, tmp_path):
    script = tmp_path / "ddp_one_rank.py"
    script.write_text(DDP_SCRIPT)
    proc = _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1",
                 str(script), _backend(device), device])
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["backend"] == _backend(device) and result["world_size"] == 1
    assert all(torch.isfinite(torch.tensor(result["losses"])))
