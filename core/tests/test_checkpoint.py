import json
import os
import pickle
from pathlib import Path

import huggingface_hub
import pytest
import safetensors.torch
import torch

from core import checkpoint
from core.checkpoint import load, load_from_bytes, save, schedule_name
from core.tasks import make_task
from core.model import Denoiser, ModelConfig
from core.schedules import (
    CosineSchedule,
    LearnedPolynomialSchedule,
    LinearSchedule,
    PolynomialSchedule,
)

TRAIN = {"task": "pairs", "lr": 0.003, "steps": 10, "betas": [0.9, 0.99]}


def build(seed=0):
    ds = make_task("pairs", n=3, V=3, num_train=64, num_heldout=8)
    torch.manual_seed(seed)
    model = Denoiser(ModelConfig(ds.meta.num_categories, d_model=16, n_layers=1, n_heads=2))
    schedule = LearnedPolynomialSchedule(6, torch.tensor([0.3, 1.0, 2.5, 4.0, 0.7, 1.3]))
    return model, schedule, ds


@pytest.fixture
def saved(tmp_path):
    model, schedule, ds = build()
    save(model, schedule, ds.meta, TRAIN, tmp_path / "ckpt", metrics={"heldout_nelbo": 3.5, "history": []})
    return tmp_path / "ckpt", model, schedule, ds


def files(directory):
    return (directory / "config.json").read_bytes(), (directory / "model.safetensors").read_bytes()


def config_with(directory, edit):
    cfg = json.loads((directory / "config.json").read_text())
    edit(cfg)
    return json.dumps(cfg).encode()


# --- round trips --------------------------------------------------------------------------------


def test_save_load_round_trip_gives_identical_logits_and_exponents(saved):
    directory, model, schedule, ds = saved
    assert sorted(os.listdir(directory)) == ["config.json", "metrics.json", "model.safetensors"]
    ckpt = load(directory)
    z = ds.train.clone()
    z[::2, ::2] = model.mask_id
    assert torch.equal(ckpt.model(z), model.eval()(z))
    assert isinstance(ckpt.schedule, LearnedPolynomialSchedule)
    assert torch.equal(ckpt.schedule.exponents, schedule.exponents)
    assert ckpt.meta == ds.meta and ckpt.config == TRAIN and ckpt.path == str(directory)
    assert ckpt.metrics == {"heldout_nelbo": 3.5, "history": []}
    assert not ckpt.model.training


def test_config_json_layout(saved):
    directory, model, _, ds = saved
    cfg = json.loads((directory / "config.json").read_text())
    assert cfg["format"] == "orderlab-checkpoint" and cfg["version"] == 1
    assert cfg["model"]["num_categories"] == [3] * 6 and cfg["train"] == TRAIN
    assert cfg["schedule"] == {"name": "learned", "num_positions": 6}
    header = checkpoint.read_safetensors_header((directory / "model.safetensors").read_bytes())
    assert set(header) == {"model." + k for k in model.state_dict()} | {"schedule.rho"}


@pytest.mark.parametrize("schedule, name", [
    (LinearSchedule(6), "linear"), (CosineSchedule(6), "cosine"), (PolynomialSchedule(2.5, 6), "polynomial"),
    (LearnedPolynomialSchedule(6), "learned"),
])
def test_every_schedule_kind_round_trips(tmp_path, schedule, name):
    model, _, ds = build()
    assert schedule_name(schedule) == name
    save(model, schedule, ds.meta, {}, tmp_path)
    back = load(tmp_path).schedule
    assert type(back) is type(schedule) and schedule_name(back) == name
    t = torch.tensor([0.1, 0.5, 0.9])
    assert torch.allclose(back.alpha(t), schedule.alpha(t))


class Compiled(torch.nn.Module):
    """Stands in for torch.compile's OptimizedModule (importing dynamo takes seconds): the module under
    ``_orig_mod``, so its state-dict keys start with ``_orig_mod.``."""

    def __init__(self, module):
        super().__init__()
        self._orig_mod = module


def test_save_unwraps_compiled_and_data_parallel_modules(tmp_path):
    model, schedule, ds = build()
    assert next(iter(Compiled(model).state_dict())).startswith("_orig_mod.")
    save(Compiled(model), schedule, ds.meta, {}, tmp_path / "a")
    save(torch.nn.DataParallel(model), schedule, ds.meta, {}, tmp_path / "b")
    for d in ("a", "b"):
        assert torch.equal(load(tmp_path / d).model(ds.train), model.eval()(ds.train))


def test_load_from_bytes_matches_load(saved):
    directory, model, _, ds = saved
    ckpt = load_from_bytes(*files(directory))
    assert torch.equal(ckpt.model(ds.train), model.eval()(ds.train)) and ckpt.path is None


