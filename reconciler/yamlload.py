"""Safe YAML documents built from libyaml's event stream in one pass, every guard applied.

libyaml (PyYAML's ``CSafeLoader``) parses; this module builds the Python values from
its events itself, so each file is parsed once and nothing hostile is ever composed:
nesting depth is checked before libyaml's recursive composer could overflow the C
stack, an alias counts at its anchor's expanded size (an alias bomb is refused
without being expanded), and duplicate keys are refused. Scalars resolve and
construct exactly as PyYAML's ``SafeLoader`` does (YAML 1.1: its implicit resolvers
and its safe constructors), merge keys (``<<``) included; a tag on a mapping or a
sequence other than the standard ones is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError

LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml where built
_RESOLVER = yaml.resolver.Resolver()
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_PREFIX = "tag:yaml.org,2002:"
STR, MAP, SEQ, MERGE = (_PREFIX + name for name in ("str", "map", "seq", "merge"))
_SCALAR_TAGS = {_PREFIX + n for n in ("null", "bool", "int", "float", "binary", "timestamp")}
# Plain scalars whose first character no implicit resolver looks at are strings.
_RESOLVED_FIRST = frozenset(k for k in _RESOLVER.yaml_implicit_resolvers if k)
_NO_KEY: Any = object()
_MERGING: Any = object()


class Refused(Exception):
    """Input the reconciler will not read (a guard), located where known."""

    def __init__(self, message: str, line: int | None = None, path: str = "", document: int = 0) -> None:
        super().__init__(message)
        self.line = line
        self.path = path
        self.document = document


class _Open:
    """A collection being built: its value, anchor, size when opened, and for a mapping its keys."""

    __slots__ = ("anchor", "key", "keys", "merges", "start", "value")

    def __init__(self, value: Any, anchor: str | None, start: int, keys: dict[str, int] | None) -> None:
        self.value = value
        self.anchor = anchor
        self.start = start
        self.keys = keys  # a mapping's keys as written → the line of each
        self.key: Any = _NO_KEY
        self.merges: list[Any] | None = None  # what `<<` keys merge, once one is seen


def documents(
    text: str, *, max_depth: int, max_nodes: int, on_document: Callable[[], None]
) -> Iterator[tuple[int, Any]]:
    """``(document number, data)`` for each document of ``text``, as they are read."""
    builder = _Builder(max_depth, max_nodes)
    parser = LOADER(text)
    try:
        # get_event() directly, not yaml.parse's generator over check_event() and
        # get_event(): a third of the Python calls per event; both end with None.
        next_event = parser.get_event
        while (event := next_event()) is not None:  # type: ignore[no-untyped-call]
            kind = type(event)
            if kind is yaml.ScalarEvent:
                builder.scalar(event)
            elif kind is yaml.DocumentStartEvent:
                builder.start_document()
                on_document()
            elif kind is yaml.DocumentEndEvent:
                yield builder.document, builder.root
            elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                builder.close(event)
            elif kind is yaml.AliasEvent:
                builder.alias(event)
            elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                builder.open(event, kind is yaml.MappingStartEvent)
    finally:
        parser.dispose()


class _Builder:
    """The values of one stream's documents, built event by event."""

    def __init__(self, max_depth: int, max_nodes: int) -> None:
        self.max_depth = max_depth
        self.max_nodes = max_nodes
        self.document = 0
        self._reset()

    def start_document(self) -> None:
        self.document += 1
        self._reset()

    def _reset(self) -> None:
        self.expanded = 0
        self.anchors: dict[str, tuple[Any, int, str | None]] = {}  # value, expanded size, scalar text
        self.stack: list[_Open] = []
        self.root: Any = None

    def _line(self, event: Any) -> int | None:
        return event.start_mark.line + 1 if event.start_mark is not None else None

    def _count(self, event: Any, size: int) -> None:
        self.expanded += size
        if self.expanded > self.max_nodes:
            message = f"document expands through aliases to more values than the limit of {self.max_nodes}"
            raise Refused(message, line=self._line(event), document=self.document)

    def _put(self, value: Any, event: Any) -> None:
        if self.stack:
            _place(self.stack, value, event)
        else:
            self.root = value

    def scalar(self, event: Any) -> None:
        """Place one scalar (a value, or a mapping's key), counting it against the node and byte bounds."""
        # The hot path (most events are plain scalars), written out rather than in helpers.
        self.expanded += 1
        if self.expanded > self.max_nodes:
            self._count(event, 0)
        anchor = event.anchor
        if anchor is not None:
            self._check_new_anchor(event)
        text: str = event.value
        if event.tag is None and event.implicit[0] and text and text[0] not in _RESOLVED_FIRST:
            value: Any = text
        else:
            value = _scalar(event)
        if anchor is not None:
            self.anchors[anchor] = (value, 1, text)
        stack = self.stack
        if not stack:
            self.root = value
            return
        top = stack[-1]
        if top.keys is not None and top.key is _NO_KEY:
            _check_duplicate(top.keys, text, event.start_mark.line + 1, self.document)
            top.key = value
        elif top.keys is None:
            top.value.append(value)
        else:
            _place(stack, value, event)

    def alias(self, event: Any) -> None:
        """Place an anchored node again, counting its whole expanded size (no billion laughs)."""
        if event.anchor not in self.anchors:
            raise ComposerError(None, None, f"found undefined alias {event.anchor!r}", event.start_mark)
        value, size, text = self.anchors[event.anchor]
        self._count(event, size)
        top = self.stack[-1] if self.stack else None
        if text is not None and top is not None and top.keys is not None and top.key is _NO_KEY:
            # an alias used as a key is the same key as its anchor's text written out
            _check_duplicate(top.keys, text, event.start_mark.line + 1, self.document)
        self._put(value, event)

    def open(self, event: Any, mapping: bool) -> None:
        """Start a mapping or a sequence, within the depth bound."""
        self.expanded += 1
        if self.expanded > self.max_nodes:
            self._count(event, 0)
        self._check_new_anchor(event)
        stack = self.stack
        if len(stack) >= self.max_depth:
            message = f"document nests deeper than {self.max_depth} levels"
            raise Refused(message, line=self._line(event), document=self.document)
        if event.tag is not None:
            _check_collection_tag(event, MAP if mapping else SEQ)
        start = self.expanded - 1
        stack.append(_Open({}, event.anchor, start, {}) if mapping else _Open([], event.anchor, start, None))

    def close(self, event: Any) -> None:
        closed = self.stack.pop()
        value = _merged(closed.merges, closed.value) if closed.merges else closed.value
        if closed.anchor:
            self.anchors[closed.anchor] = (value, self.expanded - closed.start, None)
        self._put(value, event)

    def _check_new_anchor(self, event: Any) -> None:
        if event.anchor is not None and event.anchor in self.anchors:
            raise ComposerError(None, None, f"found duplicate anchor {event.anchor!r}", event.start_mark)


