"""What went wrong talking to the API, classified once so every layer agrees.

The real App Mesh answers with the codes of its API reference; moto's emulation
answers some of them in its own dialect (400 ``VirtualGatewayNotFound`` where App
Mesh says 404 ``NotFoundException``). Both spellings map to the same class here,
so the engine behaves the same against either.
"""

from __future__ import annotations

import re
from enum import StrEnum

_USERINFO = re.compile(r"(?<=://)[^/\s@]+@")


def mask_userinfo(text: str) -> str:
    """``scheme://user:secret@host`` → ``scheme://***@host``, wherever a URL appears in ``text``."""
    return _USERINFO.sub("***@", text)


class Failure(StrEnum):
    THROTTLED = "throttled"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"
    CONNECTION = "connection"
    BAD_REQUEST = "bad_request"
    LIMIT_EXCEEDED = "limit_exceeded"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    IN_USE = "in_use"
    CREDENTIALS = "credentials"


RETRYABLE = frozenset({Failure.THROTTLED, Failure.UNAVAILABLE, Failure.INTERNAL, Failure.CONNECTION})

_BY_CODE = {
    "TooManyRequestsException": Failure.THROTTLED,
    "ThrottlingException": Failure.THROTTLED,
    "ServiceUnavailableException": Failure.UNAVAILABLE,
    "InternalServerErrorException": Failure.INTERNAL,
    "BadRequestException": Failure.BAD_REQUEST,
    "LimitExceededException": Failure.LIMIT_EXCEEDED,
    "ForbiddenException": Failure.FORBIDDEN,
    "AccessDeniedException": Failure.FORBIDDEN,
    "UnrecognizedClientException": Failure.FORBIDDEN,
    "InvalidSignatureException": Failure.FORBIDDEN,
    "ExpiredTokenException": Failure.FORBIDDEN,
    "NotFoundException": Failure.NOT_FOUND,
    "ConflictException": Failure.CONFLICT,
    "ResourceInUseException": Failure.IN_USE,
    # moto's dialect
    "MeshNotFound": Failure.NOT_FOUND,
    "VirtualGatewayNotFound": Failure.NOT_FOUND,
    "GatewayRouteNotFound": Failure.NOT_FOUND,
    "ResourceNotFound": Failure.NOT_FOUND,
    "VirtualGatewayNameAlreadyTaken": Failure.CONFLICT,
    "GatewayRouteNameAlreadyTaken": Failure.CONFLICT,
}


def classify(code: str, status: int) -> Failure:
    """The failure class of an error answer, by code first and HTTP status second."""
    if code in _BY_CODE:
        return _BY_CODE[code]
    if status == 429:
        return Failure.THROTTLED
    if status == 503:
        return Failure.UNAVAILABLE
    if status >= 500:
        return Failure.INTERNAL
    if status == 403:
        return Failure.FORBIDDEN
    if status == 404:
        return Failure.NOT_FOUND
    if status == 409:
        return Failure.CONFLICT
    return Failure.BAD_REQUEST


class ApiError(Exception):
    """An API call that failed, after retries where they apply."""

    def __init__(
        self, failure: Failure, message: str, *, code: str = "", status: int = 0, operation: str = ""
    ) -> None:
        super().__init__(mask_userinfo(message))  # botocore puts the endpoint URL in its messages
        self.failure = failure
        self.code = code or failure.value
        self.status = status
        self.operation = operation

    @property
    def retryable(self) -> bool:
        return self.failure in RETRYABLE

    def describe(self) -> str:
        """One line a user can act on."""
        what = {
            Failure.THROTTLED: "throttled by App Mesh and the retry budget ran out",
            Failure.UNAVAILABLE: "App Mesh was unavailable and the retry budget ran out",
            Failure.INTERNAL: "App Mesh failed internally and the retry budget ran out",
            Failure.CONNECTION: "the endpoint could not be reached",
            Failure.FORBIDDEN: "not authorised",
            Failure.CREDENTIALS: "no usable AWS credentials or region",
            Failure.LIMIT_EXCEEDED: "an App Mesh service quota was reached",
        }.get(self.failure, "App Mesh rejected the call")
        status = f" {self.status}" if self.status else ""
        return f"{what} ({self.operation}:{status} {self.code}): {self}"
