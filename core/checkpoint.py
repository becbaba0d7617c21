"""Checkpoints: ``config.json`` + ``model.safetensors`` (+ ``metrics.json``), the Hugging Face Hub layout.

``config.json`` holds the model config, the schedule, the data meta and the training config;
``model.safetensors`` holds the denoiser's state dict under ``model.`` and the schedule's under ``schedule.``.
:func:`load` is the one loader for the app and the CLI (a local directory or a Hub repo id);
:func:`load_from_bytes` serves uploads. Files are untrusted: nothing is ever unpickled, and sizes, JSON,
config bounds and the safetensors header are all checked before any tensor is read.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import safetensors.torch
import torch
from torch import nn

from core import atomic
from core import limits
from core.checks import check_int, short
from core.meta import DataMeta
from core.model import Denoiser, ModelConfig
from core.schedules import (
    SCHEDULES,
    CosineSchedule,
    LearnedPolynomialSchedule,
    LinearSchedule,
    PolynomialSchedule,
    Schedule,
    check_exponents,
    make_schedule,
)

FORMAT = "orderlab-checkpoint"
VERSION = 1
CONFIG_NAME, WEIGHTS_NAME, METRICS_NAME = "config.json", "model.safetensors", "metrics.json"
HUB_FILES = [CONFIG_NAME, WEIGHTS_NAME, METRICS_NAME]
STATE_NAME = "training_state.safetensors"  # optimizer and RNG state for --resume (core/train.py)
OWN_FILES = frozenset(HUB_FILES + [STATE_NAME])  # a save replaces these; other files in the folder stay
MAX_CONFIG_BYTES = limits.MAX_CONFIG_BYTES  # every bound comes from core/limits.py
MAX_WEIGHTS_BYTES = limits.MAX_WEIGHTS_BYTES
MAX_METRICS_BYTES = limits.MAX_METRICS_BYTES
MAX_HEADER_BYTES = limits.MAX_HEADER_BYTES
MAX_TENSORS = limits.MAX_TENSORS
# bytes per element of the safetensors dtypes
ITEMSIZE = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
            "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}
TORCH_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
                torch.int64: "I64", torch.int32: "I32", torch.bool: "BOOL", torch.uint8: "U8"}
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
    _parse_config(config_text.encode())  # never write a checkpoint that load() would refuse
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
        _read_file(metrics_path, MAX_METRICS_BYTES) if metrics_path.exists() else None,
        max_config_bytes=max_config_bytes, max_weights_bytes=max_weights_bytes)
    ckpt.path = str(directory)
    return ckpt


def load_from_bytes(config_bytes: bytes, safetensors_bytes: bytes, metrics_bytes: bytes | None = None, *,
                    max_config_bytes: int = MAX_CONFIG_BYTES,
                    max_weights_bytes: int = MAX_WEIGHTS_BYTES) -> Checkpoint:
    """Load a checkpoint from the raw bytes of its files (e.g. app uploads); no temporary files."""
    # 1. sizes, then the config, all before any tensor exists
    _check_size(config_bytes, max_config_bytes, CONFIG_NAME)
    _check_size(safetensors_bytes, max_weights_bytes, WEIGHTS_NAME)
    model_config, spec, meta, train = _parse_config(bytes(config_bytes))
    # 2. the safetensors header against the tensors the rebuilt model expects
    weights = bytes(safetensors_bytes)
    _compare_header(read_safetensors_header(weights), _expected_tensors(model_config, spec))
    # 3. only now read the tensors and load them strictly
    model, schedule = _build(model_config, spec, _read_tensors(weights))
    metrics = _parse_metrics(metrics_bytes) if metrics_bytes is not None else None
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
                           _read_file(metrics, MAX_METRICS_BYTES) if metrics.is_file() else None)
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
    _check_size_value(path.stat().st_size, limit, path.name)
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    _check_size(data, limit, path.name)
    return data


def _check_size(data, limit: int, what: str) -> None:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValueError(f"{what} must be bytes, got {type(data).__name__}")
    _check_size_value(len(data), limit, what)


def _check_size_value(size: int, limit: int, what: str) -> None:
    if size > limit:
        raise ValueError(f"{what} is too large: {size:,} bytes > {limit:,}")
    if size == 0:
        raise ValueError(f"{what} is empty")


def _looks_like_pickle(data: bytes) -> bool:
    """Pickle protocol 2-5 opcode, or the zip container that ``torch.save`` writes."""
    return data[:1] == b"\x80" and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05") or data[:4] == b"PK\x03\x04"


# --- config.json --------------------------------------------------------------------------------


def _parse_config(data: bytes) -> tuple[ModelConfig, dict, DataMeta, dict]:
    """Parse and bound-check config.json: (model config, schedule spec, data meta, training config)."""
    if _looks_like_pickle(data):
        raise ValueError(f"{CONFIG_NAME} looks like a pickle / torch.save file; it must be JSON")
    d = _loads(data, CONFIG_NAME)
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise ValueError(f"{CONFIG_NAME} is not an orderlab checkpoint config (expected \"format\": \"{FORMAT}\")")
    if d.get("version") != VERSION:
        raise ValueError(f"{CONFIG_NAME} has version {d.get('version')!r}; this orderlab reads version {VERSION}")
    model_config = _section(_model_config, d, "model")
    spec = _section(lambda s: _check_schedule_spec(s, model_config.length), d, "schedule")
    meta = _section(DataMeta.from_dict, d, "data")
    if meta.num_categories != model_config.num_categories:
        raise ValueError(f"{CONFIG_NAME}: data num_categories {meta.num_categories} differ from the model's "
                         f"{model_config.num_categories}")
    train = d.get("train", {})
    if not isinstance(train, dict):
        raise ValueError(f"{CONFIG_NAME}: train must be a JSON object")
    return model_config, spec, meta, train


def _model_config(d) -> ModelConfig:
    """ModelConfig's own checks, then the bounds of core/limits.py (the table every page relies on)."""
    config = ModelConfig.from_dict(d)
    check_int("d_model", config.d_model, 1, limits.MAX_D_MODEL)
    check_int("n_layers", config.n_layers, 1, limits.MAX_LAYERS)
    check_int("n_heads", config.n_heads, 1, limits.MAX_HEADS)
    check_int("length", config.length, 1, limits.MAX_POSITIONS)
    check_int("vocabulary size", config.vocab_size, 2, limits.MAX_CATEGORIES)
    if config.num_params() > limits.MAX_PARAMS:
        raise ValueError(f"model too large: {config.num_params():,} parameters > {limits.MAX_PARAMS:,}")
    return config


