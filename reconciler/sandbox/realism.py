"""The realism layer: WSGI middleware in front of moto that answers as App Mesh does.

moto emulates App Mesh closely but not exactly. The realism layer is WSGI
middleware in front of moto that answers as the real service does where moto
does not (PRODUCT.md §5), and injects faults on demand:

* 404 ``NotFoundException`` and 409 ``ConflictException`` instead of moto's 400
  ``*NotFound`` / ``*AlreadyTaken``;
* ``clientToken``: the same token with the same body answers the first answer
  again; the same token with another body is 409;
* a virtual gateway that still has gateway routes cannot be deleted (409
  ``ResourceInUseException``); moto deletes it;
* ``TagResource`` replaces the value of a key it already holds and
  ``UntagResource`` removes keys (moto 5.2.5 appends a second value, and serves no
  ``UntagResource`` at all);
* an HTTP gateway route match with neither ``prefix`` nor ``path`` is stored with
  ``prefix: "/"``, as the real service answers;
* ``meshOwner`` and ``resourceOwner`` are the 12-digit account (moto answers the
  caller's access key id), and a request whose ``meshOwner`` is the account in use
  addresses that account's own mesh (moto refuses it);
* a fraction of 429s, of 503s and of lost answers (applied upstream, then 503),
  added latency, and a service-side write rate limit answering 429.

Needs the ``sandbox`` extra (moto[server]). Not imported by the engine.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import re
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..throttle import TokenBucket

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
Wsgi = Callable[[Environ, StartResponse], Iterable[bytes]]

_ROUTES = [
    ("PUT", r"/meshes/[^/]+/virtualGateways", "CreateVirtualGateway"),
    ("GET", r"/meshes/[^/]+/virtualGateways", "ListVirtualGateways"),
    ("PUT", r"/meshes/[^/]+/virtualGateways/[^/]+", "UpdateVirtualGateway"),
    ("GET", r"/meshes/[^/]+/virtualGateways/[^/]+", "DescribeVirtualGateway"),
    ("DELETE", r"/meshes/[^/]+/virtualGateways/[^/]+", "DeleteVirtualGateway"),
    ("PUT", r"/meshes/[^/]+/virtualGateway/[^/]+/gatewayRoutes", "CreateGatewayRoute"),
    ("GET", r"/meshes/[^/]+/virtualGateway/[^/]+/gatewayRoutes", "ListGatewayRoutes"),
    ("PUT", r"/meshes/[^/]+/virtualGateway/[^/]+/gatewayRoutes/[^/]+", "UpdateGatewayRoute"),
    ("GET", r"/meshes/[^/]+/virtualGateway/[^/]+/gatewayRoutes/[^/]+", "DescribeGatewayRoute"),
    ("DELETE", r"/meshes/[^/]+/virtualGateway/[^/]+/gatewayRoutes/[^/]+", "DeleteGatewayRoute"),
    ("PUT", r"/tag", "TagResource"),
    ("PUT", r"/untag", "UntagResource"),
    ("GET", r"/tags", "ListTagsForResource"),
    ("PUT", r"/meshes", "CreateMesh"),
    ("GET", r"/meshes", "ListMeshes"),
    ("GET", r"/meshes/[^/]+", "DescribeMesh"),
    ("DELETE", r"/meshes/[^/]+", "DeleteMesh"),
]
_OPERATIONS = [(m, re.compile(rf"^/v20190125{p}/?$"), op) for m, p, op in _ROUTES]
_REAL_CODES = {
    "MeshNotFound": (404, "NotFoundException"),
    "VirtualGatewayNotFound": (404, "NotFoundException"),
    "GatewayRouteNotFound": (404, "NotFoundException"),
    "ResourceNotFound": (404, "NotFoundException"),
    "VirtualGatewayNameAlreadyTaken": (409, "ConflictException"),
    "GatewayRouteNameAlreadyTaken": (409, "ConflictException"),
}
READ_PREFIXES = ("List", "Describe")
ACCOUNT = "123456789012"  # moto's default account: the account every sandbox caller is in
CONTROL = "/_sandbox/"


def operation_of(method: str, path: str) -> str:
    for want, pattern, operation in _OPERATIONS:
        if method == want and pattern.match(path):
            return operation
    return f"{method} {path}"


Fraction = Annotated[float, Field(ge=0, le=1)]


class Realism(BaseModel):
    """What the layer in front of moto does, with the bounds that keep the sandbox answering.

    All off: plain moto behind a counter. The constructor, ``POST /_sandbox/realism``
    and the benchmark all use this one model.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    real_errors: bool = False
    throttle: Fraction = 0.0
    unavailable: Fraction = 0.0
    lost: Fraction = 0.0
    latency: Annotated[float, Field(ge=0, le=60)] = 0.0
    write_rate: Annotated[float, Field(gt=0)] | None = None
    gateways_per_mesh: Annotated[int, Field(ge=0)] | None = None
    routes_per_gateway: Annotated[int, Field(ge=0)] | None = None
    seed: int | None = None

    @model_validator(mode="after")
    def _one_roll(self) -> Realism:
        """The three faults share one roll of the dice."""
        if self.throttle + self.unavailable + self.lost > 1:
            raise ValueError("throttle + unavailable + lost must not exceed 1")
        return self

    @classmethod
    def real(cls, **faults: Any) -> Realism:
        return cls.model_validate({"real_errors": True, **faults})

    def changed(self, change: Mapping[str, Any]) -> Realism:
        """This realism with ``change`` applied, validated as a whole (``ValueError`` when refused)."""
        return Realism.model_validate({**self.model_dump(), **change})


