"""The checkpoint format, and the checks untrusted bytes pass before any tensor exists.

A checkpoint folder holds ``config.json`` (format, version, model config, schedule spec, data meta, training
config), ``model.safetensors`` (the denoiser's state under ``model.``, the schedule's under ``schedule.``) and
optionally ``metrics.json``. Files are untrusted (docs/design.md §6): nothing is ever unpickled; sizes, JSON,
the config's bounds (``core/limits.py``) and the safetensors header are all checked here, against the
tensors the rebuilt model expects, before :func:`read_tensors` reads any tensor. Saving, loading and the
Hub are in ``core/checkpoint.py``.
"""

from __future__ import annotations

import json
import math

import safetensors.torch
import torch

from core import limits
from core.checks import check_int
from core.meta import DataMeta
from core.model import ModelConfig
from core.schedules import SCHEDULES, Schedule, make_schedule

FORMAT = "orderlab-checkpoint"
VERSION = 1
CONFIG_NAME, WEIGHTS_NAME, METRICS_NAME = "config.json", "model.safetensors", "metrics.json"
HUB_FILES = [CONFIG_NAME, WEIGHTS_NAME, METRICS_NAME]
STATE_NAME = "training_state.safetensors"  # optimizer and RNG state for --resume (core/resume.py)
OWN_FILES = frozenset(HUB_FILES + [STATE_NAME])  # a save replaces these; other files in the folder stay
# bytes per element of the safetensors dtypes
ITEMSIZE = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
            "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}
TORCH_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
                torch.int64: "I64", torch.int32: "I32", torch.bool: "BOOL", torch.uint8: "U8"}


def check_size(data, limit: int, what: str) -> None:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValueError(f"{what} must be bytes, got {type(data).__name__}")
    check_size_value(len(data), limit, what)


def check_size_value(size: int, limit: int, what: str) -> None:
    if size > limit:
        raise ValueError(f"{what} is too large: {size:,} bytes > {limit:,}")
    if size == 0:
        raise ValueError(f"{what} is empty")


def looks_like_pickle(data: bytes) -> bool:
    """Pickle protocol 2-5 opcode, or the zip container that ``torch.save`` writes."""
    return data[:1] == b"\x80" and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05") or data[:4] == b"PK\x03\x04"


# --- config.json --------------------------------------------------------------------------------


def parse_config(data: bytes) -> tuple[ModelConfig, dict, DataMeta, dict]:
    """Parse and bound-check config.json: (model config, schedule spec, data meta, training config)."""
    if looks_like_pickle(data):
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


def parse_metrics(data: bytes) -> dict:
    check_size(data, limits.MAX_METRICS_BYTES, METRICS_NAME)
    metrics = _loads(data, METRICS_NAME, allow_nan=True)
    if not isinstance(metrics, dict):
        raise ValueError(f"{METRICS_NAME} must hold a JSON object")
    return metrics


# --- model.safetensors --------------------------------------------------------------------------


def read_safetensors_header(data: bytes) -> dict:
    """Parse and sanity-check a safetensors header: ``{name: {"dtype", "shape", "data_offsets"}}``.

    Layout: 8 bytes little-endian header length n, n bytes of JSON header, then the tensor data.
    """
    if looks_like_pickle(data):
        raise ValueError(f"{WEIGHTS_NAME}: this looks like a pickle / torch.save file; only safetensors is "
                         "accepted")
    if len(data) < 8:
        raise ValueError(f"{WEIGHTS_NAME} is truncated ({len(data)} bytes; not a safetensors file)")
    n = int.from_bytes(data[:8], "little")
    if n > limits.MAX_HEADER_BYTES or n > len(data) - 8 or n < 2:
        raise ValueError(f"{WEIGHTS_NAME} is truncated or not a safetensors file (header length {n:,}, "
                         f"file {len(data):,} bytes)")
    header = _loads(data[8:8 + n], f"{WEIGHTS_NAME} header")
    if not isinstance(header, dict) or len(header) > limits.MAX_TENSORS:
        raise ValueError(f"{WEIGHTS_NAME} header must be a JSON object of at most {limits.MAX_TENSORS} tensors")
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


def expected_tensors(model_config: ModelConfig, spec: dict) -> dict[str, tuple[list[int], str]]:
    """Name -> (shape, dtype) of every tensor the rebuilt model and schedule hold (the model is not built)."""
    expected = {"model." + k: (list(shape), "F32") for k, shape in model_config.state_shapes().items()}
    for k, v in schedule_from_spec(spec).state_dict().items():  # at most MAX_POSITIONS floats
        expected["schedule." + k] = (list(v.shape), TORCH_DTYPES.get(v.dtype, str(v.dtype)))
    return expected


def compare_header(header: dict, expected: dict) -> None:
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


def read_tensors(weights: bytes) -> dict[str, torch.Tensor]:
    try:
        tensors = safetensors.torch.load(weights)
    except Exception as e:  # the header passed our checks, so this is a corrupt data section
        raise ValueError(f"could not read {WEIGHTS_NAME}: {e}") from None
    for name, t in tensors.items():
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise ValueError(f"{WEIGHTS_NAME}: tensor {name} contains NaN or infinite values")
    return tensors


def schedule_from_spec(spec: dict) -> Schedule:
    """A fresh schedule built from a checked spec (``{"name", "num_positions"}`` + ``"w"``)."""
    kwargs = {"w": float(spec["w"])} if "w" in spec else {}
    return make_schedule(spec["name"], spec["num_positions"], **kwargs)
