"""The one retry layer and the client-side rate limits."""

from __future__ import annotations

from typing import Any

import botocore.exceptions
import pytest

from reconciler import errors
from reconciler.appmesh_client import AppMesh
from reconciler.errors import ApiError, classify
from reconciler.retrying import Retrier
from reconciler.throttle import AdaptiveBucket, RetryPolicy, TokenBucket

FAST = RetryPolicy(max_attempts=4, initial_wait=0.001, max_wait=0.002)


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        ("TooManyRequestsException", 429, errors.Throttled),
        ("ServiceUnavailableException", 503, errors.Unavailable),
        ("InternalServerErrorException", 500, errors.InternalError),
        ("BadRequestException", 400, errors.BadRequest),
        ("LimitExceededException", 400, errors.LimitExceeded),
        ("ForbiddenException", 403, errors.Forbidden),
        ("NotFoundException", 404, errors.NotFound),
        ("ConflictException", 409, errors.Conflict),
        ("ResourceInUseException", 409, errors.InUse),
        # moto answers these where App Mesh answers the codes above
        ("VirtualGatewayNotFound", 400, errors.NotFound),
        ("GatewayRouteNameAlreadyTaken", 400, errors.Conflict),
        ("MeshNotFound", 400, errors.NotFound),
        # unknown codes fall back on the HTTP status
        ("SomethingNew", 502, errors.InternalError),
        ("SomethingNew", 418, errors.BadRequest),
    ],
)
def test_real_and_moto_error_codes_classify_alike(code: str, status: int, kind: type[ApiError]) -> None:
    assert classify(code, status) is kind


class FakeClient:
    """Answers a scripted sequence: an exception to raise or a dict to return."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.calls = 0

    def describe_mesh(self, **_: Any) -> dict[str, Any]:
        self.calls += 1
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return dict(answer)


def client_error(code: str, status: int) -> botocore.exceptions.ClientError:
    return botocore.exceptions.ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "DescribeMesh",
    )


def mesh_with(client: FakeClient, policy: RetryPolicy = FAST) -> AppMesh:
    return AppMesh(client, retry=policy)


OK = {"mesh": {}}


def test_throttling_5xx_and_dropped_connections_are_retried() -> None:
    client = FakeClient(
        client_error("TooManyRequestsException", 429),
        client_error("ServiceUnavailableException", 503),
        botocore.exceptions.ConnectionClosedError(endpoint_url="http://x"),
        OK,
    )
    assert mesh_with(client)._call("describe_mesh", False, "apps", meshName="apps") == OK
    assert client.calls == 4


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("BadRequestException", 400),
        ("LimitExceededException", 400),
        ("ForbiddenException", 403),
        ("NotFoundException", 404),
        ("ConflictException", 409),
    ],
)
def test_client_errors_are_not_retried(code: str, status: int) -> None:
    client = FakeClient(client_error(code, status), OK)
    with pytest.raises(ApiError) as caught:
        mesh_with(client)._call("describe_mesh", False, "apps", meshName="apps")
    assert client.calls == 1
    assert caught.value.code == code


def test_attempts_are_capped() -> None:
    client = FakeClient(*[client_error("TooManyRequestsException", 429)] * 10)
    with pytest.raises(ApiError) as caught:
        mesh_with(client)._call("describe_mesh", False, "apps", meshName="apps")
    assert client.calls == FAST.max_attempts
    assert "throttled by App Mesh and the retry budget ran out" in caught.value.describe()


def test_run_budget_stops_retries_early() -> None:
    client = FakeClient(*[client_error("ServiceUnavailableException", 503)] * 10)
    policy = RetryPolicy(max_attempts=10, run_budget=0)  # no time left: the first failure is final
    with pytest.raises(ApiError):
        mesh_with(client, policy)._call("describe_mesh", False, "apps", meshName="apps")
    assert client.calls == 1


def test_retries_are_counted() -> None:
    seen: list[str] = []
    retrier = Retrier(FAST, on_retry=lambda e: seen.append(e.code))
    answers = iter([errors.Throttled("slow down", code="TooManyRequestsException"), None])

    def call() -> str:
        error = next(answers)
        if error is not None:
            raise error
        return "ok"

    assert retrier.call(call, operation="X", resource="r") == "ok"
    assert seen == ["TooManyRequestsException"]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_refuses_past_its_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=2, burst=2, clock=clock)
    assert [bucket.try_acquire() for _ in range(3)] == [True, True, False]
    clock.now = 0.5
    assert bucket.try_acquire()
    assert not bucket.try_acquire()


def test_adaptive_bucket_backs_off_once_per_burst_and_recovers_over_time() -> None:
    clock = Clock()
    bucket = AdaptiveBucket(10, decrease=0.5, recovery=0.1, cooldown=1.0, clock=clock)
    bucket.on_throttle()
    bucket.on_throttle()  # the same burst: counted once
    assert bucket.rate == 5
    clock.now = 1.0
    bucket.on_throttle()
    assert bucket.rate == 3  # 5 + 1 s x 1/s recovered, then halved
    clock.now = 3.0
    assert bucket.try_acquire()
    assert bucket.rate == 5  # 1 write/s more for every second without a 429
    clock.now = 60.0
    assert bucket.try_acquire()
    assert bucket.rate == 10  # never above the configured rate
    eager = AdaptiveBucket(10, cooldown=0, clock=clock)
    for _ in range(100):
        eager.on_throttle()
    assert eager.rate == 0.5  # never below the floor
