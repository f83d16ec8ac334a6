"""The shape the package keeps: no function in exporter/ is over 50 lines.

Ruff checks branches, returns, statements and complexity (PLR0911, PLR0912, PLR0915,
C901); it has no rule for length, so this test measures it with `ast`. A function's
lines run from its first decorator (or `def`) to its last line, docstring and nested
functions included.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "exporter"
MAX_LINES = 50


def long_functions(root: Path, limit: int = MAX_LINES) -> list[str]:
    """`path:line name (N lines)` for every function of the .py files under root over limit."""
    found = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                lines = (node.end_lineno or node.lineno) - first + 1
                if lines > limit:
                    found.append(f"{path.relative_to(root.parent)}:{node.lineno} {node.name} ({lines} lines)")
    return found


def test_no_function_in_the_package_is_over_50_lines() -> None:
    assert long_functions(PACKAGE) == []


def _function(name: str, body_lines: int, decorated: bool = False) -> str:
    head = "@staticmethod\n" if decorated else ""
    return head + f"def {name}() -> None:\n" + "    x = 1\n" * body_lines


def test_the_length_check_counts_from_the_first_decorator_to_the_last_line(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "a.py").write_text(_function("fits", 49) + "\n\n" + _function("too_long", 50))
    (package / "sub" / "b.py").write_text(
        "class C:\n" + "\n".join("    " + line for line in _function("method", 49, decorated=True).splitlines())
    )
    assert long_functions(package) == ["pkg/a.py:53 too_long (51 lines)", "pkg/sub/b.py:3 method (51 lines)"]
