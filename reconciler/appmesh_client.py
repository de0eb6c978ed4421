"""The only module that talks to App Mesh (and the only one that imports boto3).

Both kinds go through one table of operation names, so gateways and routes share
every code path. Each call passes the read or write rate limit, then the one
retry layer; botocore's own retries are switched off.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.exceptions
import botocore.session
from botocore.config import Config

from .errors import ApiError, ConnectionFailed, NoCredentials, NotFound, Throttled, classify
from .options import Connection
from .resources import GATEWAY, ROUTE, Key, Live, Scope, ServiceState
from .retrying import Retrier
from .shutdown import Shutdown
from .throttle import AdaptiveBucket, Limits, RetryPolicy, Slots, TokenBucket

_CONNECTION_ERRORS = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectionClosedError,
    botocore.exceptions.ReadTimeoutError,
    botocore.exceptions.ConnectTimeoutError,
    botocore.exceptions.ProxyConnectionError,
)
_SETUP_ERRORS = (
    botocore.exceptions.NoCredentialsError,
    botocore.exceptions.NoRegionError,
    botocore.exceptions.ProfileNotFound,
    botocore.exceptions.PartialCredentialsError,
)


@dataclass(frozen=True)
class _Ops:
    """The API's names for one kind."""

    noun: str  # snake_case noun in operation names
    name_param: str
    list_key: str
    data_key: str


_OPS = {
    GATEWAY: _Ops("virtual_gateway", "virtualGatewayName", "virtualGateways", "virtualGateway"),
    ROUTE: _Ops("gateway_route", "gatewayRouteName", "gatewayRoutes", "gatewayRoute"),
}


@dataclass(frozen=True)
class Summary:
    """One entry of a List answer: enough to tell whether a cached Describe is current."""

    key: Key
    arn: str
    version: int
    stamp: str  # lastUpdatedAt: tells a recreated resource from the one cached


# Each App Mesh call reads or writes one small resource (or one page of at most 100
# summaries): an answer silent for 10 s is a hung call, and waiting longer (botocore's
# default is 60 s) only hides it. A timeout is retried like a dropped connection, and the
# daemon's readiness bound (``longest_silence``) is derived from these figures.
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0

# Worker threads per in-flight call: a worker waiting out a retry backoff or a rate
# limit holds no call slot, so the others keep the slots busy.
THREADS_PER_CALL = 4


CallObserver = Callable[[str, int], None]
Fence = Callable[[], None]  # called right before every write leaves; raises Stopped when it may not
_READS = ("Describe", "List")  # every other App Mesh operation writes


def make_client(connection: Connection, max_pool: int, credentials: Mapping[str, str] | None = None) -> Any:
    """A botocore App Mesh client with botocore's retries off (tenacity owns retries).

    Timestamps are left as the API sent them: the reconciler only compares
    ``lastUpdatedAt`` for equality, and parsing them cost 13% of each call. botocore's
    parameter validation is off: every spec, name and tag was validated by ``model``
    (which the conformance test holds to botocore's shapes) before any call, and the
    second walk cost about 15% of each call; the service validates again in any case.
    """
    core = botocore.session.get_session()
    core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=_as_sent)
    session = boto3.Session(
        botocore_session=core,
        profile_name=connection.profile,
        region_name=connection.region,
        **(credentials or {}),
    )
    config = Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        max_pool_connections=max_pool,
        parameter_validation=False,
        user_agent_extra="appmesh-gateway-reconciler",
    )
    return session.client("appmesh", endpoint_url=connection.endpoint_url, config=config)


def _as_sent(value: Any) -> Any:
    return value