def _realism_change(current: Realism, body: bytes) -> Realism | str:
    """The realism a control request asks for, or the reason it is refused."""
    try:
        request = json.loads(body or b"{}")
        if not isinstance(request, dict):
            return "expected a JSON object of realism fields"
        return current.changed(request)
    except ValueError as exc:  # pydantic's ValidationError and JSON errors alike
        return str(exc).replace("\n", " ")


@dataclass
class Stats:
    """Every request the sandbox answered, by operation and status."""

    calls: Counter[tuple[str, int]] = field(default_factory=Counter)
    writes_at: list[float] = field(default_factory=list)  # wall-clock time of each write answered
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, operation: str, status: int) -> None:
        with self.lock:
            self.calls[(operation, status)] += 1
            if is_write(operation):
                self.writes_at.append(time.time())

    def operations(self) -> Counter[str]:
        with self.lock:
            out: Counter[str] = Counter()
            for (operation, _), n in self.calls.items():
                out[operation] += n
            return out

    def writes(self) -> int:
        return sum(n for op, n in self.operations().items() if is_write(op))

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()
            self.writes_at.clear()

    def as_json(self) -> dict[str, Any]:
        with self.lock:
            calls = [[op, status, n] for (op, status), n in sorted(self.calls.items())]
            return {"calls": calls, "writes_at": list(self.writes_at)}


def is_write(operation: str) -> bool:
    return not operation.startswith(READ_PREFIXES)


@dataclass
class _Answer:
    status: str
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def code(self) -> int:
        return int(self.status.split()[0])


def _json_answer(document: dict[str, Any]) -> _Answer:
    return _Answer("200 OK", [("Content-Type", "application/json")], json.dumps(document).encode())


def _error(status: int, code: str, message: str) -> _Answer:
    body = json.dumps({"message": message}).encode()
    headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", code)]
    reason = {404: "Not Found", 409: "Conflict", 429: "Too Many Requests", 503: "Service Unavailable"}
    return _Answer(f"{status} {reason.get(status, 'Error')}", headers, body)


