"""Objects checked against CustomResourceDefinitions the way an API server admits them.

For each object: the schema's defaults are filled in, the OpenAPI v3 schema of its
``apiVersion`` and ``kind`` is enforced with fields the schema does not declare refused
(kubectl's strict field validation), lists marked ``x-kubernetes-list-type: map`` or
``set`` must not repeat a key or an item (the API server's structural list validation),
metadata follows Kubernetes' name rules, and every CEL rule (``x-kubernetes-validations``)
on a value that is present is evaluated. Transition rules (those reading ``oldSelf``)
only apply to updates and are skipped. Across a whole output, one kind, namespace and
name is one object: a second would be refused (create) or replace the first (apply).
jsonschema and cel-python do the work; the CRDs are the Gateway API v1.6.1 standard
channel shipped in ``crds/`` (``BUNDLED``), or the user's own (another release, or
``kubectl get crd -o yaml``).
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import celpy
import jsonschema
import yaml
from celpy.adapter import json_to_cel
from celpy.evaluation import CELEvalError

from ..yamlload import LOADER
from . import names

BUNDLED = Path(__file__).parent / "crds"  # package data, see crds/README.md
MAX_CRD_BYTES = 8 * 1024 * 1024
_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
# apimachinery's IsQualifiedName: an optional DNS subdomain prefix and a name of 63 at most
_QUALIFIED = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
MAX_ANNOTATIONS_BYTES = 256 * 1024  # apimachinery's TotalAnnotationSizeLimitB
_METADATA = {
    "type": "object",
    "required": ["name", "namespace"],
    "properties": {
        "name": {"type": "string", "maxLength": 253, "pattern": _NAME},
        "namespace": {"type": "string", "maxLength": 63, "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
        "annotations": {
            "type": "object",
            "propertyNames": {"pattern": _QUALIFIED},
            "additionalProperties": {"type": "string"},
        },
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "additionalProperties": False,
}


class CrdError(Exception):
    """The CRD directory cannot be read or holds no usable definition."""


@dataclass(frozen=True)
class Violation:
    object: str  # Kind namespace/name
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.object}: {self.path or '(root)'}: {self.message}"


class Schemas:
    """The served versions of a directory of CRDs, by (apiVersion, kind)."""

    def __init__(self, schemas: dict[tuple[str, str], dict[str, Any]]) -> None:
        self._schemas = schemas
        self._validators = {key: jsonschema.Draft7Validator(_root(s)) for key, s in schemas.items()}
        self._env = celpy.Environment()
        self._programs: dict[str, Any] = {}
        self._verdicts: dict[tuple[str, str], bool] = {}

    @classmethod
    def load(cls, directory: Path) -> Schemas:
        """Every CRD in ``directory``, size-bounded, read with the YAML guards; ``CrdError`` names a file."""
        schemas = {}
        for path in sorted(directory.glob("*.y*ml")):
            if path.stat().st_size > MAX_CRD_BYTES:
                raise CrdError(f"{path} is over {MAX_CRD_BYTES} bytes")
            try:
                documents = list(yaml.load_all(path.read_text(encoding="utf-8"), Loader=LOADER))
            except (yaml.YAMLError, UnicodeDecodeError) as exc:
                raise CrdError(f"{path}: {exc}") from exc
            for crd in documents:
                schemas.update(_served(crd))
        if not schemas:
            raise CrdError(f"no CustomResourceDefinition in {directory}")
        return cls(schemas)

    @property
    def kinds(self) -> set[tuple[str, str]]:
        return set(self._schemas)

    def check_all(self, bodies: Iterable[dict[str, Any]]) -> list[Violation]:
        """Every way the API server would refuse the objects, one by one and together."""
        bodies = list(bodies)
        found = [v for body in bodies for v in self.check(body)]
        identities = Counter(_identity(body) for body in bodies)
        for identity, count in identities.items():
            if count > 1:
                kind, namespace, name = identity
                message = f"{count} objects have this kind, namespace and name: the API server keeps one"
                found.append(Violation(f"{kind} {namespace}/{name}", "metadata.name", message))
        return found

    def check(self, body: dict[str, Any]) -> list[Violation]:
        """Every way the API server would refuse to create ``body``."""
        key = (str(body.get("apiVersion")), str(body.get("kind")))
        metadata = body.get("metadata") or {}
        name = f"{key[1]} {metadata.get('namespace')}/{metadata.get('name')}"
        if key not in self._schemas:
            return [Violation(name, "", f"no CRD here serves {key[0]} {key[1]}")]
        schema = self._schemas[key]
        value = _defaulted(schema, copy.deepcopy(body))
        found = [
            Violation(name, _path(e.absolute_path), e.message)
            for e in self._validators[key].iter_errors(value)
        ]
        found += [
            Violation(name, "metadata" + _path(e.absolute_path), e.message)
            for e in jsonschema.Draft7Validator(_METADATA).iter_errors(metadata)
        ]
        found += [Violation(name, path, message) for path, message in _metadata_size(metadata)]
        found += [Violation(name, path, message) for path, message in _lists(schema, value, "")]
        found += [Violation(name, path, message) for path, message in _services(value)]
        if not found:  # CEL rules assume the schema holds
            found = [Violation(name, path, message) for path, message in self._rules(schema, value, "")]
        return found

    def _rules(self, schema: dict[str, Any], value: Any, path: str) -> Iterator[tuple[str, str]]:
        for rule in schema.get("x-kubernetes-validations", ()):
            if "oldSelf" not in rule["rule"] and not self._holds(rule["rule"], value):
                yield path, str(rule.get("message") or f"failed rule: {rule['rule']}")
        if isinstance(value, dict):
            for member, sub in (schema.get("properties") or {}).items():
                if member in value:
                    yield from self._rules(sub, value[member], f"{path}.{member}")
            extra = schema.get("additionalProperties")
            if isinstance(extra, dict):
                for member, item in value.items():
                    yield from self._rules(extra, item, f"{path}.{member}")
        elif isinstance(value, list) and "items" in schema:
            for i, item in enumerate(value):
                yield from self._rules(schema["items"], item, f"{path}[{i}]")

    def _holds(self, rule: str, value: Any) -> bool:
        """The rule's verdict on ``value``; a CEL rule is a pure function, so each pair is
        evaluated once (cel-python interprets a tree: routes repeat their listeners' and
        backends' shapes)."""
        key = (rule, json.dumps(value, sort_keys=True))
        verdict = self._verdicts.get(key)
        if verdict is None:
            program = self._programs.get(rule)
            if program is None:
                program = self._programs[rule] = self._env.program(self._env.compile(rule))
            result = program.evaluate({"self": json_to_cel(value)})
            verdict = self._verdicts[key] = not isinstance(result, CELEvalError) and bool(result)
        return verdict


def _identity(body: dict[str, Any]) -> tuple[str, str, str]:
    metadata = body.get("metadata") or {}
    group = str(body.get("apiVersion", "")).rpartition("/")[0]
    return f"{body.get('kind')}.{group}", str(metadata.get("namespace")), str(metadata.get("name"))


def _metadata_size(metadata: dict[str, Any]) -> Iterator[tuple[str, str]]:
    annotations = metadata.get("annotations") or {}
    size = sum(len(str(k)) + len(str(v)) for k, v in annotations.items())
    if size > MAX_ANNOTATIONS_BYTES:
        yield "metadata.annotations", f"may not be more than {MAX_ANNOTATIONS_BYTES} bytes (is {size})"


def _lists(schema: dict[str, Any], value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Repeated keys of ``map`` lists and repeated items of ``set`` lists, as the API server finds them."""
    if isinstance(value, dict):
        for member, sub in (schema.get("properties") or {}).items():
            if member in value:
                yield from _lists(sub, value[member], f"{path}.{member}")
        return
    if not isinstance(value, list) or "items" not in schema:
        return
    list_type = schema.get("x-kubernetes-list-type")
    if list_type == "map":
        keys = schema.get("x-kubernetes-list-map-keys") or []
        entries = [json.dumps({k: item.get(k) for k in keys}, sort_keys=True) for item in value]
    elif list_type == "set":
        entries = [json.dumps(item, sort_keys=True) for item in value]
    else:
        entries = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        if entry in seen:
            yield f"{path}[{i}]", f"Duplicate value: {entry}"
        seen.add(entry)
    for i, item in enumerate(value):
        yield from _lists(schema["items"], item, f"{path}[{i}]")


def _services(body: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """backendRefs to Services whose names no Service can have (DNS-1035 labels only)."""
    for i, rule in enumerate((body.get("spec") or {}).get("rules") or []):
        for j, ref in enumerate(rule.get("backendRefs") or []):
            is_service = ref.get("group", "") == "" and ref.get("kind", "Service") == "Service"
            if is_service and not names.valid(str(ref.get("name")), names.Rule.SERVICE):
                yield (
                    f".spec.rules[{i}].backendRefs[{j}].name",
                    "no Service can have this name: a Service's name is a DNS-1035 label",
                )


def _served(crd: Any) -> dict[tuple[str, str], dict[str, Any]]:
    if not isinstance(crd, dict) or crd.get("kind") != "CustomResourceDefinition":
        return {}
    spec = crd["spec"]
    return {
        (f"{spec['group']}/{version['name']}", spec["names"]["kind"]): version["schema"]["openAPIV3Schema"]
        for version in spec["versions"]
        if version.get("served")
    }


def _strict(schema: Any) -> Any:
    """The schema with undeclared members refused wherever it declares its members."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: (v if k in ("enum", "default", "example") else _strict(v)) for k, v in schema.items()}
    declared = "properties" in schema and "additionalProperties" not in schema
    if declared and not schema.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out


def _root(schema: dict[str, Any]) -> Any:
    strict = _strict(schema)
    strict["properties"]["metadata"] = {
        "type": "object"
    }  # checked on its own (_METADATA), like the API server
    return strict


def _defaulted(schema: dict[str, Any], value: Any) -> Any:
    """``value`` with the schema's defaults filled in, as structural defaulting does."""
    if isinstance(value, dict):
        for member, sub in (schema.get("properties") or {}).items():
            if member not in value and "default" in sub:
                value[member] = copy.deepcopy(sub["default"])
            if member in value:
                value[member] = _defaulted(sub, value[member])
    elif isinstance(value, list) and "items" in schema:
        return [_defaulted(schema["items"], item) for item in value]
    return value


def _path(parts: Any) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)
