"""structlog set-up: JSON lines for machines, readable console output on a TTY.

With JSON lines, every line on stderr is one event: what libraries log through the
standard ``logging`` module (urllib3's pool warnings, the Kubernetes client) and an
exception that ends a thread are turned into events too, rather than printed as text.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from collections.abc import MutableMapping
from typing import Any

import structlog

SECRET_KEYS = frozenset({"clientToken", "token", "aws_secret_access_key", "aws_session_token", "password"})


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in SECRET_KEYS & event.keys():
        event[key] = "***"
    return event


def configure(level: str = "warning", fmt: str = "auto") -> None:
    """Log to stderr; ``auto`` means console on a TTY and JSON lines otherwise."""
    as_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: Any = structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    if as_json:
        root = logging.getLogger()
        root.handlers = [_ToStructlog()]
        root.setLevel(logging.WARNING)
        threading.excepthook = _thread_crashed


class _ToStructlog(logging.Handler):
    """A record of the standard ``logging`` module, as a structlog event."""

    def emit(self, record: logging.LogRecord) -> None:
        logger = structlog.get_logger(record.name)
        logger.log(record.levelno, "library.log", logger_name=record.name, message=record.getMessage())


def _thread_crashed(args: threading.ExceptHookArgs) -> None:
    """An exception that ended a thread: one event with its traceback, not lines of text."""
    structlog.get_logger("reconciler").error(
        "thread.crashed",
        thread=args.thread.name if args.thread is not None else "",
        error=repr(args.exc_value),
        traceback="".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback)),
    )
