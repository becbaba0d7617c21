"""The Inspect page (AppTest): a good upload shows the order, bad uploads say why and lose nothing."""

import io
import json
import math
import sys
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app import page_inspect  # noqa: E402
from conftest import save_tiny  # noqa: E402
from core import checkpoint  # noqa: E402

PAGE = str(ROOT / "app" / "page_inspect.py")


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """A pretrained/ directory holding a tiny learned checkpoint (5 training steps) and a linear one."""
    root = tmp_path_factory.mktemp("pretrained")
    save_tiny(root / "tiny-pairs")
    save_tiny(root / "tiny-pairs-linear", train=False, schedule="linear")
    return root


@pytest.fixture()
def files(shipped):
    d = shipped / "tiny-pairs"
    return (d / "config.json").read_bytes(), (d / "model.safetensors").read_bytes()


@pytest.fixture()
def page(shipped, monkeypatch) -> AppTest:
    monkeypatch.setenv("ORDERLAB_PRETRAINED_DIR", str(shipped))
    return AppTest.from_file(PAGE, default_timeout=60).run()


def uploader(at: AppTest, base: str = "inspect_upload"):
    """The uploader widget at its current key (it changes after each complete upload, emptying it)."""
    generation = at.session_state[f"{base}_generation"] if f"{base}_generation" in at.session_state else 0
    return at.file_uploader(key=f"{base}_{generation}")


def upload(at: AppTest, config: bytes, weights: bytes) -> AppTest:
    at.radio(key="inspect_source").set_value("Upload").run()
    uploader(at).set_value(
        [("config.json", config, "application/json"), ("model.safetensors", weights, "application/octet-stream")])
    return at.run()


def chart_titles(at: AppTest) -> list[str]:
    return [(json.loads(c.proto.spec)["layout"].get("title") or {}).get("text", "") for c in at.get("plotly_chart")]


def test_shipped_checkpoint_opens_with_every_view(page):
    assert not page.exception
    titles = chart_titles(page)
    assert any(t.startswith("Exponents") for t in titles)
    assert any(t.startswith("Precedence") for t in titles)
    assert any(t.startswith("alpha_l(t)") for t in titles)
    assert any(t.startswith("When is each position decoded") for t in titles)
    metrics = {m.label: m.value for m in page.metric}
    assert metrics["uniform maximum log L!"] == f"{torch.lgamma(torch.tensor(9.0)).item():.2f} nats"
    assert metrics[page_inspect.TAU_LABEL] == "+0.00" and metrics["group precedence"] == "0.50"
    assert "exponents are all equal" in page.info[0].value  # learned, but still frozen after 5 steps


def most_likely_lines(at: AppTest) -> list[str]:
    return [md.value for md in at.markdown if md.value.startswith("**Most likely order:**")]


def test_shared_schedule_has_zero_expected_tau_and_no_most_likely_order(page):
    """A linear schedule makes every order equally likely: tau to the reference is 0, not the +1 that the
    index-order tie-break of the "most likely order" would give, and no order is presented as likeliest."""
    page.selectbox(key="inspect_shipped").set_value("tiny-pairs-linear").run()
    assert not page.exception
    metrics = {m.label: m.value for m in page.metric}
    assert metrics[page_inspect.TAU_LABEL] == "+0.00"
    assert metrics["group precedence"] == "0.50"
    assert not most_likely_lines(page)
    assert "shared by every position" in page.info[0].value


def with_exponents(path, w: list[float]) -> checkpoint.Checkpoint:
    ckpt = checkpoint.load(path)
    with torch.no_grad():
        ckpt.schedule.rho.copy_(torch.log(torch.tensor(w)))
    return ckpt


