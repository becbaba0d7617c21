"""Smoke test of the app entry point: it runs, and every page in the navigation runs without an exception."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.train import TrainConfig, Trainer


ROOT = Path(__file__).resolve().parents[1]
MAIN = str(ROOT / "app" / "main.py")
PAGES = ["content/train.py", "content/compare.py", "content/inspect.py", "content/lesson.py", "content/classroom.py"]


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """A ``pretrained/`` directory holding one tiny checkpoint (5 steps), so pages have a run to show."""
    root = tmp_path_factory.mktemp("pretrained")
    config = TrainConfig(task="pairs", task_params={"n": 4}, d_model=16, n_layers=1, n_heads=2, batch_size=16,
                         eval_size=32, eval_every=1, warmup=1, steps=5, device="cpu")
    trainer = Trainer(config)
    trainer.run()
    trainer.save(root / "tiny-pairs-learned")
    return root


@pytest.fixture()
def at(shipped, monkeypatch):
    monkeypatch.setenv("ORDERLAB_PRETRAINED_DIR", str(shipped))
    return AppTest.from_file(MAIN, default_timeout=60).run()


def test_main_runs_and_opens_on_the_train_page(at):
    assert not at.exception
    assert at.title[0].value.startswith("Train")


@pytest.mark.parametrize("page", PAGES)
def test_every_page_is_reachable(at, page):
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title, f"{page} shows no title"
