"""Files the tool writes (``export``, ``convert``): safe names, YAML any reader agrees on, confined writes.

Names come from App Mesh and are not trusted: file and directory names are made from
them by one mapping (no separators, no ``..``, no leading dot, no control characters,
bounded length with a stable hash suffix, no names that differ only in case), every
target must lie under the output directory, nothing is written through a symlink, and
an existing file is replaced only when asked to (``force``).

The YAML reads the same to YAML 1.1 readers (PyYAML) and YAML 1.2 readers (ruamel,
yq, editors): every string a 1.2 core-schema reader would take for a number, a
boolean or null is quoted.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import defaultdict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

MAX_NAME = 100  # characters of a name kept in a file name, before the hash suffix

# YAML 1.2 core schema (spec 10.3.2): the plain scalars that do not resolve to a string.
_CORE_SCHEMA_NON_STRING = re.compile(
    r"""null|Null|NULL|~
    |true|True|TRUE|false|False|FALSE
    |[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+
    |[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
    |[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)""",
    re.VERBOSE,
)
_UNSAFE_IN_NAMES = re.compile(r"[^A-Za-z0-9_.@-]")


class WriteRefused(Exception):
    """A write would write outside its directory, through a link, or over a file."""


class _Dumper(yaml.SafeDumper):
    """PyYAML's safe dumper, quoting what YAML 1.1 *or* 1.2 would not read as a string."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "'" if _CORE_SCHEMA_NON_STRING.fullmatch(value) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def dump(documents: list[dict[str, Any]]) -> str:
    """Documents as YAML that YAML 1.1 and 1.2 readers load to the same data."""
    return yaml.dump_all(documents, Dumper=_Dumper, sort_keys=False, default_flow_style=False)


def safe_names(names: list[str], trim: Callable[[str], str] | None = None) -> dict[str, str]:
    """Each name → a file-system name that is safe on any platform and unique ignoring case.

    A name that is already safe is kept as it is; any other gets a stable hash suffix,
    as do all names of a group that would collide on a case-insensitive file system.
    ``trim`` makes a name safe for another namespace (Kubernetes object names).
    """
    first = {name: (trim or _trimmed)(name) for name in names}
    groups: dict[str, list[str]] = defaultdict(list)
    for name, candidate in first.items():
        groups[candidate.lower()].append(name)
    out = {}
    for name, candidate in first.items():
        collides = len(groups[candidate.lower()]) > 1
        kept = candidate.lower() == name.lower() and not collides  # a case change alone is safe
        out[name] = candidate if kept else _suffixed(candidate, name)
    return out


def _trimmed(name: str) -> str:
    safe = _UNSAFE_IN_NAMES.sub("_", name).lstrip(".")
    return safe[:MAX_NAME] or "_"


def _suffixed(candidate: str, name: str) -> str:
    return f"{candidate}-{hashlib.sha256(name.encode()).hexdigest()[:10]}"


def write_files(
    files: Mapping[Path, list[dict[str, Any]]], directory: Path, header: str, *, force: bool = False
) -> list[Path]:
    """Write every file, or nothing when one would leave ``directory``, follow a link or overwrite."""
    base = Path(os.path.realpath(directory))
    for path in files:
        _check_target(path, base, force)
    written = []
    for path, docs in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        _check_target(path, base, force)  # again: nothing may have been swapped in meanwhile
        flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | (os.O_TRUNC if force else os.O_EXCL)
        descriptor = os.open(path, flags, 0o644)
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            stream.write(header + dump(docs))
        written.append(path)
    return written


def _check_target(path: Path, base: Path, force: bool) -> None:
    for part in (path.parent, path):
        if part.is_symlink():
            raise WriteRefused(f"{part} is a symbolic link; nothing is written through one")
    parent = Path(os.path.realpath(path.parent))  # a missing one too: ``..`` must not climb out
    if not parent.is_relative_to(base):
        raise WriteRefused(f"{path} would be written outside {base}")
    if path.exists() and not force:
        raise WriteRefused(f"{path} exists; pass --force to replace it")
