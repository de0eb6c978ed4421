"""Problems found in manifests or a plan, each pointing at file, document and field."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
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


class Capped(list[Problem]):
    """The first ``cap`` problems, the rest only counted by severity.

    A hostile tree can hold a problem every few bytes: keeping (and locating, and
    printing) each would cost memory and time out of all proportion to the input.
    """

    def __init__(self, cap: int, problems: Iterable[Problem] = ()) -> None:
        super().__init__()
        self.cap = cap
        self.omitted: Counter[Severity] = Counter()
        self.extend(problems)

    @property
    def full(self) -> bool:
        return len(self) >= self.cap

    def append(self, problem: Problem) -> None:
        if self.full:
            self.omitted[problem.severity] += 1
        else:
            super().append(problem)

    def always(self, problem: Problem) -> None:
        """Keep ``problem`` past the cap: the tree's own limits explain everything after them."""
        super().append(problem)

    def extend(self, problems: Iterable[Problem]) -> None:
        for problem in problems:
            self.append(problem)
        if isinstance(problems, Capped):
            self.omitted.update(problems.omitted)

    def __iadd__(self, problems: Iterable[Problem]) -> Capped:  # type: ignore[override, misc]
        self.extend(problems)
        return self

    def skip(self, severity: Severity, count: int = 1) -> None:
        """Count problems that were never built (past the cap, not worth locating)."""
        self.omitted[severity] += count

    def summary(self, file: str) -> Problem | None:
        """One problem saying how many were not shown, an error if any of them was."""
        total = sum(self.omitted.values())
        if not total:
            return None
        counts = ", ".join(f"{n} {s.value}(s)" for s in Severity if (n := self.omitted[s]))
        message = f"{total} more problem(s) not shown ({counts}): at most {self.cap} are shown per run"
        severity = Severity.ERROR if self.omitted[Severity.ERROR] else Severity.WARNING
        return Problem(message, file=file, severity=severity)
