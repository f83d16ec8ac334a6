"""Where a config value stands, and the problems and warnings found there, in file order."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from exporter import yaml_source


class Report:
    """Every problem and warning of one file, each naming its line and key path.

    They are given back in the order of the file, whatever order the sections were
    checked in: a problem without a line (a missing section) comes last.
    """

    def __init__(self, document: yaml_source.Located, source: str) -> None:
        self.document = document
        self.source = source
        self._problems: list[tuple[float, int, str]] = []
        self._warnings: list[tuple[float, int, str]] = []

    def problem(self, path: yaml_source.Path, message: str) -> None:
        self._problems.append(self._entry(path, message, len(self._problems)))

    def warn(self, path: yaml_source.Path, message: str) -> None:
        self._warnings.append(self._entry(path, message, len(self._warnings)))

    @property
    def problems(self) -> list[str]:
        return [text for *_, text in sorted(self._problems)]

    @property
    def warnings(self) -> list[str]:
        return [text for *_, text in sorted(self._warnings)]

    def _entry(self, path: yaml_source.Path, message: str, order: int) -> tuple[float, int, str]:
        line = self.document.line_of(path)
        place = f"{self.source}:{line}" if line is not None else self.source
        dotted = dotted_path(path)
        text = f"{place}: {dotted}: {message}" if dotted else f"{place}: {message}"
        return (float("inf") if line is None else line, order, text)


@dataclass(frozen=True, slots=True)
class At:
    """A place in the document (a key path) and the report its problems go to."""

    report: Report
    path: yaml_source.Path = ()

    def __truediv__(self, key: str | int) -> At:
        return At(self.report, (*self.path, key))

    def problem(self, message: str) -> None:
        self.report.problem(self.path, message)

    def warn(self, message: str) -> None:
        self.report.warn(self.path, message)


def dotted_path(path: yaml_source.Path) -> str:
    """`pages[1].metrics[0].name`: how a key path is written in messages."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def kind(value: Any) -> str:
    """What a wrong value is, for `got …` in a message."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"boolean {value}"
    for types, described in _KINDS:
        if isinstance(value, types):
            return described(value)
    return type(value).__name__


_KINDS: tuple[tuple[type | tuple[type, ...], Callable[[Any], str]], ...] = (
    ((int, float), lambda value: f"number {value}"),
    (str, lambda value: f"string {value!r}"),
    (list, lambda _: "a list"),
    (dict, lambda _: "a mapping"),
)