def test_expected_tau_follows_the_order_distribution_not_its_mode(shipped):
    # w = 1 +- 0.02: a "most likely order" exists only through noise; its own tau would be far from 0
    noisy = [1.02, 0.98, 0.98, 1.02, 1.02, 0.98, 1.02, 0.98]
    stats = page_inspect.order_stats(with_exponents(shipped / "tiny-pairs", noisy))
    assert stats["learned"] and stats["near_uniform"]
    assert abs(stats["kendall_tau"]) < 0.02
    assert stats["entropy"] > 0.99 * math.log(math.factorial(8))
    # exponents falling along the reference order: the draws mostly follow it
    falling = [100.0 / 4**k for k in range(8)]
    stats = page_inspect.order_stats(with_exponents(shipped / "tiny-pairs", falling))
    assert not stats["near_uniform"] and stats["mode"] == list(range(8))
    assert 0.75 < stats["kendall_tau"] < 1.0  # 1 only if every draw were the reference order


def test_near_uniform_learned_schedule_shows_no_most_likely_order(page, shipped):
    ckpt = with_exponents(shipped / "tiny-pairs", [0.98, 1.02, 1.02, 0.98, 0.98, 1.02, 0.98, 1.02])
    page.session_state[page_inspect.STATE] = {"label": "shipped: tiny-pairs", "ckpt": ckpt,
                                              "stats": page_inspect.order_stats(ckpt)}
    page.run()
    assert not page.exception
    assert not most_likely_lines(page)
    assert "not meaningful" in page.info[0].value
    assert {m.label: m.value for m in page.metric}[page_inspect.TAU_LABEL] == "+0.00"  # tau = -0.0014


def test_good_upload_shows_the_exponent_chart(page, files):
    at = upload(page, *files)
    assert not at.exception and not at.error
    exponents = [json.loads(c.proto.spec) for c in at.get("plotly_chart")
                 if json.loads(c.proto.spec)["layout"]["title"]["text"].startswith("Exponents")]
    assert exponents[0]["data"][0]["x"] == [f"b{i}" for i in range(1, 5)] + [f"c{i}" for i in range(1, 5)]
    assert at.session_state["inspect_current"]["label"].startswith("upload:")


def pickled() -> bytes:
    buf = io.BytesIO()
    torch.save({"model.tok_emb.weight": torch.zeros(3, 16)}, buf)
    return buf.getvalue()


def huge_config(config: bytes) -> bytes:
    d = json.loads(config)
    d["model"]["d_model"] = 10**9
    return json.dumps(d).encode()


BAD_UPLOADS = [
    (lambda c, w: (c, w[: len(w) // 2]), "truncated"),
    (lambda c, w: (c, pickled()), "pickle"),
    (lambda c, w: (huge_config(c), w), "d_model"),
    (lambda c, w: (b"{not json", w), "not valid JSON"),
]


def test_bad_uploads_say_why_and_leave_no_stale_figures(page, files):
    at = upload(page, *files)
    for bad, message in BAD_UPLOADS:
        uploader(at).set_value(
            [("config.json", bad(*files)[0], "application/json"),
             ("model.safetensors", bad(*files)[1], "application/octet-stream")])
        at.run()
        assert not at.exception
        assert len(at.error) == 1 and message in at.error[0].value, message
        assert not chart_titles(at)  # the previous upload's figures are gone with it
        upload(at, *files)  # and the page keeps working
        assert not at.error and any(t.startswith("Exponents") for t in chart_titles(at))
    at.radio(key="inspect_source").set_value("Shipped").run()
    assert not at.exception and not at.error


def test_one_file_only_asks_for_both(page, files):
    at = page
    at.radio(key="inspect_source").set_value("Upload").run()
    uploader(at).set_value(("config.json", files[0], "application/json")).run()
    assert not at.exception and "add the other file" in at.info[0].value


def test_hub_offline_says_so_plainly(page, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    at = page
    at.radio(key="inspect_source").set_value("Hugging Face Hub").run()
    at.text_input(key="inspect_repo").set_value("someone/not-cached")
    at.button[0].click().run()
    assert not at.exception
    assert "could not reach the Hugging Face Hub" in at.error[0].value
    assert at.session_state["inspect_current"]["label"].startswith("shipped:")