def _loads(data: bytes, what: str, allow_nan: bool = False):
    def no_constants(name):
        raise ValueError(f"{name} is not valid JSON")

    try:
        text = bytes(data).decode("utf-8-sig")  # a leading byte order mark is allowed
        return json.loads(text) if allow_nan else json.loads(text, parse_constant=no_constants)
    except UnicodeDecodeError:
        raise ValueError(f"{what} is not valid JSON (not UTF-8 text)") from None
    except RecursionError:
        raise ValueError(f"{what} is not valid JSON (nested too deeply)") from None
    except ValueError as e:
        raise ValueError(f"{what} is not valid JSON: {e}") from None


def _section(parse, d: dict, key: str):
    if key not in d:
        raise ValueError(f"{CONFIG_NAME} is missing the {key!r} section")
    try:
        return parse(d[key])
    except (TypeError, ValueError) as e:
        raise ValueError(f"{CONFIG_NAME} {key}: {e}") from None


def _check_schedule_spec(s, length: int) -> dict:
    if not isinstance(s, dict) or not set(s) <= {"name", "num_positions", "w"}:
        raise ValueError("must be an object with name, num_positions (and w for polynomial)")
    if s.get("name") not in SCHEDULES:
        raise ValueError(f"unknown schedule {s.get('name')!r}; expected one of {', '.join(SCHEDULES)}")
    if s.get("num_positions") != length or isinstance(s.get("num_positions"), bool):
        raise ValueError(f"num_positions {s.get('num_positions')!r} must equal the model length {length}")
    w = s.get("w", 1.0)
    if s["name"] == "polynomial" and not (isinstance(w, (int, float)) and not isinstance(w, bool)
                                          and math.isfinite(w) and 1e-6 <= w <= 1e6):
        raise ValueError(f"polynomial w must be a number in [1e-6, 1e6], got {w!r}")
    if s["name"] != "polynomial" and "w" in s:
        raise ValueError(f"w is only for the polynomial schedule, not {s['name']!r}")
    return dict(s)


def _parse_metrics(data: bytes) -> dict:
    _check_size(data, MAX_METRICS_BYTES, METRICS_NAME)
    metrics = _loads(data, METRICS_NAME, allow_nan=True)
    if not isinstance(metrics, dict):
        raise ValueError(f"{METRICS_NAME} must hold a JSON object")
    return metrics


# --- model.safetensors --------------------------------------------------------------------------


