"""Checkpoint uploads, written once for the Inspect and Compare pages.

An upload is the files of a checkpoint (``config.json`` + ``model.safetensors``, optionally
``metrics.json``: the three files of a shipped ``pretrained/<name>/`` folder) or the zip the Train page
makes. Files are untrusted: sizes and member counts are bounded by ``core/limits.py`` before anything is
read (a zip bomb stops at the bound), member names are only compared, never used as paths, and only
``core.checkpoint.load_from_bytes`` reads the bytes (nothing is unpickled).

The uploader is emptied after each complete upload (its widget key changes), so a new upload replaces the
previous one instead of piling up next to it; the result of the last upload is kept in the session and read
with :func:`last_result` (the Train page replays the history of the checkpoint uploaded on Inspect).
"""

from __future__ import annotations

import hashlib
import io
import zipfile
import zlib

import streamlit as st

from core import checkpoint, limits

CONFIG, WEIGHTS, METRICS = checkpoint.CONFIG_NAME, checkpoint.WEIGHTS_NAME, checkpoint.METRICS_NAME
FILE_LIMITS = {CONFIG: limits.MAX_CONFIG_BYTES, WEIGHTS: limits.MAX_WEIGHTS_BYTES, METRICS: limits.MAX_METRICS_BYTES}
HELP = ("The files of a saved checkpoint: config.json and model.safetensors (metrics.json optional), or the "
        ".zip the Train page offers. Only safetensors weights are read; pickles (torch.save files) are refused, "
        "and the config is checked against bounds before anything is built.")


# --- files -> the checkpoint's parts (pure: tested without a page) ---------------------------------------


def checkpoint_files(files) -> dict[str, bytes]:
    """``{config.json, model.safetensors[, metrics.json]: bytes}`` from uploaded files (objects with
    ``name`` and ``getvalue()``), or ValueError naming what is missing or wrong."""
    files = list(files or [])
    if len(files) == 1 and _is_zip(files[0]):
        return read_zip(files[0].getvalue())
    if len(files) > limits.MAX_UPLOAD_FILES:
        raise ValueError(f"upload one checkpoint: {CONFIG} and {WEIGHTS} (metrics.json optional) or one .zip; "
                         f"got {len(files)} files")
    if any(_is_zip(f) for f in files):
        raise ValueError("upload a .zip on its own, not together with other files")
    parts: dict[str, bytes] = {}
    for f in files:
        role = _role(f.name)
        if role in parts:
            raise ValueError(f"two files look like {role}; upload one checkpoint at a time")
        parts[role] = _bounded(f.getvalue(), role)
    return _complete(parts)


def read_zip(raw: bytes) -> dict[str, bytes]:
    """The checkpoint files inside a zip (at top level or in one folder), each read up to its size bound."""
    if len(raw) > limits.MAX_ZIP_BYTES:
        raise ValueError(f"the zip is larger than {limits.MAX_ZIP_BYTES >> 20} MB")
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as zf:
            members = [m for m in zf.infolist() if not m.is_dir()]
            if len(members) > limits.MAX_ZIP_MEMBERS:
                raise ValueError(f"the zip holds {len(members)} files; a checkpoint zip holds at most "
                                 f"{limits.MAX_UPLOAD_FILES}")
            return _complete(_zip_parts(zf, members))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, EOFError, zlib.error,
            OSError) as e:
        raise ValueError(f"the zip cannot be read: {type(e).__name__}") from None


def _zip_parts(zf: zipfile.ZipFile, members) -> dict[str, bytes]:
    parts: dict[str, bytes] = {}
    for member in members:
        name = member.filename.replace("\\", "/").rsplit("/", 1)[-1]
        if name not in FILE_LIMITS:
            continue  # e.g. a README: ignored, never extracted
        if name in parts:
            raise ValueError(f"the zip holds more than one {name}")
        if member.flag_bits & 0x1:
            raise ValueError("the zip is encrypted")
        if member.file_size > FILE_LIMITS[name]:
            raise ValueError(f"{name} in the zip is too large: {member.file_size:,} bytes > {FILE_LIMITS[name]:,}")
        with zf.open(member) as f:
            parts[name] = _bounded(f.read(FILE_LIMITS[name] + 1), name)  # a lying header stops here too
    return parts


