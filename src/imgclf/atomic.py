"""Atomic outputs: write to a temporary name beside the target, then rename.

A stage killed half-way never leaves a file that DVC or the next stage would trust.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

_TEMP_SUFFIX = ".tmp"
_OLD_SUFFIX = ".old"
# The names atomic_path gives its temporaries: ".<target>.<8 random characters of
# tempfile.mkdtemp>.tmp" beside the target, and ".<target>.old" for a folder being replaced.
_LEFTOVER_NAME = re.compile(r"\.(?P<target>.+)\.(?:[a-z0-9_]{8}\.tmp|old)")


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path in ``target``'s folder; rename it onto ``target`` on success.

    Works for files and folders alike: whatever the caller creates at the yielded path
    replaces ``target`` in one rename. On an exception the temporary is removed and
    ``target`` is left as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=_TEMP_SUFFIX, dir=target.parent))
    tmp.rmdir()  # the caller decides whether it is a file or a folder
    try:
        yield tmp
        if target.is_dir() and not target.is_symlink():
            old = target.with_name(f".{target.name}{_OLD_SUFFIX}")
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
            tmp.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


def write_text(target: str | os.PathLike[str], text: str) -> None:
    """Atomically write ``text`` to ``target``."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(target: str | os.PathLike[str], data: Any) -> None:
    """Atomically write ``data`` as indented JSON (keys in insertion order)."""
    write_text(target, json.dumps(data, indent=2, default=str) + "\n")


def write_yaml(target: str | os.PathLike[str], data: Any, comment: str = "") -> None:
    """Atomically write ``data`` as block-style YAML, after ``comment`` as ``#`` lines."""
    header = "".join(f"# {line}\n" for line in comment.splitlines())
    write_text(target, header + yaml.safe_dump(data, sort_keys=False))


def write_csv(target: str | os.PathLike[str], frame: Any) -> None:
    """Atomically write a pandas DataFrame as CSV without its index."""
    with atomic_path(target) as tmp:
        frame.to_csv(tmp, index=False)


def remove_outputs(*paths: str | os.PathLike[str]) -> None:
    """Delete stale outputs (files or folders) so a failed stage leaves none behind."""
    for path in map(Path, paths):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


def remove_leftover_temporaries(*targets: str | os.PathLike[str]) -> list[Path]:
    """Delete what a killed :func:`atomic_path` left behind for ``targets``; return it.

    That is its temporaries beside each target, and, inside a target that is a folder, those
    of the files written atomically into it. Nothing else is touched: only names of the
    form atomic_path makes, each for a target of that name in the same folder.
    """
    removed: list[Path] = []
    for target in map(Path, targets):
        removed += _remove_leftovers_in(target.parent, only_for=target.name)
        if target.is_dir() and not target.is_symlink():
            for folder, _, _ in os.walk(target):
                removed += _remove_leftovers_in(Path(folder))
    return removed


def _remove_leftovers_in(folder: Path, only_for: str | None = None) -> list[Path]:
    if not folder.is_dir():
        return []
    removed = []
    for entry in folder.iterdir():
        match = _LEFTOVER_NAME.fullmatch(entry.name)
        if match is None or (only_for is not None and match["target"] != only_for):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed
