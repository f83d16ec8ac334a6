"""What the package ships and what may import what: the simulator is in the package for
--demo, and only exporter/demo.py may import it; the tests' reference renderer is not in
the package."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "exporter"
SIMULATOR = "exporter.simulator"
MAY_IMPORT_THE_SIMULATOR = {"exporter/demo.py"}


def imported_modules(path: Path) -> set[str]:
    """Every module a file of the package imports, absolute, wherever in the file."""
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    return modules_in(path.read_text(encoding="utf-8"), package)


def modules_in(source: str, package: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def test_only_the_demo_imports_the_simulator() -> None:
    offenders = {
        str(path.relative_to(PACKAGE.parent)): sorted(m for m in imported_modules(path)
                                                     if m == SIMULATOR or m.startswith(SIMULATOR + "."))
        for path in sorted(PACKAGE.rglob("*.py"))
        if "simulator" not in path.relative_to(PACKAGE).parts
    }
    offenders = {file: modules for file, modules in offenders.items()
                 if modules and file not in MAY_IMPORT_THE_SIMULATOR}
    assert offenders == {}, "only exporter/demo.py may import the simulator"


def test_the_boundary_check_sees_every_form_of_import() -> None:
    forms = ("import exporter.simulator\n", "from exporter import simulator\n",
             "from exporter.simulator.server import Simulator\n", "from .simulator import Simulator\n",
             "def f() -> None:\n    from exporter.simulator import Simulator\n")
    for form in forms:
        assert any(m == SIMULATOR or m.startswith(SIMULATOR + ".") for m in modules_in(form, "exporter")), form
    assert modules_in("from ..simulator import Simulator\n", "exporter.config") >= {SIMULATOR}
    assert not any(m.startswith(SIMULATOR) for m in modules_in("import exporter.simulation_notes\n", "exporter"))


def test_the_demo_does_import_it() -> None:
    assert SIMULATOR in imported_modules(PACKAGE / "demo.py")


def test_the_reference_renderer_is_not_shipped() -> None:
    shipped = {path.stem for path in PACKAGE.rglob("*.py")}
    assert "collector" not in shipped and "reference_renderer" not in shipped
    for path in PACKAGE.rglob("*.py"):
        assert "InsightsCollector" not in path.read_text(encoding="utf-8"), path
