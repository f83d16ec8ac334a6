"""The shipped shape: console script, python -m, the Dockerfile's promises."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parent.parent


@pytest.mark.e2e
def test_console_script_and_module_entry_points() -> None:
    script = shutil.which("messenger-insights-exporter", path=str(Path(sys.executable).parent))
    assert script is not None, "the console script is not installed next to this Python"
    for command in ([script, "--version"], [sys.executable, "-m", "exporter", "--version"]):
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0
        assert result.stdout.startswith("messenger-insights-exporter, version ")


def test_dockerfile_is_multi_stage_slim_pinned_and_non_root() -> None:
    text = (REPO / "Dockerfile").read_text()
    bases = re.findall(r"^FROM\s+(\S+)", text, flags=re.MULTILINE)
    assert len(bases) == 2, "a build stage and a runtime stage"
    for base in bases:
        assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", base), f"{base} is not a pinned slim image"
    assert re.search(r"^USER\s+[1-9]\d*:[1-9]\d*$", text, flags=re.MULTILINE), "numeric non-root user"
    assert re.search(r'^ENTRYPOINT \["messenger-insights-exporter"\]$', text, flags=re.MULTILINE)
    assert re.search(r"^EXPOSE 10490$", text, flags=re.MULTILINE)
    assert "--help" in text, "the build runs a smoke test of the installed script"
    for copied in re.findall(r"^COPY (?!--from)(.+) \S+$", text, flags=re.MULTILINE):
        for path in copied.split():
            assert (REPO / path).exists(), f"Dockerfile copies {path}, which does not exist"
