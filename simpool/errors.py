"""Problems found in user input, collected and reported all at once.

Every problem names where it is (file and line, when known), the dotted path of the
offending field, and what is allowed. ``ScenarioError`` carries a list of them; the CLI
prints one per line as ``file:line: dotted.path: message`` and exits with code 2.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Iterable, Sequence


@dataclass(frozen=True)
class Problem:
    """One problem (or warning) in an input file.

    Attributes
    ----------
    file : str
        File the problem is in (as the user named it), or a pseudo-file such as ``<dict>``
        or ``--set``.
    line : int or None
        1-based line number, when it can be located.
    path : str
        Dotted path of the field, e.g. ``cohorts.ip_pledge.pd``; empty for the whole file.
    message : str
        What is wrong and what is allowed.
    severity : str
        ``"error"`` or ``"warning"``.
    """

    file: str
    line: int | None
    path: str
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        path = _clip(self.path, 200)
        head = f"{where}: {path}: " if path else f"{where}: "
        tag = "warning: " if self.severity == "warning" else ""
        return f"{head}{tag}{_clip(self.message, 2000)}"


def _clip(text: str, limit: int) -> str:
    """``text`` cut in the middle when longer than ``limit`` (one readable line per problem,
    however long the key or value the user wrote), and without line breaks."""
    text = str(text)
    if "\n" in text or "\r" in text:
        text = text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
    if len(text) <= limit:
        return text
    half = (limit - 5) // 2
    return f"{text[:half]}[...]{text[-half:]}"


class SimpoolError(Exception):
    """Base class of the errors simpool raises on purpose."""


class SimpoolWarning(UserWarning):
    """A warning about a run's settings (the command line prints it as ``simpool: warning:``)."""


class UsageError(SimpoolError, ValueError):
    """A command's arguments cannot be honoured (CLI exit code 2), e.g. a figure that is not
    in the summary or a bracket that does not contain the target."""


class ScenarioError(SimpoolError, ValueError):
    """Bad input: one or more problems, all reported at once (CLI exit code 2)."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = [p for p in problems if p.severity == "error"]
        self.warnings = [p for p in problems if p.severity != "error"]
        super().__init__("\n".join(str(p) for p in self.problems) or "invalid input")


@dataclass
class ProblemList:
    """Accumulates problems while reading one input; raise once at the end."""

    problems: list[Problem] = field(default_factory=list)

    def error(self, file: str, line: int | None, path: str, message: str) -> None:
        self.problems.append(Problem(file, line, path, message, "error"))

    def warn(self, file: str, line: int | None, path: str, message: str) -> None:
        self.problems.append(Problem(file, line, path, message, "warning"))

    def extend(self, problems: Iterable[Problem]) -> None:
        self.problems.extend(problems)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity != "error"]

    def raise_if_errors(self) -> None:
        if self.errors:
            raise ScenarioError(self.problems)


def did_you_mean(name: str, allowed: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest allowed name, or ``""``."""
    close = difflib.get_close_matches(name, list(allowed), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