class RealismLayer:
    """WSGI middleware: counts every request and, as configured, behaves like the real service."""

    def __init__(self, app: Wsgi, realism: Realism, stats: Stats) -> None:
        self.app = app
        self.realism = realism
        self.stats = stats
        self._lock = threading.Lock()
        self._quota_lock = threading.Lock()
        self._tokens: dict[str, tuple[str, _Answer]] = {}
        self._random = random.Random()
        self._limit: TokenBucket | None = None
        self.hosts: frozenset[str] = frozenset()  # the Host values it answers; set once serving
        self.configure(realism)

    def configure(self, realism: Realism) -> None:
        """Answer as ``realism`` says from now on: new fault dice, a new service-side write limit."""
        with self._lock:
            self.realism = realism
            self._random = random.Random(realism.seed)
            self._limit = TokenBucket(realism.write_rate) if realism.write_rate else None

    def forget(self) -> None:
        with self._lock:
            self._tokens.clear()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        refused = self._foreign(environ)
        if refused:
            answer = _error(403, "ForbiddenException", refused)
            start_response(answer.status, answer.headers)
            return [answer.body]
        path = environ.get("PATH_INFO", "")
        operation = operation_of(environ["REQUEST_METHOD"], path)
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        if path.startswith(CONTROL):
            answer = self._control(path.removeprefix(CONTROL), environ, body)
            start_response(answer.status, answer.headers)
            return [answer.body]
        answer = self._answer(operation, environ, body)
        self.stats.record(operation, answer.code)
        start_response(answer.status, answer.headers)
        return [answer.body]

    def _foreign(self, environ: Environ) -> str:
        """Why a request comes from somewhere else (a web page, a rebound DNS name), or ''."""
        if not self.hosts:
            return ""
        host = environ.get("HTTP_HOST", "")
        if host not in self.hosts:
            return f"Host {host!r} is not this sandbox's address"
        origin = environ.get("HTTP_ORIGIN")
        if origin is not None and origin not in {f"http://{h}" for h in self.hosts}:
            return f"requests from {origin!r} are refused"
        return ""

    def _control(self, command: str, environ: Environ, body: bytes) -> _Answer:
        """The sandbox's own API, for tests and benchmarks in another process."""
        if command == "stats":
            return _json_answer(self.stats.as_json())
        if command == "reset":
            self._upstream({**environ, "REQUEST_METHOD": "POST", "PATH_INFO": "/moto-api/reset"}, b"")
            self.stats.reset()
            self.forget()
            return _json_answer({"reset": True})
        if command == "realism":
            change = _realism_change(self.realism, body)
            if isinstance(change, str):
                return _error(400, "BadRequestException", change)
            self.configure(change)
            return _json_answer(change.model_dump())
        return _error(404, "NotFoundException", f"no sandbox command {command!r}")

    def _answer(self, operation: str, environ: Environ, body: bytes) -> _Answer:
        r = self.realism
        if r.latency:
            time.sleep(r.latency)
        write = is_write(operation)
        if write and self._limit is not None and not self._limit.try_acquire():
            return _error(429, "TooManyRequestsException", "Rate exceeded")
        fault = self._roll()
        if fault == "throttle":
            return _error(429, "TooManyRequestsException", "Rate exceeded")
        if fault == "unavailable":
            return _error(503, "ServiceUnavailableException", "Service unavailable")
        if not r.real_errors:
            return self._upstream(environ, body)
        token = _client_token(body) if write else None
        if token is not None:
            replay = self._replay(operation, environ, body, token)
            if replay is not None:
                return replay
        if operation in ("TagResource", "UntagResource"):
            return self._tagging(operation, environ, body)
        environ = _own_mesh(environ)
        stored = _fill_prefix(body) if operation in ("CreateGatewayRoute", "UpdateGatewayRoute") else body
        if operation == "DeleteVirtualGateway" and self._count(
            environ, _routes_of(environ["PATH_INFO"]), "gatewayRoutes"
        ):
            return _error(409, "ResourceInUseException", "The virtual gateway still has gateway routes.")
        with self._quota_lock:  # count and create as one step, as the real service does
            over = self._over_quota(operation, environ)
            if over:
                return _error(400, "LimitExceededException", over)
            answer = _real_owners(_translate(self._upstream(environ, stored)))
        if token is not None and answer.code == 200:
            self._remember(operation, environ, body, token, answer)
        if fault == "lost" and write:
            return _error(503, "ServiceUnavailableException", "Connection reset before the answer was sent")
        return answer

    def _tagging(self, operation: str, environ: Environ, body: bytes) -> _Answer:
        """Tag and untag as the real API does, on moto's own record of the resource."""
        from moto.appmesh.models import appmesh_backends  # noqa: PLC0415 - moto is the sandbox's extra

        arn = urllib.parse.parse_qs(environ.get("QUERY_STRING", "")).get("resourceArn", [""])[0]
        request = json.loads(body or b"{}")
        fields = arn.split(":")
        if len(fields) < 6:
            return _error(400, "BadRequestException", f"not an App Mesh ARN: {arn!r}")
        try:
            resource = appmesh_backends[fields[4]][fields[3]]._get_resource_with_arn(arn)
        except Exception:  # moto raises its own not-found class
            return _error(404, "NotFoundException", f"no resource {arn}")
        with self._lock:
            if operation == "TagResource":
                given = {tag["key"]: tag["value"] for tag in request.get("tags", [])}
                kept = [tag for tag in resource.tags if tag["key"] not in given]
                resource.tags = kept + [{"key": k, "value": v} for k, v in given.items()]
            else:
                gone = set(request.get("tagKeys", []))
                resource.tags = [tag for tag in resource.tags if tag["key"] not in gone]
        return _json_answer({})

    def _roll(self) -> str:
        r = self.realism
        with self._lock:
            x = self._random.random()
        for name, share in (("throttle", r.throttle), ("unavailable", r.unavailable), ("lost", r.lost)):
            if x < share:
                return name
            x -= share
        return ""

    def _replay(self, operation: str, environ: Environ, body: bytes, token: str) -> _Answer | None:
        with self._lock:
            seen = self._tokens.get(_token_key(operation, environ, token))
        if seen is None:
            return None
        if seen[0] == _digest(body):
            return seen[1]
        return _error(409, "ConflictException", "The client token was already used with another request.")

    def _remember(self, operation: str, environ: Environ, body: bytes, token: str, answer: _Answer) -> None:
        with self._lock:
            self._tokens[_token_key(operation, environ, token)] = (_digest(body), answer)

    def _over_quota(self, operation: str, environ: Environ) -> str:
        r = self.realism
        quotas = {
            "CreateVirtualGateway": ("virtualGateways", r.gateways_per_mesh, "Virtual gateways per mesh"),
            "CreateGatewayRoute": (
                "gatewayRoutes",
                r.routes_per_gateway,
                "Gateway routes per virtual gateway",
            ),
        }
        member, limit, name = quotas.get(operation, ("", None, ""))
        if limit is None or self._count(environ, environ["PATH_INFO"], member) < limit:
            return ""
        return f"{name}: the limit of {limit} has been reached."

    def _count(self, environ: Environ, list_path: str, member: str) -> int:
        """How many resources a List of ``list_path`` answers (one page is plenty for these checks)."""
        sub = {
            **environ,
            "REQUEST_METHOD": "GET",
            "PATH_INFO": list_path,
            "QUERY_STRING": "",
            "CONTENT_LENGTH": "0",
            "wsgi.input": io.BytesIO(b""),
        }
        answer = self._upstream(sub, b"")
        return len(json.loads(answer.body).get(member, [])) if answer.code == 200 else 0

    def _upstream(self, environ: Environ, body: bytes) -> _Answer:
        captured: dict[str, Any] = {}

        def start(status: str, headers: list[tuple[str, str]], _exc_info: Any = None) -> None:
            captured["status"], captured["headers"] = status, headers

        sub = {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
        chunks = self.app(sub, start)
        try:
            data = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        return _Answer(captured["status"], captured["headers"], data)


def _routes_of(gateway_path: str) -> str:
    """.../virtualGateways/NAME → .../virtualGateway/NAME/gatewayRoutes (the API's own spelling)."""
    return gateway_path.replace("/virtualGateways/", "/virtualGateway/") + "/gatewayRoutes"


def _fill_prefix(body: bytes) -> bytes:
    """What the real service stores for an HTTP match without prefix or path: ``prefix: "/"``."""
    request = json.loads(body or b"{}")
    spec = request.get("spec") or {}
    for route_type in ("httpRoute", "http2Route"):
        match = (spec.get(route_type) or {}).get("match")
        if isinstance(match, dict) and "prefix" not in match and "path" not in match:
            match["prefix"] = "/"
            return json.dumps(request).encode()
    return body


def _client_token(body: bytes) -> str | None:
    try:
        token = json.loads(body or b"{}").get("clientToken")
    except (ValueError, AttributeError):
        return None
    return str(token) if token else None


def _token_key(operation: str, environ: Environ, token: str) -> str:
    return f"{operation} {environ.get('PATH_INFO')} {token}"


def _digest(body: bytes) -> str:
    request = json.loads(body)
    request.pop("clientToken", None)
    return hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()


def _own_mesh(environ: Environ) -> Environ:
    """``meshOwner`` naming the account in use is that account's own mesh, as App Mesh reads it."""
    query = urllib.parse.parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    kept = [(k, v) for k, v in query if not (k == "meshOwner" and v == ACCOUNT)]
    return environ if len(kept) == len(query) else {**environ, "QUERY_STRING": urllib.parse.urlencode(kept)}


def _real_owners(answer: _Answer) -> _Answer:
    """moto's ``meshOwner``/``resourceOwner`` (the caller's key id) → the account, as App Mesh answers."""
    if answer.code != 200 or b"Owner" not in answer.body:
        return answer
    document = json.loads(answer.body)
    _set_owners(document)
    headers = [(k, v) for k, v in answer.headers if k.lower() != "content-length"]
    return _Answer(answer.status, headers, json.dumps(document).encode())


def _set_owners(value: Any) -> None:
    if isinstance(value, dict):
        for key in ("meshOwner", "resourceOwner"):
            if key in value and not re.fullmatch(r"[0-9]{12}", str(value[key])):
                value[key] = ACCOUNT
        for item in value.values():
            _set_owners(item)
    elif isinstance(value, list):
        for item in value:
            _set_owners(item)


def _translate(answer: _Answer) -> _Answer:
    """moto's error dialect → the real service's codes and statuses."""
    if answer.code < 400:
        return answer
    try:
        error = json.loads(answer.body)
    except ValueError:
        return answer
    real = _REAL_CODES.get(str(error.get("__type", "")))
    return _error(*real, str(error.get("message", ""))) if real else answer
