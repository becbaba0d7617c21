"""Checkpoints: saving, loading and the Hugging Face Hub (``config.json`` + ``model.safetensors`` +
``metrics.json``, the Hub layout).

:func:`save` writes a folder atomically; :func:`load` is the one loader for the app and the CLI (a local
directory or a Hub repo id); :func:`load_from_bytes` serves uploads; :func:`load_from_hub` the app's Hub box.
The format and the checks of untrusted bytes (sizes, JSON, config bounds, the safetensors header, all before
any tensor is read) are in ``core/checkpoint_format.py``.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import safetensors.torch
import torch
from torch import nn

from core import atomic
from core import limits
from core.checks import short
from core.checkpoint_format import (  # noqa: F401  (the file names are part of this module's API)
    CONFIG_NAME,
    FORMAT,
    HUB_FILES,
    METRICS_NAME,
    OWN_FILES,
    STATE_NAME,
    VERSION,
    WEIGHTS_NAME,
    check_size,
    check_size_value,
    compare_header,
    expected_tensors,
    parse_config,
    parse_metrics,
    read_safetensors_header,
    read_tensors,
    schedule_from_spec,
)
from core.meta import DataMeta
from core.model import Denoiser, ModelConfig
from core.schedules import (
    CosineSchedule,
    LearnedPolynomialSchedule,
    LinearSchedule,
    PolynomialSchedule,
    Schedule,
    check_exponents,
)

MAX_CONFIG_BYTES, MAX_WEIGHTS_BYTES = limits.MAX_CONFIG_BYTES, limits.MAX_WEIGHTS_BYTES  # load()'s defaults
# A repo id is "name" or "owner/name" (letters, digits, '-', '_', '.').
REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]{0,95}(/[A-Za-z0-9][\w.-]{0,95})?")


@dataclass
class Checkpoint:
    model: Denoiser
    schedule: Schedule
    meta: DataMeta
    config: dict  # the training config
    metrics: dict | None = None
    path: str | None = None


# ----------------------------------------------------------------------------------------------
# Save
# ----------------------------------------------------------------------------------------------


def schedule_name(schedule: Schedule) -> str:
    """The :func:`core.schedules.make_schedule` name of a schedule object."""
    schedule = unwrap(schedule)
    if isinstance(schedule, LinearSchedule):  # before PolynomialSchedule: it is a subclass
        return "linear"
    for cls, name in [(PolynomialSchedule, "polynomial"), (CosineSchedule, "cosine"),
                      (LearnedPolynomialSchedule, "learned")]:
        if isinstance(schedule, cls):
            return name
    raise ValueError(f"cannot save a schedule of type {type(schedule).__name__}")


def schedule_spec(schedule: Schedule) -> dict:
    """``{"name", "num_positions"}`` (+ ``"w"`` for polynomial): enough to rebuild it with make_schedule."""
    schedule = unwrap(schedule)
    spec = {"name": schedule_name(schedule), "num_positions": schedule.num_positions}
    if spec["name"] == "polynomial":
        spec["w"] = float(schedule.exponents[0])
    return spec


def unwrap(module: nn.Module) -> nn.Module:
    """The plain module inside ``torch.compile`` (``_orig_mod``) and DDP / DataParallel (``.module``)."""
    while True:
        if isinstance(getattr(module, "_orig_mod", None), nn.Module):
            module = module._orig_mod
        elif isinstance(module, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            module = module.module
        else:
            return module


def save(model: Denoiser, schedule: Schedule, data_meta: DataMeta, config: dict, directory,
         metrics: dict | None = None, extra_files: dict[str, bytes] | None = None) -> Path:
    """Write ``config.json``, ``model.safetensors``, ``metrics.json`` (if given) and ``extra_files`` into
    ``directory``, atomically (:mod:`core.atomic`): it holds the previous save or this one, never a mix."""
    model, schedule = unwrap(model), unwrap(schedule)
    header = {"format": FORMAT, "version": VERSION, "model": asdict(model.config),
              "schedule": schedule_spec(schedule), "data": data_meta.to_dict(), "train": config}
    config_text = _dumps(header, CONFIG_NAME, allow_nan=False)
    parse_config(config_text.encode())  # never write a checkpoint that load() would refuse
    tensors = {**_cpu_state(model, "model."), **_cpu_state(schedule, "schedule.")}
    files = {WEIGHTS_NAME: safetensors.torch.save(tensors, metadata={"format": "pt"}),
             CONFIG_NAME: config_text.encode()}
    if metrics is not None:
        files[METRICS_NAME] = _dumps(metrics, METRICS_NAME, allow_nan=True).encode()
    # one swap for all files: a kill at any moment leaves the previous checkpoint or this one, never a mix
    return atomic.write_folder(directory, {**files, **(extra_files or {})}, replaces=OWN_FILES)


def _cpu_state(module: nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    return {prefix + k: v.detach().to("cpu").contiguous() for k, v in module.state_dict().items()}


def _dumps(obj, what: str, allow_nan: bool) -> str:
    try:
        return json.dumps(obj, indent=2, allow_nan=allow_nan) + "\n"
    except (TypeError, ValueError) as e:
        raise ValueError(f"cannot write {what}: {e}") from None


# ----------------------------------------------------------------------------------------------
# Load
# ----------------------------------------------------------------------------------------------


def load(path_or_repo_id, revision: str | None = None, *, cache_dir=None,
         max_config_bytes: int = MAX_CONFIG_BYTES, max_weights_bytes: int = MAX_WEIGHTS_BYTES) -> Checkpoint:
    """Load a checkpoint from a local directory, or else from the Hugging Face Hub repo of that id."""
    directory = _resolve(path_or_repo_id, revision, cache_dir)
    metrics_path = directory / METRICS_NAME
    ckpt = load_from_bytes(
        _read_file(directory / CONFIG_NAME, max_config_bytes),
        _read_file(directory / WEIGHTS_NAME, max_weights_bytes),
        _read_file(metrics_path, limits.MAX_METRICS_BYTES) if metrics_path.exists() else None,
        max_config_bytes=max_config_bytes, max_weights_bytes=max_weights_bytes)
    ckpt.path = str(directory)
    return ckpt


def load_from_bytes(config_bytes: bytes, safetensors_bytes: bytes, metrics_bytes: bytes | None = None, *,
                    max_config_bytes: int = MAX_CONFIG_BYTES,
                    max_weights_bytes: int = MAX_WEIGHTS_BYTES) -> Checkpoint:
    """Load a checkpoint from the raw bytes of its files (e.g. app uploads); no temporary files."""
    # 1. sizes, then the config, all before any tensor exists
    check_size(config_bytes, max_config_bytes, CONFIG_NAME)
    check_size(safetensors_bytes, max_weights_bytes, WEIGHTS_NAME)
    model_config, spec, meta, train = parse_config(bytes(config_bytes))
    # 2. the safetensors header against the tensors the rebuilt model expects
    weights = bytes(safetensors_bytes)
    compare_header(read_safetensors_header(weights), expected_tensors(model_config, spec))
    # 3. only now read the tensors and load them strictly
    model, schedule = _build(model_config, spec, read_tensors(weights))
    metrics = parse_metrics(metrics_bytes) if metrics_bytes is not None else None
    return Checkpoint(model=model, schedule=schedule, meta=meta, config=train, metrics=metrics)


def load_from_hub(repo_id: str, revision: str | None = None, *, cache_dir=None) -> Checkpoint:
    """Load a checkpoint from a Hugging Face Hub repo id ``owner/name`` (the app's Hub box).

    Never a local path: the id is checked by the Hub's own rules first, so nothing on the server's disk
    is looked at except the Hub download cache, and no message names a server path."""
    repo_id = check_repo_id(repo_id)
    directory = Path(_download(repo_id, revision, cache_dir, local_hint=False))
    shown = f"the Hub repo {repo_id!r}"
    missing = [name for name in (CONFIG_NAME, WEIGHTS_NAME) if not (directory / name).is_file()]
    if missing:
        raise ValueError(f"{shown} has no {' or '.join(missing)}; it is not an orderlab checkpoint")
    metrics = directory / METRICS_NAME
    ckpt = load_from_bytes(_read_file(directory / CONFIG_NAME, MAX_CONFIG_BYTES),
                           _read_file(directory / WEIGHTS_NAME, MAX_WEIGHTS_BYTES),
                           _read_file(metrics, limits.MAX_METRICS_BYTES) if metrics.is_file() else None)
    ckpt.path = f"hf://{repo_id}"
    return ckpt


def check_repo_id(repo_id) -> str:
    """``repo_id`` stripped, if it is a Hub model id ``owner/name`` by the Hub's rules
    (``huggingface_hub.utils.validate_repo_id``: letters, digits, ``-_.``, at most 96 characters per part,
    no ``--`` or ``..``); else ValueError in one line."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if not isinstance(repo_id, str) or not repo_id.strip():
        raise ValueError("enter a Hugging Face Hub repo id such as owner/name")
    repo_id = repo_id.strip()
    # echo only what could be an id (a typo is worth seeing), never a path or URL
    plain = re.fullmatch(r"[A-Za-z0-9][\w.-]*(/[\w.-]*)*", repo_id) and ".." not in repo_id
    shown = short(repo_id) if plain else "this"
    if repo_id.count("/") != 1 or not repo_id.isascii() or not repo_id.isprintable():
        raise ValueError(f"{shown} is not a Hugging Face Hub repo id: expected owner/name (letters, digits, "
                         "'-', '_', '.'), not a path or a URL")
    try:
        validate_repo_id(repo_id)
    except HFValidationError:
        raise ValueError(f"{shown} is not a valid Hugging Face Hub repo id: owner/name with letters, digits, "
                         "'-', '_' or '.', at most 96 characters each, no '--' or '..'") from None
    return repo_id


def _resolve(path_or_repo_id, revision, cache_dir) -> Path:
    """A local checkpoint directory (command line use), else a Hub repo id downloaded to the cache."""
    name = str(path_or_repo_id)
    try:
        path = Path(name).expanduser()
        if path.is_dir():
            return path
        exists = path.exists()
    except (OSError, ValueError):  # e.g. a name too long for the file system, or a NUL byte
        exists = False
    if exists:
        raise ValueError(f"{name!r} is a file; a checkpoint is a directory holding {CONFIG_NAME} and "
                         f"{WEIGHTS_NAME}")
    if not REPO_ID.fullmatch(name) or ".." in name or "--" in name:
        raise ValueError(f"{short(name)} is neither a local checkpoint directory nor a Hugging Face "
                         "Hub repo id (owner/name)")
    return Path(_download(name, revision, cache_dir))


def _download(repo_id: str, revision: str | None, cache_dir, local_hint: bool = True) -> str:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    lead = f"{repo_id!r} is not a local directory, and" if local_hint else f"{repo_id!r}:"
    try:
        return snapshot_download(repo_id, revision=revision, cache_dir=cache_dir, allow_patterns=HUB_FILES)
    except (RepositoryNotFoundError, RevisionNotFoundError) as e:
        raise ValueError(f"{lead} the Hugging Face Hub has no such repo or revision (or it is private): "
                         f"{type(e).__name__}") from None
    except Exception as e:  # connection errors, offline mode, nothing in the local cache
        raise ValueError(f"{lead} could not reach the Hugging Face Hub to download it (offline?): "
                         f"{type(e).__name__}") from None


def _read_file(path: Path, limit: int) -> bytes:
    """The bytes of a regular file no larger than ``limit`` (checked before and while reading)."""
    if not path.is_file():
        raise ValueError(f"checkpoint is missing {path.name} (looked in {path.parent})")
    check_size_value(path.stat().st_size, limit, path.name)
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    check_size(data, limit, path.name)
    return data


def _build(model_config: ModelConfig, spec: dict, tensors: dict) -> tuple[Denoiser, Schedule]:
    model, schedule = Denoiser(model_config), schedule_from_spec(spec)
    parts = {"model.": {}, "schedule.": {}}
    for name, t in tensors.items():
        prefix = "model." if name.startswith("model.") else "schedule."
        parts[prefix][name[len(prefix):]] = t
    model.load_state_dict(parts["model."], strict=True)
    schedule.load_state_dict(parts["schedule."], strict=True)
    if schedule.is_polynomial:
        check_exponents(schedule.exponents.detach(), "schedule exponents")
    return model.eval(), schedule


# ----------------------------------------------------------------------------------------------
# Hub
# ----------------------------------------------------------------------------------------------


def push_to_hub(directory, repo_id: str, token: str | None = None, private: bool = False) -> str:
    """Upload a saved checkpoint directory to the Hugging Face Hub; returns the commit URL."""
    from huggingface_hub import HfApi

    load(directory)  # refuse to publish a checkpoint that does not load
    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True)
    info = api.upload_folder(folder_path=str(directory), repo_id=repo_id,
                             allow_patterns=HUB_FILES + ["README.md"])
    return getattr(info, "commit_url", str(info))