def test_loading_never_unpickles(saved, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("unpickling attempted")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    load(saved[0])


# --- the Hugging Face Hub code path -------------------------------------------------------------


def test_repo_id_goes_through_snapshot_download(saved, monkeypatch):
    calls = []

    def fake_snapshot_download(repo_id, **kwargs):
        calls.append((repo_id, kwargs))
        return str(saved[0])

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    ckpt = load("someone/pairs-model", revision="v1")
    assert ckpt.meta.name == "pairs"
    (repo_id, kwargs), = calls
    assert repo_id == "someone/pairs-model" and kwargs["revision"] == "v1"
    assert sorted(kwargs["allow_patterns"]) == ["config.json", "metrics.json", "model.safetensors"]


def test_offline_local_folder_works_and_missing_repo_gives_clear_error(saved, tmp_path, monkeypatch):
    # HF_HUB_OFFLINE is read when huggingface_hub is imported, so set the module constant too.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    assert load(str(saved[0])).meta.name == "pairs"
    with pytest.raises(ValueError, match=r"could not reach the Hugging Face Hub .*\(offline\?\)"):
        load("no-such-user-xyz/no-such-model", cache_dir=tmp_path / "cache")


def test_path_that_is_neither_directory_nor_repo_id(tmp_path):
    with pytest.raises(ValueError, match="neither a local checkpoint directory nor"):
        load(str(tmp_path / "a" / "b" / "c"))
    (tmp_path / "f.json").write_text("{}")
    with pytest.raises(ValueError, match="is a file"):
        load(tmp_path / "f.json")


# --- untrusted input ----------------------------------------------------------------------------


def test_truncated_safetensors(saved):
    config, weights = files(saved[0])
    for cut in (weights[:-100], weights[:4], weights[:40]):
        with pytest.raises(ValueError, match="truncated"):
            load_from_bytes(config, cut)


def test_torch_save_pickle_is_refused(saved, tmp_path):
    config, _ = files(saved[0])
    model = saved[1]
    for zipped in (True, False):
        path = tmp_path / f"model{zipped}.pt"
        torch.save(model.state_dict(), path, _use_new_zipfile_serialization=zipped)
        with pytest.raises(ValueError, match="looks like a pickle / torch.save file; only safetensors"):
            load_from_bytes(config, path.read_bytes())
    (saved[0] / "model.safetensors").write_bytes(path.read_bytes())
    with pytest.raises(ValueError, match="pickle"):
        load(saved[0])


@pytest.mark.parametrize("edit, problem", [
    (lambda c: c["model"].update(d_model=10**9), "d_model"),
    (lambda c: c["model"].update(n_layers=10**6), "n_layers"),
    (lambda c: c["model"].update(num_categories=[10**6] * 6), r"num_categories\[0\]"),
    (lambda c: c["model"].update(evil="x"), "unknown model config field"),
    (lambda c: c.update(format="something-else"), "not an orderlab checkpoint"),
    (lambda c: c.update(version=2), "version 2"),
    (lambda c: c.pop("model"), "missing the 'model' section"),
    (lambda c: c["schedule"].update(name="sigmoid"), "unknown schedule 'sigmoid'"),
    (lambda c: c["schedule"].update(num_positions=7), "num_positions 7"),
    (lambda c: c["schedule"].update(name="polynomial", w=-1.0), "polynomial w"),
    (lambda c: c["data"].update(num_categories=[2] * 6), r"data num_categories \[2, 2, 2, 2, 2, 2\] differ"),
    (lambda c: c["data"].update(reference_groups=[[0]]), "partition"),
    (lambda c: c.update(train=[1, 2]), "train must be a JSON object"),
])
def test_bad_config_values_are_refused_before_building(saved, edit, problem):
    _, weights = files(saved[0])
    with pytest.raises(ValueError, match=problem):
        load_from_bytes(config_with(saved[0], edit), weights)


@pytest.mark.parametrize("config, problem", [
    (b"{not json", "config.json is not valid JSON"),
    (b"\xff\xfe\x00garbage", "not valid JSON"),
    (b'{"format": NaN}', "not valid JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "config.json"),
    (b"", "empty"),
    (b" " * (1 << 20) + b"{}", "too large"),
], ids=["syntax", "binary", "nan", "deep", "empty", "huge"])
def test_config_that_is_not_json(saved, config, problem):
    _, weights = files(saved[0])
    with pytest.raises(ValueError, match=problem):
        load_from_bytes(config, weights)


def tensors_of(weights: bytes) -> dict:
    return dict(safetensors.torch.load(weights))


@pytest.mark.parametrize("edit, problem", [
    (lambda t: t.update({"model.pos_emb.weight": torch.zeros(7, 16)}),
     r"model.pos_emb.weight has the wrong shape: expected \[6, 16\], got \[7, 16\]"),
    (lambda t: t.pop("model.head.bias"), r"missing tensor\(s\): model.head.bias"),
    (lambda t: t.update({"model.extra": torch.zeros(2)}), r"unexpected tensor\(s\): model.extra"),
    (lambda t: t.update({"schedule.rho": torch.zeros(6, dtype=torch.float16)}), "wrong dtype: expected F32"),
    (lambda t: t.update({"schedule.rho": torch.full((6,), float("nan"))}), "NaN"),
])
def test_bad_tensors_are_named(saved, edit, problem):
    config, weights = files(saved[0])
    tensors = tensors_of(weights)
    edit(tensors)
    with pytest.raises(ValueError, match=problem):
        load_from_bytes(config, safetensors.torch.save(tensors))


def header_bytes(header: dict, data: bytes = b"") -> bytes:
    raw = json.dumps(header).encode()
    return len(raw).to_bytes(8, "little") + raw + data


@pytest.mark.parametrize("weights, problem", [
    ((10**15).to_bytes(8, "little") + b"{}", "header length"),
    (header_bytes({"model.x": {"dtype": "F32", "shape": [10**9, 10**9], "data_offsets": [0, 4]}}, b"0000"),
     "offsets that do not match"),
    (header_bytes({"model.x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"0000"), "truncated"),
    (header_bytes({"model.x": {"dtype": "OBJ", "shape": [1], "data_offsets": [0, 4]}}, b"0000"), "malformed"),
    (header_bytes({"model.x": "nope"}), "malformed"),
    (header_bytes([1, 2]), "JSON object"),
    (b"\x05\x00\x00\x00\x00\x00\x00\x00{oops", "header is not valid JSON"),
])
def test_absurd_safetensors_headers(saved, weights, problem):
    config, _ = files(saved[0])
    with pytest.raises(ValueError, match=problem):
        load_from_bytes(config, weights)


def test_size_limits_are_checked(saved):
    config, weights = files(saved[0])
    with pytest.raises(ValueError, match="model.safetensors is too large"):
        load_from_bytes(config, weights, max_weights_bytes=len(weights) - 1)
    with pytest.raises(ValueError, match="model.safetensors is too large"):
        load(saved[0], max_weights_bytes=1000)


def test_missing_files_are_named(saved):
    (saved[0] / "config.json").unlink()
    with pytest.raises(ValueError, match="missing config.json"):
        load(saved[0])


def test_save_refuses_unserializable_train_config(tmp_path):
    model, schedule, ds = build()
    with pytest.raises(ValueError, match="cannot write config.json"):
        save(model, schedule, ds.meta, {"path": Path("x")}, tmp_path)


def test_push_to_hub_is_importable():
    assert callable(checkpoint.push_to_hub)


# --- issue 12, finding 4: the Hub box takes repo ids, never a path ------------------------------------


@pytest.mark.parametrize("text", ["a" * 300, "/etc/passwd", "../../etc/passwd", "~/x", "a/b/c", "x", "C:\\x",
                                  "https://huggingface.co/a/b", "owner/name\x00", "owner--x/name", "own er/name"])
def test_load_from_hub_refuses_anything_but_an_owner_name_id_in_one_line(text, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x").mkdir()  # a local folder of that name must not matter
    with pytest.raises(ValueError) as e:
        checkpoint.load_from_hub(text)
    message = str(e.value)
    assert "\n" not in message and len(message) < 300
    assert "/etc" not in message and str(tmp_path) not in message and "is a file" not in message


def test_load_from_hub_never_reads_a_local_folder(tmp_path, monkeypatch):
    """'pretrained/pairs-learned' is a valid repo id and a local folder: the Hub box must not open it."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.chdir(tmp_path)
    save_dir = tmp_path / "owner" / "name"
    save_tiny_checkpoint(save_dir)
    assert checkpoint.load(str(save_dir)).meta  # the command line still loads folders
    with pytest.raises(ValueError, match="offline") as e:
        checkpoint.load_from_hub("owner/name")
    assert str(tmp_path) not in str(e.value) and "\n" not in str(e.value)


def test_a_name_too_long_for_the_file_system_is_a_message_not_an_oserror():
    with pytest.raises(ValueError, match="neither a local checkpoint directory"):
        checkpoint.load("a" * 300)


def test_config_with_a_byte_order_mark_loads(tmp_path):
    """Finding 5: a config.json saved with a UTF-8 BOM (as some editors do) was refused."""
    d = save_tiny_checkpoint(tmp_path / "c")
    config = (d / "config.json").read_bytes()
    ckpt = checkpoint.load_from_bytes(b"\xef\xbb\xbf" + config, (d / "model.safetensors").read_bytes())
    assert ckpt.meta.length == checkpoint.load(d).meta.length


def save_tiny_checkpoint(directory):
    from core.tasks import make_task
    from core.model import Denoiser, ModelConfig
    from core.schedules import make_schedule

    ds = make_task("pairs", n=2, num_train=8, num_heldout=4)
    model = Denoiser(ModelConfig(ds.meta.num_categories, d_model=8, n_layers=1, n_heads=2))
    return checkpoint.save(model, make_schedule("learned", ds.meta.length), ds.meta, {}, directory)
