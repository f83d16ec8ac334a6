"""The config's YAML reads the same whichever composer reads it: libyaml or PyYAML's own.

libyaml composes the texts both read alike (a large config in a tenth of the time); every
other text, and every text either refuses, is read by PyYAML's composer, whose messages
the error texts are made of.
"""

from __future__ import annotations

import json
from pathlib import Path
from unittest import mock

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter import yaml_source
from exporter.yaml_source import Located, YamlSourceError

REPO = Path(__file__).parent.parent
TEXTS = sorted([*(REPO / "tests" / "conffiles").glob("*.yaml"), REPO / "config.example.yaml"])
needs_libyaml = pytest.mark.skipif(not yaml.__with_libyaml__, reason="this PyYAML has no libyaml")

Outcome = tuple[str, object, object]


def outcome(text: str) -> Outcome:
    try:
        located = yaml_source.parse(text, "c.yaml")
    except YamlSourceError as exc:
        return ("refused", str(exc), None)
    return ("read", located.data, located.lines)


def by_pyyaml(text: str) -> Outcome:
    """What PyYAML's composer alone makes of the text (as without libyaml)."""
    with mock.patch.object(yaml_source, "_LIBYAML_LOADER", None):
        return outcome(text)


@pytest.mark.parametrize("path", TEXTS, ids=[p.stem for p in TEXTS])
def test_project_configs_read_alike(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert outcome(text) == by_pyyaml(text)


def bench_shaped(pages: int) -> str:
    """A config as bench/run.py writes it: JSON, one line per Page."""
    document = {"graph_api": {"base_url": "http://127.0.0.1:9", "batch_size": 50},
                "refresh": {"interval": "15m"}, "defaults": {"access_token_env": "T"},
                "metrics": ["page_messages_sent", {"name": "page_messages_sent",
                                                   "breakdowns": ["messaging_channel"]}],
                "pages": [{"id": f"9{n:014d}", "name": f"Bench Page {n}",
                           "access_token_file": f"/run/t/{n}"} for n in range(1, pages + 1)]}
    return json.dumps(document, indent=1) + "\n"


@needs_libyaml
def test_a_large_plain_config_is_read_by_libyaml_with_every_line(monkeypatch: pytest.MonkeyPatch) -> None:
    text = bench_shaped(200)
    located = yaml_source._read_by_libyaml(text, "c.yaml")
    assert isinstance(located, Located)
    assert outcome(text) == by_pyyaml(text) == ("read", located.data, located.lines)
    assert located.lines[("pages", 199, "name")] == text.splitlines().index('   "name": "Bench Page 200",') + 1


@needs_libyaml
@pytest.mark.parametrize("text", [
    "a:\tb\n",  # libyaml takes a tab after ': ', PyYAML refuses it
    "k: 1\n  \tv\n",
    "u: {base: http://x?a=1}\n",  # `?` inside a flow collection
    "k: |#\n",
    "k: !\n",  # a bare tag: libyaml reads '', PyYAML null
    "\n\ufeffk: v\n",  # a byte-order mark after the start
    "---\n",  # an empty document: libyaml puts it on line 2
    "k: " + "[" * 1100 + "]" * 1100 + "\n",  # deeper than libyaml goes
    "k: v\nk: w\n",  # a duplicate key: this module's refusal
    "k: '\ud800'\n",  # libyaml cannot even take it
])
def test_where_libyaml_differs_or_refuses_pyyaml_decides(text: str) -> None:
    assert yaml_source._read_by_libyaml(text, "c.yaml") is None
    assert outcome(text) == by_pyyaml(text)


FRAGMENTS = ["pages:", "  - id: 1", "    name: x", "metrics:", "  - page_messages_sent",
             "  - {name: a, help: b}", "refresh: {interval: 1m}", "&a [*a]", "*b", "? [1]", ": x",
             "\t", "- !!binary AA", "---", "%YAML 1.1", "'", "{", "a:\tb", "{a:b}", "[a?b]", "k: |#",
             "k: !", "x: 'it''s'", "...", "#c", "k: |", "  lit", "a: &x 1", "<<: *x", "a: b: c",
             "z: @x", "- -", "k: v#c", "k:", "k: 2001-12-14", "k: !!timestamp x", "k: 0x1F", "k: 1:20", "k: -", "  - x",
             "    - y", "k: [a,", "b]", "\ufeffk: v", "k: 'é\u2028x'", "1: 2", "k: ~"]


@needs_libyaml
@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=8))
def test_any_fragments_read_alike(lines: list[str]) -> None:
    text = "\n".join(lines)
    assert outcome(text) == by_pyyaml(text)


@pytest.mark.parametrize(("text", "message"), [
    ("k: !!timestamp nonsense\n", "c.yaml:1: invalid value: 'nonsense' is not a !!timestamp"),
    ("k: !!timestamp 2001-13-45\n", "c.yaml:1: invalid value: month must be in 1..12"),
])
def test_a_bad_explicit_scalar_is_refused_with_its_line(text: str, message: str) -> None:
    assert outcome(text) == ("refused", message, None) == by_pyyaml(text)
