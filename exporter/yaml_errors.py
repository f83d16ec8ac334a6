"""PyYAML's errors said where the problem is and how to fix it.

PyYAML reports a mis-indented line as "while parsing a block collection … expected
<block end>", placed at the start of the enclosing list, which can be many lines above.
The line that does not fit is where the parser stopped (the problem mark), and the usual
causes are a wrong indentation, a tab, or a `: ` inside an unquoted value.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

INDENT_HINT = ("hint: the keys of one mapping start in the same column, and so do the dashes of "
               "one list; indent with spaces, never tabs")
TAB_HINT = "hint: YAML indents with spaces only; replace the tab with spaces"
_BLOCKS = {"while parsing a block collection": "list", "while parsing a block mapping": "mapping"}
_FLOWS = {"while parsing a flow sequence": "[]", "while parsing a flow mapping": "{}"}


def describe(exc: yaml.YAMLError, source: str, text: str) -> str:
    """`file:line:column: invalid YAML: …`, at the line to fix, with a hint when one helps."""
    known = _known_cause(exc, text.splitlines())
    if known is not None:
        line, column, message = known
        return f"{source}:{line + 1}:{column + 1}: invalid YAML: {message}"
    problem_mark = getattr(exc, "problem_mark", None)
    context_mark = getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    # Otherwise at the construct that was left open (an unclosed quote), if any.
    if context_mark is not None and context:
        where = f"{source}:{context_mark.line + 1}:{context_mark.column + 1}"
        also = f" (line {problem_mark.line + 1})" if problem_mark is not None else ""
        return f"{where}: invalid YAML: {context}: {problem}{also}"
    if problem_mark is not None:
        return f"{source}:{problem_mark.line + 1}:{problem_mark.column + 1}: invalid YAML: {problem}"
    return f"{source}: invalid YAML: {problem}"


@dataclass(frozen=True, slots=True)
class _Failure:
    """Where PyYAML stopped (0-based line and column), and why."""

    problem: str
    context: str
    line: int
    column: int
    opened: yaml.Mark | None  # the construct being read, when PyYAML names one
    lines: list[str]


Cause = tuple[int, int, str]  # line, column (0-based) and message


def _known_cause(exc: yaml.YAMLError, lines: list[str]) -> Cause | None:
    """Where to fix the document and what to say, for the causes recognised; None for others."""
    mark = getattr(exc, "problem_mark", None)
    if mark is None:
        return None
    failure = _Failure(getattr(exc, "problem", None) or "", getattr(exc, "context", None) or "",
                       mark.line, mark.column, getattr(exc, "context_mark", None), lines)
    for cause in _CAUSES:
        found = cause(failure)
        if found is not None:
            return found
    return None


def _tab(failure: _Failure) -> Cause | None:
    if failure.problem.startswith("found character '\\t'"):
        return failure.line, failure.column, f"a tab character; {TAB_HINT}"
    return None


def _reserved_start(failure: _Failure) -> Cause | None:
    """`@` and a backquote cannot start a plain value."""
    if failure.problem.startswith("found character") and failure.problem.endswith("cannot start any token"):
        character = failure.problem.split()[2]
        return failure.line, failure.column, (f"a plain value cannot start with {character}; hint: put "
                                              "the value in quotes")
    return None


def _indentation(failure: _Failure) -> Cause | None:
    """A line that fits neither the block it follows nor the one around it: at the line itself."""
    if not failure.problem.startswith("expected <block end>") or failure.opened is None:
        return None
    kind = _BLOCKS.get(failure.context)
    if kind is None:
        return None
    block = f"the {kind} that starts at line {failure.opened.line + 1}, column {failure.opened.column + 1}"
    return failure.line, failure.column, (f"this line is not indented like the lines above it (in "
                                          f"{block}); {INDENT_HINT}")


def _unclosed_bracket(failure: _Failure) -> Cause | None:
    brackets = _FLOWS.get(failure.context)
    if brackets is None or failure.opened is None or not failure.problem.startswith("expected ','"):
        return None
    return failure.opened.line, failure.opened.column, (
        f"this {brackets[0]} is not closed before line {failure.line + 1}; hint: close it with "
        f"{brackets[1]}, or separate its items with commas"
    )


def _second_document(failure: _Failure) -> Cause | None:
    if failure.problem == "but found another document":
        return failure.line, failure.column, "a second document starts here; hint: a config file holds one document"
    return None


def _colon(failure: _Failure) -> Cause | None:
    if failure.problem == "mapping values are not allowed here" and failure.line < len(failure.lines):
        return _colon_in_value(failure.lines, failure.line, failure.column)
    return None


_CAUSES = (_tab, _reserved_start, _indentation, _unclosed_bracket, _second_document, _colon)


def _colon_in_value(lines: list[str], line: int, column: int) -> Cause | None:
    """A `: ` where YAML was reading a plain value: a second colon, or a line glued to the one above."""
    text = lines[line]
    if ": " in text[:column]:
        return line, column, ("a ': ' inside a value; hint: put the value in quotes "
                              "(name: \"a: b\") if it contains ': '")
    above = next((k for k in range(line - 1, -1, -1) if _content(lines[k])), None)
    if above is None:
        return None
    indent, indent_above = _indent(text), _indent(lines[above])
    if indent > indent_above:
        return line, indent, (f"this line is indented more than line {above + 1} above it, so it "
                              f"reads as the rest of that line's value; {INDENT_HINT}")
    if ":" not in lines[above]:
        return above, indent_above, (f"this line has no ':' after its key, so line {line + 1} reads as "
                                     "the rest of it; hint: write key: value")
    return None


def _content(text: str) -> bool:
    stripped = text.strip()
    return bool(stripped) and not stripped.startswith("#")


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip(" "))
