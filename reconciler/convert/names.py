"""Kubernetes names for App Mesh names: one scheme, always valid, never one name for two inputs.

Kubernetes' rules ("Object Names and IDs" in its documentation; apimachinery's
``IsDNS1123Subdomain``, ``IsDNS1123Label``, ``IsDNS1035Label``): most objects, custom
resources included, are named by a DNS-1123 subdomain (lowercase letters, digits, ``-`` and
``.``, each dot-separated label starting and ending with a letter or digit, 253 at most);
a namespace by a DNS-1123 label (no dot, 63 at most); a Service by a DNS-1035 label (a label
that starts with a letter). Labels are kept to 63 characters here in subdomains too, so a
name is also a valid DNS name.

A text that is already a valid name (ignoring case) keeps it; any other, and every text of
a group whose names would collide, gets a hash of the original text.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable, Iterable
from enum import StrEnum


class Rule(StrEnum):
    SUBDOMAIN = "subdomain"  # object names
    LABEL = "label"  # namespaces
    SERVICE = "service"  # Service names (DNS-1035)


LABEL_MAX = 63
HASH_LENGTH = 10
_MAX = {Rule.SUBDOMAIN: 253, Rule.LABEL: LABEL_MAX, Rule.SERVICE: LABEL_MAX}
_NOT_ALLOWED = re.compile(r"[^a-z0-9.-]+")
LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"  # a DNS-1123 label, as a regular expression
PATTERNS = {
    Rule.SUBDOMAIN: re.compile(rf"{LABEL}(\.{LABEL})*"),
    Rule.LABEL: re.compile(LABEL),
    Rule.SERVICE: re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?"),
}


def valid(name: str, rule: Rule) -> bool:
    """Whether ``name`` is a name of this kind (every label at most 63 characters)."""
    return (
        len(name) <= _MAX[rule]
        and PATTERNS[rule].fullmatch(name) is not None
        and all(len(label) <= LABEL_MAX for label in name.split("."))
    )


def unique(texts: Iterable[str], rule: Rule, stem: Callable[[str], str] = str) -> dict[str, str]:
    """Each text → a valid name, no two alike; ``stem`` picks the part of a text to name it by."""
    first = {text: _candidate(stem(text), rule) for text in sorted(set(texts))}
    count = Counter(first.values())
    names = {
        text: name if name == stem(text).lower() and count[name] == 1 else _hashed(name, text, rule)
        for text, name in first.items()
    }
    salt = 0
    while len(set(names.values())) < len(names):  # a kept name equal to a hashed one: hash both again
        salt += 1
        seen = Counter(names.values())
        names = {
            text: name if seen[name] == 1 else _hashed(first[text], f"{salt}:{text}", rule)
            for text, name in names.items()
        }
    return names


def name(text: str, rule: Rule) -> str:
    """One text's name (derived names: a grant's, a Secret's), hashed unless already valid."""
    return unique([text], rule)[text]


def _candidate(text: str, rule: Rule) -> str:
    """``text`` made valid by replacing and trimming only: may still collide with another's."""
    lowered = _NOT_ALLOWED.sub("-", text.lower())
    if rule is not Rule.SUBDOMAIN:
        lowered = lowered.replace(".", "-")
    labels = (part.strip("-")[:LABEL_MAX].rstrip("-") for part in lowered.split("."))
    candidate = ".".join(label for label in labels if label)[: _MAX[rule]].rstrip("-.")
    if rule is Rule.SERVICE and not candidate[:1].isalpha():
        candidate = f"svc-{candidate}"[:LABEL_MAX].rstrip("-")
    return candidate


def _hashed(candidate: str, text: str, rule: Rule) -> str:
    """``candidate`` cut to leave room for ``-<hash of text>`` in the name and in its last label."""
    digest = hashlib.sha256(text.encode()).hexdigest()[:HASH_LENGTH]
    head, dot, last = candidate[: _MAX[rule] - HASH_LENGTH - 1].rpartition(".")
    stem = (head + dot + last[: LABEL_MAX - HASH_LENGTH - 1]).rstrip("-.")
    if rule is Rule.SERVICE and not stem:
        stem = "svc"
    return f"{stem}-{digest}" if stem else digest