class AppMesh:
    """Typed, rate-limited, retried access to virtual gateways and gateway routes."""

    def __init__(
        self,
        client: Any,
        *,
        limits: Limits | None = None,
        retry: RetryPolicy | None = None,
        observe: CallObserver | None = None,
        on_retry: Callable[[ApiError], None] | None = None,
        shutdown: Shutdown | None = None,
        fence: Fence | None = None,
    ) -> None:
        limits = limits or Limits()
        shutdown = shutdown or Shutdown()
        self._client = client
        self.reads = TokenBucket(limits.read_rate, shutdown=shutdown)
        self.writes = AdaptiveBucket(limits.write_rate, shutdown=shutdown)
        self.retrier = Retrier(retry or RetryPolicy(), on_retry, shutdown)
        self._in_flight = Slots(limits.concurrency, shutdown)
        self.workers = limits.concurrency * THREADS_PER_CALL
        self._observe = observe
        if fence is not None:
            # As late as botocore allows: after the request is built and signed, right before
            # it is sent. A pause (SIGSTOP, a frozen VM) between the check and the send is the
            # one window left, and the shorter the code between them, the narrower it is.
            service = client.meta.service_model.service_id.hyphenize()  # "app-mesh"
            client.meta.events.register(f"before-send.{service}", _fencing(fence))

    @classmethod
    def connect(
        cls,
        connection: Connection,
        *,
        limits: Limits | None = None,
        retry: RetryPolicy | None = None,
        observe: CallObserver | None = None,
        on_retry: Callable[[ApiError], None] | None = None,
        shutdown: Shutdown | None = None,
        fence: Fence | None = None,
    ) -> AppMesh:
        """The constructor's options, with a client built for ``connection``."""
        limits = limits or Limits()
        client = _guard("CreateClient", lambda: make_client(connection, limits.concurrency + 4))
        return cls(
            client,
            limits=limits,
            retry=retry,
            observe=observe,
            on_retry=on_retry,
            shutdown=shutdown,
            fence=fence,
        )

    @property
    def longest_silence(self) -> float:
        """The longest a working call path goes without an answer: a call's timeouts, the
        longest retry backoff, and the longest wait for a rate token (at the slower floor)."""
        slowest = min(self.reads.rate, self.writes.floor)
        return CONNECT_TIMEOUT + READ_TIMEOUT + self.retrier.policy.max_wait + 1 / slowest

    # --- reads ---------------------------------------------------------------

    def summaries(self, scope: Scope, kind: str, gateway: str = "") -> Iterator[Summary]:
        """Every resource of ``kind`` in a mesh (routes: of one gateway), across pages."""
        ops = _OPS[kind]
        params = _scope_params(scope)
        if kind == ROUTE:
            params["virtualGatewayName"] = gateway
        for page in self._pages(f"list_{ops.noun}s", str(scope), **params):
            for item in page.get(ops.list_key, []):
                name = item[ops.name_param]
                key = Key.gateway_key(scope, name) if kind == GATEWAY else Key.route_key(scope, gateway, name)
                yield Summary(key, item["arn"], int(item["version"]), str(item.get("lastUpdatedAt", "")))

    def describe(self, key: Key) -> Live:
        ops = _OPS[key.kind]
        answer = self._call(f"describe_{ops.noun}", False, key.address, **_key_params(key))
        return _live(key, answer[ops.data_key])

    def own_mesh_owner(self, mesh: str) -> str | None:
        """The account owning the mesh of this name in the caller's own account: the account in use.

        DescribeMesh without ``meshOwner`` looks in the caller's account, and its
        ``metadata.meshOwner`` names that account (API reference, DescribeMesh). None when
        the caller's account has no mesh of that name.
        """
        try:
            answer = self._call("describe_mesh", False, mesh, meshName=mesh)
        except NotFound:
            return None
        return str(answer["mesh"]["metadata"]["meshOwner"])

    def tags(self, arn: str) -> dict[str, str]:
        pages = self._pages("list_tags_for_resource", arn, resourceArn=arn)
        return {t["key"]: t["value"] for page in pages for t in page.get("tags", [])}

    # --- writes --------------------------------------------------------------

    def create(self, key: Key, spec: Mapping[str, Any], tags: Mapping[str, str], token: str) -> Live:
        """Create with its tags in one call; ``token`` makes a retried create answer the first one."""
        ops = _OPS[key.kind]
        answer = self._call(
            f"create_{ops.noun}",
            True,
            key.address,
            **_key_params(key),
            spec=spec,
            tags=_tag_list(tags),
            clientToken=token,
        )
        return _live(key, answer[ops.data_key], tags)

    def update(self, key: Key, spec: Mapping[str, Any], token: str) -> Live:
        ops = _OPS[key.kind]
        answer = self._call(
            f"update_{ops.noun}", True, key.address, **_key_params(key), spec=spec, clientToken=token
        )
        return _live(key, answer[ops.data_key])

    def delete(self, key: Key) -> None:
        self._call(f"delete_{_OPS[key.kind].noun}", True, key.address, **_key_params(key))

    def tag(self, arn: str, tags: Mapping[str, str]) -> None:
        self._call("tag_resource", True, arn, resourceArn=arn, tags=_tag_list(tags))

    def untag(self, arn: str, keys: list[str]) -> None:
        self._call("untag_resource", True, arn, resourceArn=arn, tagKeys=keys)

    def create_mesh(self, scope: Scope) -> None:
        """Create a mesh if it is missing (the sandbox's set-up; the reconciler never does)."""
        try:
            self._call("describe_mesh", False, str(scope), **_scope_params(scope))
        except NotFound:
            self._call("create_mesh", True, str(scope), meshName=scope.mesh)

    # --- the one call path -------------------------------------------------------

    def _pages(self, operation: str, resource: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every page of a List call, following nextToken."""
        token: str | None = None
        while True:
            page = self._call(operation, False, resource, **params, **({"nextToken": token} if token else {}))
            yield page
            token = page.get("nextToken")
            if not token:
                return

    def _call(self, operation: str, write: bool, resource: str, **params: Any) -> dict[str, Any]:
        bucket = self.writes if write else self.reads
        method = getattr(self._client, operation)

        def attempt() -> dict[str, Any]:
            """One try: a rate-limit token, then a call slot held only while the call is on the wire."""
            bucket.acquire()
            try:
                with self._in_flight.held():
                    answer: dict[str, Any] = _guard(_pascal(operation), lambda: method(**params))
            except ApiError as exc:
                self._note(operation, exc.status or 0)
                if isinstance(exc, Throttled):
                    bucket.on_throttle()
                raise
            self._note(operation, answer.get("ResponseMetadata", {}).get("HTTPStatusCode", 200))
            return answer

        return self.retrier.call(attempt, operation=_pascal(operation), resource=resource)

    def _note(self, operation: str, status: int) -> None:
        if self._observe is not None:
            self._observe(_pascal(operation), status)


def _guard(operation: str, fn: Callable[[], Any]) -> Any:
    """Run a botocore call, turning each way it can fail into an ApiError."""
    try:
        return fn()
    except botocore.exceptions.ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        message = str(error.get("Message", "")) or str(exc)
        raise classify(code, status)(message, code=code, status=status, operation=operation) from None
    except _CONNECTION_ERRORS as exc:
        raise ConnectionFailed(str(exc), code=type(exc).__name__, operation=operation) from None
    except _SETUP_ERRORS as exc:
        raise NoCredentials(str(exc), code=type(exc).__name__, operation=operation) from None


def _fencing(fence: Fence) -> Callable[..., None]:
    def before_send(event_name: str, **_: Any) -> None:
        if not event_name.rpartition(".")[2].startswith(_READS):
            fence()

    return before_send


def _pascal(operation: str) -> str:
    return "".join(part.title() for part in operation.split("_"))


def _scope_params(scope: Scope) -> dict[str, Any]:
    return {"meshName": scope.mesh, **({"meshOwner": scope.owner} if scope.owner else {})}


def _key_params(key: Key) -> dict[str, Any]:
    params = {**_scope_params(key.scope), "virtualGatewayName": key.gateway}
    if key.kind == ROUTE:
        params["gatewayRouteName"] = key.name
    return params


def _tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in sorted(tags.items())]


def _live(key: Key, data: Mapping[str, Any], tags: Mapping[str, str] | None = None) -> Live:
    metadata = data["metadata"]
    return Live(
        key,
        data.get("spec") or {},
        metadata["arn"],
        int(metadata["version"]),
        dict(tags) if tags else None,
        str(metadata.get("lastUpdatedAt", "")),
        ServiceState.of(str((data.get("status") or {}).get("status", ""))),
    )