def read_safetensors_header(data: bytes) -> dict:
    """Parse and sanity-check a safetensors header: ``{name: {"dtype", "shape", "data_offsets"}}``.

    Layout: 8 bytes little-endian header length n, n bytes of JSON header, then the tensor data.
    """
    if _looks_like_pickle(data):
        raise ValueError(f"{WEIGHTS_NAME}: this looks like a pickle / torch.save file; only safetensors is "
                         "accepted")
    if len(data) < 8:
        raise ValueError(f"{WEIGHTS_NAME} is truncated ({len(data)} bytes; not a safetensors file)")
    n = int.from_bytes(data[:8], "little")
    if n > MAX_HEADER_BYTES or n > len(data) - 8 or n < 2:
        raise ValueError(f"{WEIGHTS_NAME} is truncated or not a safetensors file (header length {n:,}, "
                         f"file {len(data):,} bytes)")
    header = _loads(data[8:8 + n], f"{WEIGHTS_NAME} header")
    if not isinstance(header, dict) or len(header) > MAX_TENSORS:
        raise ValueError(f"{WEIGHTS_NAME} header must be a JSON object of at most {MAX_TENSORS} tensors")
    header.pop("__metadata__", None)
    data_size = len(data) - 8 - n
    for name, entry in header.items():
        _check_entry(name, entry, data_size)
    return header


def _check_entry(name: str, entry, data_size: int) -> None:
    ok = (isinstance(entry, dict) and entry.get("dtype") in ITEMSIZE and isinstance(entry.get("shape"), list)
          and len(entry["shape"]) <= 8 and all(_is_count(s) for s in entry["shape"])
          and isinstance(entry.get("data_offsets"), list) and len(entry["data_offsets"]) == 2
          and all(_is_count(o) for o in entry["data_offsets"]))
    if not ok:
        raise ValueError(f"{WEIGHTS_NAME}: malformed header entry for tensor {name!r}")
    begin, end = entry["data_offsets"]
    if end > data_size:
        raise ValueError(f"{WEIGHTS_NAME} is truncated: tensor {name!r} needs bytes up to {end:,} but the data "
                         f"section has {data_size:,}")
    if end - begin != math.prod(entry["shape"]) * ITEMSIZE[entry["dtype"]]:
        raise ValueError(f"{WEIGHTS_NAME}: tensor {name!r} has offsets that do not match its shape and dtype")


def _is_count(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and 0 <= x < 1 << 40


def _expected_tensors(model_config: ModelConfig, spec: dict) -> dict[str, tuple[list[int], str]]:
    """Name -> (shape, dtype) of every tensor the rebuilt model and schedule hold (the model is not built)."""
    expected = {"model." + k: (list(shape), "F32") for k, shape in model_config.state_shapes().items()}
    for k, v in _make_schedule(spec).state_dict().items():  # at most MAX_LENGTH floats
        expected["schedule." + k] = (list(v.shape), TORCH_DTYPES.get(v.dtype, str(v.dtype)))
    return expected


def _compare_header(header: dict, expected: dict) -> None:
    missing = sorted(set(expected) - set(header))
    unexpected = sorted(set(header) - set(expected))
    if missing:
        raise ValueError(f"{WEIGHTS_NAME} is missing tensor(s): {_listing(missing)}")
    if unexpected:
        raise ValueError(f"{WEIGHTS_NAME} has unexpected tensor(s): {_listing(unexpected)}")
    for name, (shape, dtype) in expected.items():
        got = header[name]
        if got["shape"] != shape:
            raise ValueError(f"{WEIGHTS_NAME}: tensor {name} has the wrong shape: expected {shape}, got "
                             f"{got['shape']}")
        if got["dtype"] != dtype:
            raise ValueError(f"{WEIGHTS_NAME}: tensor {name} has the wrong dtype: expected {dtype}, got "
                             f"{got['dtype']}")


def _listing(names: list[str], limit: int = 8) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _read_tensors(weights: bytes) -> dict[str, torch.Tensor]:
    try:
        tensors = safetensors.torch.load(weights)
    except Exception as e:  # the header passed our checks, so this is a corrupt data section
        raise ValueError(f"could not read {WEIGHTS_NAME}: {e}") from None
    for name, t in tensors.items():
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise ValueError(f"{WEIGHTS_NAME}: tensor {name} contains NaN or infinite values")
    return tensors


def _make_schedule(spec: dict) -> Schedule:
    kwargs = {"w": float(spec["w"])} if "w" in spec else {}
    return make_schedule(spec["name"], spec["num_positions"], **kwargs)


def _build(model_config: ModelConfig, spec: dict, tensors: dict) -> tuple[Denoiser, Schedule]:
    model, schedule = Denoiser(model_config), _make_schedule(spec)
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
