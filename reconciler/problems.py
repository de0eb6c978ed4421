"""Problems found in manifests or a plan, each pointing at file, document and field."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from .resources import Source


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    message: str
    file: str = ""
    document: int | None = None
    line: int | None = None
    path: str = ""
    hint: str = ""
    severity: Severity = Severity.ERROR

    @classmethod
    def at(cls, source: Source, message: str, path: str = "", severity: Severity = Severity.ERROR) -> Problem:
        """A problem with a resource, located where its manifest was written."""
        return cls(message, file=source.file, document=source.document, path=path, severity=severity)

    @property
    def location(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
        if self.document is not None:
            where += f" (document {self.document})"
        return where

    def __str__(self) -> str:
        parts = [f"{self.severity.value}: {self.location}" if self.file else self.severity.value]
        if self.path:
            parts.append(self.path)
        text = ": ".join(parts) + f": {self.message}"
        return f"{text} ({self.hint})" if self.hint else text

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["severity"] = self.severity.value
        return out


def errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity is Severity.ERROR]


def warnings(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity is Severity.WARNING]
