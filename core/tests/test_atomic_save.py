"""Saving is atomic: a process killed at a random moment of a re-save leaves the old or the new checkpoint."""

import multiprocessing
import os
import random
import signal

import pytest
import torch

from core import atomic, checkpoint
from core.tasks import make_task
from core.model import Denoiser, ModelConfig
from core.schedules import make_schedule

KILLS = 30


def _version(tag: int):
    """A checkpoint whose weights, config and metrics all carry ``tag`` (about 2 MB of weights)."""
    meta = make_task("pairs", n=4, num_train=8, num_heldout=4).meta
    model = Denoiser(ModelConfig(meta.num_categories, d_model=128, n_layers=2),
                     generator=torch.Generator().manual_seed(tag))
    return model, make_schedule("learned", meta.length), meta, {"tag": tag}, {"tag": tag}


def _save_forever(target: str, ready) -> None:
    versions = [_version(1), _version(2)]
    for i in range(10**9):
        checkpoint.save(*versions[i % 2][:4], target, metrics=versions[i % 2][4])
        if i == 0:
            ready.send(True)


def _check(target, expected) -> int:
    ckpt = checkpoint.load(target)  # raises if nothing, or a mix that does not load, is there
    tag = ckpt.config["tag"]
    assert ckpt.metrics["tag"] == tag, "metrics.json from another save than config.json"
    reference = expected[tag].state_dict()
    assert all(torch.equal(v, reference[k]) for k, v in ckpt.model.state_dict().items()), \
        "weights from another save than config.json"
    return tag


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_killing_a_saving_process_at_random_moments_never_breaks_the_checkpoint(tmp_path):
    target = tmp_path / "ckpt"
    expected = {tag: _version(tag)[0] for tag in (1, 2)}
    rng, seen, interrupted = random.Random(0), set(), 0
    context = multiprocessing.get_context("fork")
    for _ in range(KILLS):
        receiver, sender = context.Pipe(duplex=False)
        child = context.Process(target=_save_forever, args=(str(target), sender))
        child.start()
        assert receiver.poll(60), "the saving process never finished its first save"
        child.join(rng.uniform(0.0, 0.05))
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        interrupted += any(p.name.startswith(".ckpt.tmp-") for p in tmp_path.iterdir())
        seen.add(_check(target, expected))
    assert seen == {1, 2}  # kills landed after both kinds of save
    assert interrupted >= 3, "no kill landed inside a save: the test did not test anything"
    atomic.write_folder(target, {"config.json": b"{}"}, replaces=checkpoint.OWN_FILES)
    assert not any(p.name.startswith(".ckpt.") for p in tmp_path.iterdir())  # the debris is cleared


def test_a_save_keeps_foreign_files_and_drops_stale_own_ones(tmp_path):
    target = tmp_path / "ckpt"
    model, schedule, meta, config, metrics = _version(1)
    checkpoint.save(model, schedule, meta, config, target, metrics=metrics,
                    extra_files={checkpoint.STATE_NAME: b"state"})
    (target / "README.md").write_text("model card")
    checkpoint.save(model, schedule, meta, config, target)
    assert sorted(p.name for p in target.iterdir()) == ["README.md", "config.json", "model.safetensors"]
