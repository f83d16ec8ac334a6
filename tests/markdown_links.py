"""Links and anchors of the project's Markdown files, resolved as GitHub renders them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
# [text](target) and ![alt](target), not inside inline code; an optional "title" is ignored.
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_INLINE_CODE = re.compile(r"`[^`]*`")
_HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"")


def markdown_files() -> list[Path]:
    """README.md, CHANGELOG.md, every Markdown file under docs/, and the READMEs beside the
    code (bench/, deploy/kubernetes/)."""
    files = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted(DOCS.rglob("*.md")),
             ROOT / "bench" / "README.md", ROOT / "deploy" / "kubernetes" / "README.md"]
    return [path for path in files if path.exists()]


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) of the lines outside fenced code blocks."""
    lines, fenced = [], False
    for number, line in enumerate(text.splitlines(), start=1):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line))
    return lines


def github_slug(heading: str) -> str:
    """The fragment GitHub gives a heading: the text as rendered (no Markdown), lowercased,
    punctuation other than '-' and '_' dropped, spaces made '-'."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)   # a link's text only
    text = re.sub(r"<[^>]+>", "", text)                          # inline HTML tags
    text = text.replace("`", "").replace("*", "")
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every fragment that leads somewhere in a Markdown file: its headings' slugs, with
    GitHub's -1, -2 … on repeats, and explicit <a name/id> anchors."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    for _, line in prose_lines(path.read_text(encoding="utf-8")):
        found.update(_HTML_ANCHOR.findall(line))
        match = _HEADING.match(line)
        if not match:
            continue
        slug = github_slug(match.group(2))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


@dataclass(frozen=True)
class Link:
    source: Path
    line: int
    target: str

    def where(self) -> str:
        return f"{self.source.relative_to(ROOT)}:{self.line}: {self.target}"


def links(path: Path) -> list[Link]:
    """The links of a Markdown file outside code: inline links and images."""
    found = []
    for number, line in prose_lines(path.read_text(encoding="utf-8")):
        for target in _LINK.findall(_INLINE_CODE.sub("", line)):
            found.append(Link(path, number, target))
    return found


def is_external(target: str) -> bool:
    return re.match(r"^[a-z][a-z0-9+.-]*:", target) is not None


def problem(link: Link) -> str | None:
    """Why a relative link or anchor does not resolve, or None when it does."""
    if is_external(link.target):
        return None
    path_part, _, fragment = link.target.partition("#")
    target = link.source if path_part == "" else (link.source.parent / unquote(path_part)).resolve()
    if not target.exists():
        return "no such file"
    if ROOT not in target.parents and target != ROOT:
        return "points outside the repository"
    return None if fragment == "" else anchor_problem(target, fragment)


def anchor_problem(target: Path, fragment: str) -> str | None:
    """Why `#fragment` names no heading of the file, or None when it does."""
    if target.suffix != ".md" or target.is_dir():
        return f"an anchor on a file that is not Markdown: {target.name}"
    if unquote(fragment) not in anchors(target):
        return f"no heading with anchor #{fragment} in {target.relative_to(ROOT)}"
    return None