def _check_collection_tag(event: Any, standard: str) -> None:
    if event.tag not in (None, "!", standard):
        message = f"could not determine a constructor for the tag {event.tag!r}"
        raise ConstructorError(None, None, message, event.start_mark)


def _scalar(event: Any) -> Any:
    """A scalar's value, resolved and constructed as PyYAML's SafeLoader does."""
    value: str = event.value
    tag = event.tag
    if tag is None or tag == "!":
        if event.implicit[0] and value and value[0] not in _RESOLVED_FIRST:
            return value
        tag = _RESOLVER.resolve(yaml.ScalarNode, value, event.implicit)  # type: ignore[no-untyped-call]
    if tag == STR:
        return value
    if tag == MERGE:
        return _MERGING
    if tag not in _SCALAR_TAGS:
        raise ConstructorError(
            None, None, f"could not determine a constructor for the tag {tag!r}", event.start_mark
        )
    node = yaml.ScalarNode(tag, value, event.start_mark, event.end_mark, event.style)
    return _CONSTRUCTOR.yaml_constructors[tag](_CONSTRUCTOR, node)


def _place(stack: list[_Open], value: Any, event: Any) -> None:
    """Put ``value`` into the collection being built (as a key or a value of a mapping).

    A scalar key never comes here: ``_Builder.scalar`` places it after its duplicate check.
    """
    top = stack[-1]
    if top.keys is None:
        top.value.append(value)
    elif top.key is _NO_KEY:
        if isinstance(value, dict | list):
            raise ConstructorError(None, None, "found unhashable key", event.start_mark)
        top.key = value
    else:
        if top.key is _MERGING:
            top.merges = [*(top.merges or ()), _merge_source(value, event)]
        else:
            top.value[top.key] = value
        top.key = _NO_KEY


def _check_duplicate(keys: dict[str, int], text: str, line: int, document: int) -> None:
    first = keys.get(text)
    if first is not None:
        raise Refused(f"duplicate key {text!r} (first at line {first})", line=line, document=document)
    keys[text] = line


def _merge_source(value: Any, event: Any) -> list[dict[Any, Any]]:
    """What ``<<`` merges: a mapping, or a list of mappings (earlier ones win)."""
    sources = value if isinstance(value, list) else [value]
    if not all(isinstance(source, dict) for source in sources):
        message = "expected a mapping or list of mappings for merging"
        raise ConstructorError(None, None, message, event.start_mark)
    return sources


def _merged(merges: list[Any], explicit: dict[Any, Any]) -> dict[Any, Any]:
    """A mapping with its merge keys applied as PyYAML applies them: explicit keys win."""
    out: dict[Any, Any] = {}
    for sources in merges:
        for source in reversed(sources):
            out.update(source)
    out.update(explicit)
    return out
