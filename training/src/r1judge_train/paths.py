"""Paths as a checkpoint's provenance records them: relative, never the build machine's absolute layout.

A manifest is shipped and served (`GET /models`); an absolute path in it says where someone's home
directory is and means nothing on any other machine. Each record names what its paths are relative to
(docs/checkpoint-format.md)."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath, PureWindowsPath


def relative_path(path: Path, start: Path) -> str:
    """`path` relative to `start` in POSIX form ("hf", "../rl/final"), whatever either was given as."""
    return Path(os.path.relpath(path.resolve(), start.resolve())).as_posix()


def absolute_paths(value: object, where: str = "") -> list[tuple[str, str]]:
    """Every string in a JSON value that is an absolute path (POSIX or Windows), with its dotted field."""
    if isinstance(value, str):
        absolute = PurePosixPath(value).is_absolute() or PureWindowsPath(value).is_absolute()
        return [(where, value)] if absolute else []
    if isinstance(value, dict):
        return [hit for key, item in value.items() for hit in absolute_paths(item, f"{where}.{key}" if where else key)]
    if isinstance(value, list):
        return [hit for i, item in enumerate(value) for hit in absolute_paths(item, f"{where}[{i}]")]
    return []
