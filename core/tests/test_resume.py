"""A run stopped at any step and resumed ends bit-identical to one that never stopped; seeds are per run."""

import json
import threading

import pytest
import safetensors.torch
import torch

from core import checkpoint
from core.train import Trainer, TrainConfig

TINY = dict(task="pairs", task_params={"n": 4}, steps=24, batch_size=16, d_model=16, n_layers=1,
            eval_every=8, eval_size=32, warmup=2, schedule_delay=4, seed=5)


def _without_wall_times(metrics: dict) -> dict:
    strip = lambda d: {k: v for k, v in d.items() if k != "elapsed"}  # noqa: E731
    return {**strip(metrics), "history": [strip(h) for h in metrics["history"]]}


def _saved(folder):
    tensors = safetensors.torch.load_file(str(folder / checkpoint.WEIGHTS_NAME))
    metrics = json.loads((folder / checkpoint.METRICS_NAME).read_text())
    return tensors, _without_wall_times(metrics)


@pytest.mark.parametrize("stop_at, dropout", [(8, 0.0), (13, 0.0), (13, 0.1)])  # on an evaluation step,
def test_stopped_and_resumed_run_is_bit_identical(tmp_path, stop_at, dropout):  # between two; with dropout
    config = TrainConfig(**{**TINY, "dropout": dropout})
    whole = Trainer(config)
    whole.run()
    whole.save(tmp_path / "whole")

    first = Trainer(config)
    for _ in first.events():  # stop as Ctrl-C does: right after the step, before its evaluation
        if first.step_count == stop_at:
            break
    first.save(tmp_path / "part", evaluate=False)
    second = Trainer(config)
    second.resume_from(tmp_path / "part")
    assert second.step_count == stop_at
    second.run()
    second.save(tmp_path / "part")

    (a_tensors, a_metrics), (b_tensors, b_metrics) = _saved(tmp_path / "whole"), _saved(tmp_path / "part")
    assert a_tensors.keys() == b_tensors.keys()
    assert all(torch.equal(a_tensors[k], b_tensors[k]) for k in a_tensors)
    assert a_metrics == b_metrics
    assert [h["step"] for h in b_metrics["history"]] == [0, 8, 16, 24]


def test_resume_refuses_other_data(tmp_path):
    trainer = Trainer(TrainConfig(**TINY))
    for _ in trainer.events(3):
        pass
    trainer.save(tmp_path / "run", evaluate=False)
    other = Trainer(TrainConfig(**{**TINY, "task_params": {"n": 4, "num_train": 500}}))
    with pytest.raises(ValueError, match="training data differ"):
        other.resume_from(tmp_path / "run")


def test_two_runs_built_at_once_in_threads_are_identical():
    """The initial parameters come from the run's own generator, not from the global RNG."""
    built = {}

    def build(name):
        torch.rand(1000)  # another thread drawing from the global RNG meanwhile
        built[name] = Trainer(TrainConfig(**TINY))

    for _ in range(5):
        threads = [threading.Thread(target=build, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        a, b = (dict(built[i].model.state_dict()) for i in range(2))
        assert all(torch.equal(a[k], b[k]) for k in a)
    reference = Trainer(TrainConfig(**TINY)).model.state_dict()
    assert all(torch.equal(reference[k], a[k]) for k in a)


def test_dropout_masks_come_from_the_run_generator():
    """Two runs with dropout training at once in threads, beside global-RNG traffic, end identical."""
    config = TrainConfig(**{**TINY, "steps": 6, "eval_every": 6, "dropout": 0.2})
    done = {}

    def train(name):
        trainer = Trainer(config)
        for _ in trainer.events():
            torch.rand(1000)  # another user of the global RNG meanwhile
        done[name] = trainer.model.state_dict()

    threads = [threading.Thread(target=train, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(torch.equal(done[0][k], done[1][k]) for k in done[0])
    plain = Trainer(TrainConfig(**{**TINY, "steps": 6, "eval_every": 6}))
    plain.run()
    assert not all(torch.equal(done[0][k], plain.model.state_dict()[k]) for k in done[0])  # dropout acted


def test_a_step_budget_inside_the_frozen_schedule_is_refused():
    with pytest.raises(ValueError, match="would never move"):
        TrainConfig(steps=200, schedule_delay=500).validate()
    assert TrainConfig(steps=200).validate().schedule_delay == 83  # scaled with the steps
    assert TrainConfig().validate().schedule_delay == 500  # the default 1200-step run is unchanged
    assert TrainConfig(steps=200, schedule_delay=500, schedule="linear").validate().schedule_delay == 500
