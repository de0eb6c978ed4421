"""Manifests → desired state: find files, parse them safely, validate every document.

All problems in the tree are collected in one pass so a user fixes them in one
round. Hostile input is bounded before it can cost memory or crash the parser: a
size cap per file, then one pass over the event stream, before anything is composed,
checks nesting depth (libyaml's composer recurses in C and would overflow the
stack), the size of a document once aliases are expanded (without expanding them)
and duplicate keys. Node trees, for line numbers, are composed only for documents
that have an error.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import os
import re
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NoReturn

import yaml
from pydantic import BaseModel, ValidationError

from . import mistakes, model
from . import settings as settings_
from .gcpause import paused_gc
from .problems import Capped, Problem, Severity, errors
from .resources import GATEWAY, ROUTE, Desired, DesiredState, Group, Key, Scope, Source
from .shutdown import Shutdown
from .yamlload import LOADER, Refused, documents

SUFFIXES = (".yaml", ".yml", ".json")
MAX_FILE_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 100_000
# Bounds for the whole tree, so that no set of files costs more than the pod has
# (bench: "hostile tree" measures the peak of a tree at these limits). The daemon holds
# about 8.6 KB per resource at its peak (bench scenario 13: 242 MB at 20k routes, 112 MB
# at 5k), so 40,000 documents keep it near 400 MB, under the pod's 512Mi with room to
# spare; 16 MiB of the densest routes would be some 77,000 and about 700 MB.
MAX_FILES = 5_000
MAX_TREE_BYTES = 16 * 1024 * 1024
MAX_DOCUMENTS = 40_000
# Problems shown per run; the rest are counted, not built (a hostile tree can hold a
# problem every few bytes: 16 MiB of them would take a gigabyte and a 200 MB log line).
MAX_PROBLEMS = 1_000


@dataclass
class LoadResult:
    state: DesiredState
    problems: list[Problem] = field(default_factory=list)
    digest: str = ""
    settings: settings_.Declared | None = None  # the tree's kind: Settings document
    files: list[_FileResult] = field(default_factory=list)

    def changed_keys(self, before: LoadResult) -> set[Key]:
        """Identities in files that differ from ``before``'s: only these can have changed.

        A file read from the cache at the same path is the same object in both loads.
        """
        kept = {id(done) for done in before.files}
        now = {id(done) for done in self.files}
        changed = [done for done in self.files if id(done) not in kept]
        changed += [done for done in before.files if id(done) not in now]
        return {found.key for done in changed for found in done.found if isinstance(found, Desired)}

    @property
    def ok(self) -> bool:
        return not errors(self.problems)


@dataclass(frozen=True)
class _Document:
    source: Source
    data: Any
    node: Callable[[], yaml.Node | None]


class SnapshotChanged(Exception):
    """A file vanished while the tree was read: it is being replaced; read it again."""


@dataclass
class _FileResult:
    """What one file's bytes validated to, as read at ``file``: reusable for identical bytes.

    The indexes are built once per file, so that a tree of files already seen is merged
    a file at a time (set and dict operations in C) rather than a resource at a time.
    """

    file: str
    found: list[Desired | settings_.Declared]
    problems: Capped
    documents: int
    index: dict[Key, Desired] = field(init=False)  # its resources, when no identity repeats in it
    scopes: set[Scope] = field(init=False)  # the meshes its resources name
    gateways: set[Key] = field(init=False)
    parents: set[Key] = field(init=False)  # the gateways its routes belong to
    sections: dict[Group, list[Key]] = field(init=False)  # its identities by gateway

    def __post_init__(self) -> None:
        resources = [f for f in self.found if isinstance(f, Desired)]
        self.index = {d.key: d for d in resources}
        if len(self.index) < len(resources):
            self.index = {}  # a repeated identity: merged one by one, to report it
        self.scopes = {d.key.scope for d in resources}
        self.gateways = {d.key for d in resources if d.key.kind == GATEWAY}
        self.parents = {Key.gateway_key(d.key.scope, d.key.gateway) for d in resources if d.key.kind == ROUTE}
        self.sections = {}
        for d in resources:
            self.sections.setdefault(d.key.group, []).append(d.key)

    def at(self, file: str) -> _FileResult:
        """The same results, located at another path holding the same bytes.

        Built directly rather than with ``dataclasses.replace``: a git-sync swap relocates
        every file of the tree, and this is the whole cost of an unchanged one.
        """
        if file == self.file:
            return self
        found = [_located(f, file) for f in self.found]
        problems = Capped(
            MAX_PROBLEMS, (replace(p, file=file) if p.file == self.file else p for p in self.problems)
        )
        problems.omitted.update(self.problems.omitted)
        return _FileResult(file, found, problems, self.documents)


def _located(found: Desired | settings_.Declared, file: str) -> Desired | settings_.Declared:
    source = Source(file, found.source.document)
    if isinstance(found, Desired):
        return Desired(found.key, found.spec, found.tags, source, found.annotations)
    return settings_.Declared(found.spec, source)


class Cache:
    """Files already parsed and validated, keyed by their bytes: an edit costs what it changed.

    The daemon keeps one across snapshots, so each snapshot still reads every file (the
    content decides, never a timestamp) but parses and validates only files whose bytes
    are new; a git-sync swap, which publishes the same files under a new root, only
    relocates their results. Each load keeps just the entries it used, so the cache
    holds no more than the last tree (``diff`` passes one tree's cache to the other).
    """

    def __init__(self) -> None:
        self._files: dict[bytes, _FileResult] = {}
        self._previous: dict[bytes, _FileResult] = {}
        self._bytes: dict[str, tuple[bytes, bytes]] = {}  # path → its bytes and their hash, last load
        self._bytes_before: dict[str, tuple[bytes, bytes]] = {}
        self.parsed = 0  # files parsed by the last load; the rest came from the cache

    def begin(self) -> None:
        """A new load: what the last one used is what this one may reuse."""
        self.parsed = 0
        self._previous, self._files = self._files, {}
        self._bytes_before, self._bytes = self._bytes, {}

    def content(self, path: Path, raw: bytes) -> bytes:
        """The hash naming these bytes: computed only when the path held other bytes last time.

        Comparing the bytes is exact and a tenth of the cost of hashing them again (the
        tree's bytes are bounded, 16 MiB); a new path (a git-sync swap) is hashed.
        """
        seen = self._bytes_before.get(str(path))
        if seen is not None and seen[0] == raw:
            content = seen[1]
        else:
            content = hashlib.sha256(path.suffix.encode() + b"\0" + raw).digest()
        self._bytes[str(path)] = (raw, content)
        return content

    def get(self, content: bytes) -> _FileResult | None:
        return self._files.get(content) or self._previous.get(content)

    def keep(self, content: bytes, done: _FileResult) -> None:
        self._files[content] = done


def load(
    root: Path,
    *,
    max_file_bytes: int = MAX_FILE_BYTES,
    cache: Cache | None = None,
    shutdown: Shutdown | None = None,
) -> LoadResult:
    """Read and validate every manifest under ``root``.

    ``digest`` hashes the content with paths relative to ``root``, so the same content
    published in a new git-sync worktree has the same digest. A shutdown ends a long load
    between two files or documents, with ``Stopped``.
    """
    with paused_gc():
        return _load(root, max_file_bytes, Cache() if cache is None else cache, _Budget(shutdown=shutdown))


def _load(root: Path, max_file_bytes: int, cache: Cache, budget: _Budget) -> LoadResult:
    problems = Capped(MAX_PROBLEMS)
    result = LoadResult(DesiredState(), problems)
    digest = hashlib.sha256()
    cache.begin()
    merged: list[_FileResult] = []
    try:
        files = discover(root, result.problems)
        for path in files:
            try:
                raw = _read(path, max_file_bytes)
                budget.spend(len(raw))
            except Refused as exc:
                result.problems.append(Problem(str(exc), file=str(path)))
                continue
            except _OverBudget:
                break
            content = cache.content(path, raw)
            digest.update(os.path.relpath(path, root).encode() + b"\0" + content)
            merged.append(_file_result(path, raw, content, cache, budget))
    except FileNotFoundError as exc:
        raise SnapshotChanged(f"{exc.filename} vanished while the manifests were read") from None
    result.digest = digest.hexdigest()
    _merge(result, merged)
    result.files = merged
    if not files and not errors(result.problems):
        # Not an error: an empty tree is valid input, and the plan's prune guard keeps it safe.
        message = "no manifests found (*.yaml, *.yml, *.json)"
        result.problems.append(Problem(message, file=str(root), severity=Severity.WARNING))
    _warn_orphan_routes(result, merged)
    if budget.exceeded:  # the one problem that explains the rest: once, at the root, never lost to the cap
        problems[:] = [p for p in problems if p.message != budget.exceeded]
        problems.always(Problem(budget.exceeded, file=str(root)))
    result.problems = _shown(problems, root)
    return result


def _shown(problems: Capped, root: Path) -> list[Problem]:
    """The problems kept, in file order, then how many more there were."""
    shown = sorted(problems, key=lambda p: (p.file, p.document or 0, p.line or 0))
    summary = problems.summary(str(root))
    return [*shown, summary] if summary else shown


def _file_result(path: Path, raw: bytes, content: bytes, cache: Cache, budget: _Budget) -> _FileResult:
    """The file's results: from the cache when these bytes were seen, else parsed and validated."""
    done = cache.get(content)
    if done is not None:
        done = done.at(str(path))
        try:
            budget.reuse(done.documents)
        except Refused as exc:  # identical bytes count as often as they are found
            return _FileResult(str(path), [], Capped(MAX_PROBLEMS, [Problem(str(exc), file=str(path))]), 0)
    else:
        cache.parsed += 1
        done = _read_file(raw, path, budget)
        if budget.documents > MAX_DOCUMENTS:
            return done  # cut short by the tree's limit: what it holds depends on the other files
    cache.keep(content, done)
    return done


def _read_file(raw: bytes, path: Path, budget: _Budget) -> _FileResult:
    """Parse and validate one file, one document at a time (each dropped once validated)."""
    problems = Capped(MAX_PROBLEMS)
    found: list[Desired | settings_.Declared] = []
    before = budget.documents
    for document in _parse(raw, str(path), path.suffix == ".json", problems, budget):
        validated = _validate(document, problems)
        if validated is not None:
            found.append(validated)
    return _FileResult(str(path), found, problems, budget.documents - before)


# --- finding files -----------------------------------------------------------


class _OverBudget(Exception):
    """The tree is larger than the reconciler reads."""


@dataclass
class _Budget:
    """What the whole tree may cost: files, bytes and documents; and when to stop early."""

    files: int = 0
    bytes: int = 0
    documents: int = 0
    shutdown: Shutdown | None = None
    exceeded: str = ""  # the tree's limit that was passed, if one was

    def spend(self, size: int) -> None:
        self._check()
        self.files += 1
        self.bytes += size
        if self.files > MAX_FILES:
            self._exceed(f"the tree holds more than {MAX_FILES} manifest files, the limit", _OverBudget)
        if self.bytes > MAX_TREE_BYTES:
            self._exceed(f"the tree's manifests exceed {MAX_TREE_BYTES} bytes in all, the limit", _OverBudget)

    def document(self) -> None:
        self._check()
        self.reuse(1)

    def reuse(self, documents: int) -> None:
        self.documents += documents
        if self.documents > MAX_DOCUMENTS:
            self._exceed(f"the tree holds more than {MAX_DOCUMENTS} documents, the limit", Refused)

    def _exceed(self, message: str, error: type[Exception]) -> NoReturn:
        self.exceeded = message
        raise error(message)

    def _check(self) -> None:
        if self.shutdown is not None:
            self.shutdown.check()


def discover(root: Path, problems: list[Problem]) -> list[Path]:
    """Manifest files under ``root``, symlinks followed, each real file and directory once, sorted.

    Each real directory is walked once however many links lead to it, so a maze of
    links costs no more than the directories it holds. A link that leads out of
    ``root`` is refused: what is applied is what the repository holds under ``root``
    (the preview's path filter), never a file elsewhere on the host.
    """
    if not root.exists():
        problems.append(Problem("manifest directory does not exist", file=str(root)))
        return []
    if root.is_file():
        return [root]
    walk = _Walk(os.path.realpath(root), problems)
    _walk(root, (), walk)
    return sorted(walk.found.values())


@dataclass
class _Walk:
    """One walk of the tree: where it must stay, what it reports, what it has seen and found."""

    boundary: str  # the root's real path
    problems: list[Problem]
    visited: set[tuple[int, int]] = field(default_factory=set)
    found: dict[str, Path] = field(default_factory=dict)  # real path -> the path it was found at


def _walk(directory: Path, ancestors: tuple[tuple[int, int], ...], walk: _Walk) -> None:
    problems, visited = walk.problems, walk.visited
    try:
        stat = directory.stat()
        here = (stat.st_dev, stat.st_ino)
        if here in ancestors:
            message = "symlink loop: this directory leads back to one of its parents"
            problems.append(Problem(message, file=str(directory)))
            return
        if here in visited:
            return  # reached again through another link: its files are already found
        visited.add(here)
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except FileNotFoundError:
        raise
    except OSError as exc:
        problems.append(Problem(f"cannot read directory: {exc.strerror or exc}", file=str(directory)))
        return
    real = os.path.realpath(directory)  # once: a plain file's real path is its directory's and its name
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = Path(entry.path)
        if entry.is_symlink() and not _inside(os.path.realpath(path), walk.boundary):
            problems.append(Problem("symlink leads outside the manifest directory; not read", file=str(path)))
            continue
        try:
            is_dir = entry.is_dir(follow_symlinks=True)
            is_file = entry.is_file(follow_symlinks=True)
        except OSError as exc:
            problems.append(Problem(f"cannot read: {exc.strerror}", file=str(path)))
            continue
        if is_dir:
            _walk(path, (*ancestors, here), walk)
        elif is_file and path.suffix in SUFFIXES:
            target = os.path.realpath(path) if entry.is_symlink() else os.path.join(real, entry.name)
            walk.found.setdefault(target, path)
        elif entry.is_symlink() and not path.exists():
            problems.append(Problem("broken symlink: its target does not exist", file=str(path)))


def _inside(real: str, boundary: str) -> bool:
    return real == boundary or real.startswith(boundary.rstrip(os.sep) + os.sep)


def _read(path: Path, max_bytes: int) -> bytes:
    """The file's bytes, read no further than the limit (it may grow while read)."""
    try:
        with path.open("rb") as stream:
            raw = stream.read(max_bytes + 1)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise Refused(f"cannot read: {exc.strerror or exc}") from None
    if len(raw) > max_bytes:
        raise Refused(f"file is over the {max_bytes}-byte limit per manifest file")
    return raw


def read_single(path: Path) -> Any:
    """A one-document YAML or JSON side file (not a manifest), under the manifests' guards.

    Raises ``Refused`` (with the line where known) for anything the loader would refuse.
    """
    text = _decode(_read(path, MAX_FILE_BYTES))
    try:
        found = [
            data for _, data in documents(text, max_depth=MAX_DEPTH, max_nodes=MAX_NODES, on_document=_no_op)
        ]
    except yaml.MarkedYAMLError as exc:
        raise Refused(
            f"invalid YAML: {exc.problem or exc.context}", line=_mark_line(exc.problem_mark)
        ) from None
    except (yaml.YAMLError, ValueError, OverflowError) as exc:
        raise Refused(f"cannot be read: {exc}") from None
    if len(found) > 1:
        raise Refused(f"holds {len(found)} documents; expected one")
    return found[0] if found else None


def _no_op() -> None:
    """A document budget that never runs out (one file, its own limits)."""


# --- parsing -------------------------------------------------------------------


def _parse(
    raw: bytes, file: str, is_json: bool, problems: list[Problem], budget: _Budget
) -> Iterator[_Document]:
    index = 0
    try:
        text = _decode(raw)
        if is_json:
            index = 1
            budget.document()
            yield _Document(Source(file, 1), _json(text), lambda: None)
            return
        nodes = _lazy_nodes(text)
        for index, data in documents(
            text, max_depth=MAX_DEPTH, max_nodes=MAX_NODES, on_document=budget.document
        ):
            yield _Document(Source(file, index), data, functools.partial(nodes, index - 1))
    except Refused as exc:
        document = exc.document or index or None
        problems.append(Problem(str(exc), file=file, document=document, line=exc.line, path=exc.path))
    except yaml.MarkedYAMLError as exc:
        line = _mark_line(exc.problem_mark)
        message = f"invalid YAML: {exc.problem or exc.context}"
        if "maximum nesting depth" in str(exc.problem):
            # libyaml >= 0.2.6 scans ahead and stops at its own depth limit before the guard sees an event.
            message = f"document nests deeper than {MAX_DEPTH} levels"
        problems.append(Problem(message, file=file, document=index + 1, line=line))
    except yaml.YAMLError as exc:
        problems.append(Problem(f"invalid YAML: {exc}", file=file, document=index + 1))
    except (ValueError, OverflowError) as exc:  # e.g. an integer of more digits than Python converts
        reason = str(exc).split(";")[0]
        problems.append(Problem(f"a value cannot be read: {reason}", file=file, document=index + 1))


def _lazy_nodes(text: str) -> Callable[[int], yaml.Node | None]:
    """The documents' node trees, composed only if an error needs a line number.

    Composed one document at a time and no further than asked: a syntax error in a
    later document (reported where the reader meets it) must not break locating the
    problems of an earlier one.
    """
    composed: list[yaml.Node] = []
    stream: list[Iterator[yaml.Node]] = []

    def nth(index: int) -> yaml.Node | None:
        if not stream:
            stream.append(yaml.compose_all(text, Loader=LOADER))
        try:
            while len(composed) <= index:
                composed.append(next(stream[0]))
        except (StopIteration, yaml.YAMLError):
            return None
        return composed[index]

    return nth


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise Refused(f"not UTF-8: byte 0x{raw[exc.start]:02x} at offset {exc.start}", line=line) from None


def _json(text: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise Refused(f"invalid JSON: {exc.msg}", line=exc.lineno) from None
    except RecursionError:
        raise Refused(f"document nests deeper than {MAX_DEPTH} levels") from None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refused if a key repeats (as YAML's duplicate keys are)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise Refused(f"duplicate key {key!r}")
        out[key] = value
    return out


# --- validation ----------------------------------------------------------------


def _validate(document: _Document, problems: Capped) -> Desired | settings_.Declared | None:
    report = _Reporter(document, problems)
    data = document.data
    if data is None:
        return None  # an empty document, e.g. a trailing '---'
    if not isinstance(data, dict):
        report(f"a manifest must be a mapping, not {_type_name(data)}")
        return None
    api_version = data.get("apiVersion")
    if api_version != model.API_VERSION:
        message = "missing apiVersion" if api_version is None else f"unknown apiVersion {api_version!r}"
        report(message, "apiVersion", f"expected {model.API_VERSION}", ("apiVersion",))
        return None
    if data.get("kind") == settings_.KIND:
        declared = _checked(settings_.SettingsManifest, data, report)
        return None if declared is None else settings_.Declared(declared.spec, document.source)
    kind = model.KINDS.get(str(data.get("kind")))
    if kind is None:
        given = data.get("kind")
        message = "missing kind" if given is None else f"unknown kind {given!r}"
        report(message, "kind", f"expected one of: {', '.join([*model.KINDS, settings_.KIND])}", ("kind",))
        return None
    manifest = _checked(kind.manifest, data, report)
    if manifest is None:
        return None
    spec = model.dump_spec(manifest.spec)
    for finding in mistakes.spec_warnings(kind.name, spec):
        report(finding.message, finding.path, loc=finding.loc, severity=Severity.WARNING)
    meta = manifest.metadata
    scope = Scope(meta.mesh, meta.meshOwner or "")
    if isinstance(meta, model.GatewayRouteMetadata):
        key = Key.route_key(scope, meta.virtualGateway, meta.name)
    else:
        key = Key.gateway_key(scope, meta.name)
    return Desired(key, spec, dict(meta.tags or {}), document.source, dict(meta.annotations or {}))


M = typing.TypeVar("M", bound=BaseModel)


class _Reporter:
    """Reports one document's problems at their lines; past the cap, only counts them."""

    def __init__(self, document: _Document, problems: Capped) -> None:
        self.source = document.source
        self.problems = problems
        self.locate = _Locator(document.node)

    def __call__(
        self,
        message: str,
        path: str = "",
        hint: str = "",
        loc: tuple[Any, ...] = (),
        severity: Severity = Severity.ERROR,
    ) -> None:
        if self.problems.full:
            self.problems.skip(severity)
            return
        source = self.source
        line = self.locate.line(loc)
        problem = Problem(message, source.file, source.document, line, path, hint, severity)
        self.problems.append(problem)


def _checked(shape: type[M], data: Any, report: _Reporter) -> M | None:
    """``data`` as ``shape``, or None with every problem reported at its field."""
    try:
        return shape.model_validate(data)
    except ValidationError as exc:
        found = exc.errors(include_url=False)
        for done, error in enumerate(found):
            if report.problems.full:  # not worth explaining or locating: counted
                report.problems.skip(Severity.ERROR, len(found) - done)
                break
            loc = tuple(error["loc"])
            message, hint = _explain(error, shape)
            report(message, model.dotted(loc), hint, loc)
        return None


def _set_settings(result: LoadResult, declared: settings_.Declared) -> None:
    first = result.settings
    if first is not None:
        message = f"a second {settings_.KIND} document; the first is in {first.source}"
        result.problems.append(Problem.at(declared.source, message, "kind"))
        return
    result.settings = declared


def _merge(result: LoadResult, files: list[_FileResult]) -> None:
    """The files' results into the tree's, a file at a time (``dict.update`` reuses the hashes).

    Only if the count shows an identity defined twice, or a file holds the settings,
    are resources added one by one, so the first definition wins and both are named.
    """
    resources = result.state.resources
    result.state.sections = [done.sections for done in files]
    for done in files:
        result.problems += done.problems
        result.state.scopes |= done.scopes
    if all(len(done.index) == len(done.found) for done in files):
        for done in files:
            resources.update(done.index)
        if len(resources) == sum(len(done.index) for done in files):
            return
        resources.clear()
    for done in files:
        for found in done.found:
            if isinstance(found, Desired):
                _add(result, found)
            else:
                _set_settings(result, found)


def _add(result: LoadResult, desired: Desired) -> None:
    state = result.state
    first = state.resources.get(desired.key)
    if first is not None:
        message = f"{desired.key} is defined twice: here and in {first.source}"
        result.problems.append(Problem.at(desired.source, message, "metadata.name"))
        return
    state.resources[desired.key] = desired


def _warn_orphan_routes(result: LoadResult, files: list[_FileResult]) -> None:
    """Routes whose gateway no file defines: looked for only in files that name such a gateway."""
    gateways: set[Key] = set()
    for done in files:
        gateways |= done.gateways
    resources = result.state.resources
    for done in files:
        if done.parents <= gateways:
            continue
        for desired in done.found:
            if not isinstance(desired, Desired) or resources.get(desired.key) is not desired:
                continue
            key = desired.key
            if key.kind == ROUTE and Key.gateway_key(key.scope, key.gateway) not in gateways:
                message = f"virtual gateway {key.gateway!r} is not in the manifests; it must exist live"
                result.problems.append(
                    Problem.at(desired.source, message, "metadata.virtualGateway", Severity.WARNING)
                )


# --- error messages --------------------------------------------------------------


def _explain(error: Any, manifest: type[BaseModel]) -> tuple[str, str]:
    """A pydantic error as a sentence, and a hint for near misses."""
    kind = error["type"]
    loc = tuple(error["loc"])
    if kind == "extra_forbidden":
        field_name = str(loc[-1])
        return f"unknown field {field_name!r}", _suggest(field_name, _fields_at(manifest, loc[:-1]))
    if kind == "missing":
        return "missing required field", ""
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind.endswith("_type"):
        message += f" (got {_type_name(error['input'])})"
    return message, ""


def _suggest(name: str, choices: list[str]) -> str:
    camel = re.sub(r"[_-]([a-z])", lambda m: m.group(1).upper(), name)
    for choice in choices:
        if choice in (camel, name) or choice.lower() == name.lower():
            return f"did you mean {choice!r}?"
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    return f"expected one of: {', '.join(choices)}" if choices else ""


def _fields_at(manifest: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """API member names accepted at ``loc``, found by following the models' annotations."""
    current: type[BaseModel] | None = manifest
    for part in loc:
        if current is None:
            return []
        if isinstance(part, int):
            continue
        by_alias = {info.alias or name: info for name, info in current.model_fields.items()}
        info = by_alias.get(str(part))
        current = _model_in(info.annotation) if info else None
    if current is None:
        return []
    return [info.alias or name for name, info in current.model_fields.items()]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


class _Locator:
    """Lines of a document's fields, each mapping's keys indexed once.

    A search of a mapping's keys per problem would be quadratic: one mapping of
    49,000 unknown keys took a minute to report.
    """

    def __init__(self, root: Callable[[], yaml.Node | None]) -> None:
        self._root = root
        self._keys: dict[int, dict[Any, yaml.Node]] = {}

    def line(self, loc: tuple[Any, ...]) -> int | None:
        """Line of the deepest node on ``loc`` that exists in the document."""
        node = self._root()
        if node is None:
            return None
        for part in loc:
            child: yaml.Node | None = None
            if isinstance(node, yaml.MappingNode):
                child = self._children(node).get(part)
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                child = node.value[part]
            if child is None:
                break
            node = child
        return _mark_line(node.start_mark)

    def _children(self, node: yaml.MappingNode) -> dict[Any, yaml.Node]:
        children = self._keys.get(id(node))
        if children is None:
            children = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    children.setdefault(key.value, value)
            self._keys[id(node)] = children
        return children


def _mark_line(mark: Any) -> int | None:
    return mark.line + 1 if mark is not None else None


def _type_name(value: Any) -> str:
    return {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
    }.get(type(value), type(value).__name__)
