"""What went wrong talking to the API, classified once so every layer agrees.

Each way a call can fail is its own exception class, caught by class (``except
NotFound``). The real App Mesh answers with the codes of its API reference; moto's
emulation answers some of them in its own dialect (400 ``VirtualGatewayNotFound``
where App Mesh says 404 ``NotFoundException``). Both spellings map to the same class
here, so the engine behaves the same against either.
"""

from __future__ import annotations

import re
from typing import ClassVar

_USERINFO = re.compile(r"(?<=://)[^/\s@]+@")


def mask_userinfo(text: str) -> str:
    """``scheme://user:secret@host`` → ``scheme://***@host``, wherever a URL appears in ``text``."""
    return _USERINFO.sub("***@", text)


class ApiError(Exception):
    """An API call that failed, after retries where they apply."""

    retryable: ClassVar[bool] = False
    summary: ClassVar[str] = "App Mesh rejected the call"

    def __init__(self, message: str, *, code: str = "", status: int = 0, operation: str = "") -> None:
        super().__init__(mask_userinfo(message))  # botocore puts the endpoint URL in its messages
        self.code = code or type(self).__name__
        self.status = status
        self.operation = operation

    def describe(self) -> str:
        """One line a user can act on."""
        status = f" {self.status}" if self.status else ""
        return f"{self.summary} ({self.operation}:{status} {self.code}): {self}"


class Throttled(ApiError):
    retryable = True
    summary = "throttled by App Mesh and the retry budget ran out"


class Unavailable(ApiError):
    retryable = True
    summary = "App Mesh was unavailable and the retry budget ran out"


class InternalError(ApiError):
    retryable = True
    summary = "App Mesh failed internally and the retry budget ran out"


class ConnectionFailed(ApiError):
    retryable = True
    summary = "the endpoint could not be reached"


class BadRequest(ApiError):
    pass


class LimitExceeded(ApiError):
    summary = "an App Mesh service quota was reached"


class Forbidden(ApiError):
    summary = "not authorised"


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    pass


class InUse(ApiError):
    """409 ``ResourceInUseException``: deleting a gateway that still has routes."""


class NoCredentials(ApiError):
    summary = "no usable AWS credentials or region"


_BY_CODE: dict[str, type[ApiError]] = {
    "TooManyRequestsException": Throttled,
    "ThrottlingException": Throttled,
    "ServiceUnavailableException": Unavailable,
    "InternalServerErrorException": InternalError,
    "BadRequestException": BadRequest,
    "LimitExceededException": LimitExceeded,
    "ForbiddenException": Forbidden,
    "AccessDeniedException": Forbidden,
    "UnrecognizedClientException": Forbidden,
    "InvalidSignatureException": Forbidden,
    "ExpiredTokenException": Forbidden,
    "NotFoundException": NotFound,
    "ConflictException": Conflict,
    "ResourceInUseException": InUse,
    # moto's dialect
    "MeshNotFound": NotFound,
    "VirtualGatewayNotFound": NotFound,
    "GatewayRouteNotFound": NotFound,
    "ResourceNotFound": NotFound,
    "VirtualGatewayNameAlreadyTaken": Conflict,
    "GatewayRouteNameAlreadyTaken": Conflict,
}


def classify(code: str, status: int) -> type[ApiError]:
    """The class of an error answer, by code first and HTTP status second."""
    if code in _BY_CODE:
        return _BY_CODE[code]
    if status == 429:
        return Throttled
    if status == 503:
        return Unavailable
    if status >= 500:
        return InternalError
    if status == 403:
        return Forbidden
    if status == 404:
        return NotFound
    if status == 409:
        return Conflict
    return BadRequest