def _complete(parts: dict[str, bytes]) -> dict[str, bytes]:
    missing = [name for name in (CONFIG, WEIGHTS) if name not in parts]
    if missing:
        raise ValueError(f"the upload has no {' and no '.join(missing)}; a checkpoint needs {CONFIG} and "
                         f"{WEIGHTS} (metrics.json optional), or the Train page's .zip")
    return parts


def _role(filename: str) -> str:
    name = filename.lower()
    if name.endswith(".json"):
        return METRICS if "metrics" in name else CONFIG
    return WEIGHTS


def _is_zip(f) -> bool:
    return f.name.lower().endswith(".zip")


def _bounded(data: bytes, name: str) -> bytes:
    if len(data) > FILE_LIMITS[name]:
        raise ValueError(f"{name} is too large: more than {FILE_LIMITS[name]:,} bytes")
    return data


def upload_key(parts: dict[str, bytes]) -> str:
    digest = hashlib.sha256()
    for name in (CONFIG, WEIGHTS, METRICS):
        digest.update(name.encode() + b"\0" + parts.get(name, b"") + b"\0")
    return "upload:" + digest.hexdigest()[:16]


def load(files) -> tuple[str, checkpoint.Checkpoint]:
    """``(key, checkpoint)`` from uploaded files; ValueError with the loader's message."""
    return load_parts(checkpoint_files(files))


def load_parts(parts: dict[str, bytes]) -> tuple[str, checkpoint.Checkpoint]:
    """``(key, checkpoint)`` from the files of :func:`checkpoint_files` (the one call of the loader)."""
    return upload_key(parts), checkpoint.load_from_bytes(parts[CONFIG], parts[WEIGHTS], parts.get(METRICS))


# --- the widget (Inspect and Compare) ------------------------------------------------------------------


INSPECT = "inspect_upload"  # the base key of the Inspect page's uploader
COMPARE = "compare_upload"


def upload_box(base_key: str, label: str) -> dict | None:
    """The uploader in its own container (keyed ``base_key``); returns :func:`uploader`'s result."""
    with st.container(key=base_key):
        return uploader(label, base_key)


def show_error(result: dict) -> None:
    st.error(f"This upload cannot be used: {result['error']}")


def last_result(base_key: str) -> dict | None:
    """The last upload's result in this session (``{"key", "ckpt", "names"}`` or ``{"error"}``), or None."""
    return st.session_state.get(f"{base_key}_result")


def uploader(label: str, base_key: str) -> dict | None:
    """Draw the uploader; returns the last upload's result ``{"key", "ckpt"}`` or ``{"error"}`` (None before
    any). A complete upload is loaded once, then the uploader is emptied for the next one."""
    generation = st.session_state.setdefault(f"{base_key}_generation", 0)
    files = st.file_uploader(label, accept_multiple_files=True, key=f"{base_key}_{generation}", help=HELP)
    if files:
        result = _try_load(files)
        if result is not None:
            st.session_state[f"{base_key}_result"] = result
            st.session_state[f"{base_key}_generation"] = generation + 1
            st.rerun()
    return last_result(base_key)


def _try_load(files) -> dict | None:
    """The result of a complete upload; None (with a hint shown) while a file is still missing."""
    try:
        parts = checkpoint_files(files)
    except ValueError as e:
        if len(files) < 2 and not _is_zip(files[0]) and "has no" in str(e):
            st.info(f"Got {files[0].name}; add the other file of the checkpoint ({CONFIG} and {WEIGHTS}).")
            return None
        return {"error": str(e)}
    try:
        key, ckpt = load_parts(parts)
    except ValueError as e:
        return {"error": str(e)}
    return {"key": key, "ckpt": ckpt, "names": sorted(parts)}


def widget_key(base_key: str) -> str:
    """The uploader's current widget key (tests use it to set files)."""
    return f"{base_key}_{st.session_state.get(f'{base_key}_generation', 0)}"
