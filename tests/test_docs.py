"""The documentation: every relative link and anchor in README.md and docs/ resolves, the
README stays a short newcomer's path, and every alert has its runbook."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.catalog import CATALOG, RENAMED, exported_name
from tests.conftest import exporter_env
from tests.inprocess import run_cli
from tests.markdown_links import (
    DOCS,
    ROOT,
    Link,
    anchors,
    github_slug,
    links,
    markdown_files,
    problem,
)

README = ROOT / "README.md"
README_MAX_LINES = 400
DOCS_TOPICS = ("configuration", "metrics", "runbooks", "architecture", "performance",
               "reliability-security", "scaling", "simulator", "development")


def test_every_relative_link_and_anchor_resolves() -> None:
    broken = [f"{link.where()} ({why})" for path in markdown_files() for link in links(path)
              if (why := problem(link)) is not None]
    assert broken == [], "broken links:\n" + "\n".join(broken)


def test_the_checker_finds_links_in_readme_and_every_doc() -> None:
    checked = {path for path in markdown_files() for _ in links(path)}
    assert README in checked
    assert {DOCS / f"{topic}.md" for topic in DOCS_TOPICS} <= set(markdown_files())


@pytest.mark.parametrize(("heading", "slug"), [
    ("Real setup", "real-setup"),
    ("The exporter's own metrics", "the-exporters-own-metrics"),
    ("`graph_api`", "graph_api"),
    ("Secrets: Page tokens, the app secret and the discovery token",
     "secrets-page-tokens-the-app-secret-and-the-discovery-token"),
    ("5. Scrape it and load the rules and alerts", "5-scrape-it-and-load-the-rules-and-alerts"),
    ("Rounds and scheduling", "rounds-and-scheduling"),
    ("MessengerInsightsTokenInvalid", "messengerinsightstokeninvalid"),
    ("Prometheus 2.x → 3.x", "prometheus-2x--3x"),
])
def test_github_slugs(heading: str, slug: str) -> None:
    assert github_slug(heading) == slug


def test_the_checker_catches_a_missing_file_a_missing_anchor_and_a_repeat(tmp_path: Path) -> None:
    page = DOCS / "metrics.md"
    assert problem(Link(page, 1, "nowhere.md")) == "no such file"
    assert problem(Link(page, 1, "#no-such-heading")) is not None
    assert problem(Link(page, 1, "../README.md#quick-start")) is None
    assert problem(Link(page, 1, "https://example.com/#anything")) is None
    doubled = tmp_path / "doubled.md"
    doubled.write_text("# Title\n\n## Notes\n\n```sh\n# not a heading\n```\n\n## Notes\n")
    assert anchors(doubled) == {"title", "notes", "notes-1"}


def test_readme_is_a_short_path_from_clone_to_alert() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= README_MAX_LINES
    for step in ("make demo", "make test", "--check-config", "rule_files", "rules.yml",
                 "alerts.yml", "grafana/dashboards", "scrape_configs"):
        assert step in text, f"the README's newcomer path lost {step!r}"


# -- Everything that exists is listed, and everything listed exists ----------------------

def run_exporter(*args: str) -> str:
    result = run_cli(*args, env=exporter_env())
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_every_flag_is_in_the_readme_flag_table_and_every_row_is_a_flag() -> None:
    flags = set(re.findall(r"^\s{2}(--[a-z][\w.-]*)", run_exporter("--help"), re.MULTILINE)) - {"--help"}
    text = README.read_text(encoding="utf-8")
    table = re.search(r"^\| Flag \| Default \| Meaning \|\n((?:\|.*\n)+)", text, re.MULTILINE)
    assert table, "the README has no flag table (| Flag | Default | Meaning |)"
    rows = re.findall(r"^\| `(--[a-z][\w.-]*?)(?:=[^`]*)?`", table.group(1), re.MULTILINE)
    assert set(rows) - {"--help"} == flags
    assert "| `-h`, `--help` |" in table.group(1)


def test_every_metric_of_the_demo_is_in_the_metrics_doc_and_every_row_is_served() -> None:
    served = set(re.findall(r"^# TYPE (\S+) ", run_exporter("--demo", "--once"), re.MULTILINE))
    metrics_doc = (DOCS / "metrics.md").read_text(encoding="utf-8")
    catalog_rows = set(re.findall(r"^\| `([a-z_]+)`", metrics_doc, re.MULTILINE))
    assert set(CATALOG) <= catalog_rows, "a catalog metric has no row in docs/metrics.md"
    insights = {exported_name(m) + suffix: m for m in CATALOG for suffix in ("", "_baseline")}
    undocumented = sorted(name for name in served
                          if name not in insights and f"`{name}`" not in metrics_doc)
    assert undocumented == [], f"served but not in docs/metrics.md: {undocumented}"
    for metric in RENAMED:
        assert f"`{exported_name(metric)}`" in metrics_doc, f"docs/metrics.md does not name {metric}'s export"
    own_rows = set(re.findall(r"^\| `(messenger_insights_\w+)`", metrics_doc, re.MULTILINE))
    assert own_rows, "docs/metrics.md has no table of the exporter's own metrics"
    assert sorted(own_rows - served) == [], "listed in docs/metrics.md but not served by --demo"


def config_reference() -> dict[str, list[str]]:
    """The keys each section of docs/configuration.md lists in its table, by section heading."""
    sections: dict[str, list[str]] = {}
    heading = ""
    for line in (DOCS / "configuration.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            heading = line[3:].strip()
        elif (row := re.match(r"^\| `([a-z_]+)` \|", line)) and heading:
            sections.setdefault(heading, []).append(row.group(1))
    return sections


def test_every_key_the_configuration_doc_lists_is_one_the_loader_knows(tmp_path: Path) -> None:
    sections = config_reference()
    where = {"`graph_api`": "graph_api", "`refresh`": "refresh", "`defaults`": "defaults",
             "`pages[]`": "pages", "`discovery`": "discovery", "`shard`": "shard",
             "`metrics[]` entries": "metrics"}
    assert set(where) | {"Top level"} == set(sections), "a section of docs/configuration.md moved"
    assert set(sections["Top level"]) == set(where.values())
    # Every listed key at once, each with a value of the wrong kind: the loader must object to
    # the values, never say that a key is unknown.
    document: dict[str, Any] = {where[heading]: {key: ["?"] for key in keys}
                for heading, keys in sections.items() if heading != "Top level"}
    document["pages"] = [document["pages"]]
    document["metrics"] = [document["metrics"]]
    config = tmp_path / "every-key.yaml"
    config.write_text(yaml.safe_dump(document), encoding="utf-8")
    result = run_cli(f"--config.file={config}", "--check-config", env=exporter_env())
    assert result.returncode == 1 and "error" in result.stderr, result.stderr
    assert "unknown key" not in result.stdout + result.stderr, result.stderr


def test_every_key_of_the_example_config_is_in_the_configuration_doc() -> None:
    listed = {key for keys in config_reference().values() for key in keys}
    example = yaml.safe_load((ROOT / "config.example.yaml").read_text(encoding="utf-8"))

    def keys(node: object) -> set[str]:
        if isinstance(node, dict):
            return {str(k) for k in node} | {k for v in node.values() for k in keys(v)}
        if isinstance(node, list):
            return {k for item in node for k in keys(item)}
        return set()

    assert keys(example) - listed == set()
