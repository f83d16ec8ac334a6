"""The documentation: every relative link and anchor in README.md and docs/ resolves, the
README stays a short newcomer's path, and every alert has its runbook."""

from __future__ import annotations

from pathlib import Path

import pytest

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
