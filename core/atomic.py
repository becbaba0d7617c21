"""Atomic folder writes: a checkpoint folder is replaced whole or not at all.

:func:`write_folder` writes every file into a temporary folder beside the target, fsyncs them, and then
swaps the temporary folder with the target in one step (Linux ``renameat2(RENAME_EXCHANGE)``), so a process
killed at any moment leaves either the previous folder or the new one at the target path — never a mix of
two saves and never nothing. Where the exchange is not available (other systems, other file systems) the
old folder is renamed aside and the new one renamed in: still never a mix, but a kill between those two
renames leaves the target missing (the old folder stays beside it as ``.<name>.old-*``).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import uuid
from pathlib import Path

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def write_folder(target, files: dict[str, bytes], replaces: set[str] = frozenset()) -> Path:
    """Replace folder ``target`` by one holding ``files`` (name -> bytes), atomically.

    Other files already in ``target`` (a model card, say) are carried over, except those named in
    ``replaces``: files that belong to the writer and must not outlive a save that no longer writes them.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(target)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        tmp.mkdir()
        for name, content in files.items():
            _write_synced(tmp / name, content)
        _carry_over(target, tmp, set(files) | set(replaces))
        _fsync_path(tmp)
        _swap_in(tmp, target)
    finally:
        if tmp.exists():  # after an exchange it holds the previous folder; after an error, the partial one
            shutil.rmtree(tmp, ignore_errors=True)
    _fsync_path(target.parent)
    return target


def _carry_over(target: Path, tmp: Path, skip: set[str]) -> None:
    if not target.is_dir():
        return
    for path in target.iterdir():
        if path.name in skip:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.copytree(path, tmp / path.name, symlinks=True)
        else:
            shutil.copy2(path, tmp / path.name, follow_symlinks=False)


def _write_synced(path: Path, content: bytes) -> None:
    with open(path, "wb") as f:
        f.write(content)
        f.flush()
        os.fsync(f.fileno())


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _swap_in(tmp: Path, target: Path) -> None:
    """Put ``tmp`` at ``target``; afterwards ``tmp`` holds the previous target (if any) for removal."""
    if not target.exists():
        os.rename(tmp, target)
        return
    if not target.is_dir():
        raise ValueError(f"{target.name} exists and is not a folder")
    if _exchange(tmp, target):
        return
    old = target.parent / f".{target.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    os.rename(target, old)
    os.rename(tmp, target)
    os.rename(old, tmp)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one system call; False where the system or file system cannot."""
    libc = _libc()
    if libc is None:
        return False
    result = libc.renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return result == 0


def _libc():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc if hasattr(libc, "renameat2") else None
    except OSError:
        return None


def _remove_stale(target: Path) -> None:
    """Clear what a killed writer of ``target`` left beside it: its partial folder is removed, and a
    previous folder it had renamed aside (the fallback swap) is put back if the target is missing."""
    for path in target.parent.glob(f".{target.name}.*-*-*"):
        kind, _, rest = path.name[len(target.name) + 2:].partition("-")
        pid = rest.split("-", 1)[0]
        if kind not in ("tmp", "old") or not pid.isdigit() or _alive(int(pid)):
            continue
        if kind == "old" and not target.exists():
            os.rename(path, target)
        else:
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
