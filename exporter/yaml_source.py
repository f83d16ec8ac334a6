"""YAML parsing that remembers where each value stood, so config errors can name a line.

`yaml.safe_load` forgets positions and silently keeps the last of two duplicate keys;
this walks the composed node tree instead, keeping a line number for every path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from exporter import yaml_errors

Path = tuple[str | int, ...]

# Aliases can expand a small file into a huge tree ("billion laughs"); a config never
# legitimately needs more nodes than this.
MAX_NODES = 100_000
_MERGE_TAG = "tag:yaml.org,2002:merge"
_PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")
_STR_TAG = "tag:yaml.org,2002:str"


class YamlSourceError(Exception):
    """The text is not a YAML document this project accepts; message names the line."""


@dataclass(slots=True)
class Located:
    """A parsed document and the 1-based line of every path in it."""

    data: Any
    lines: dict[Path, int] = field(default_factory=dict)

    def line_of(self, path: Path) -> int | None:
        """Line of the path, or of its nearest ancestor that has one."""
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            path = path[:-1]


def parse(text: str, source: str) -> Located:
    """The document and the line of every path in it.

    libyaml composes it when PyYAML has it (0.3 s instead of 3 s for 10,000 Pages), if it
    is a text both composers read alike. Any other text, and any text libyaml or this module
    refuses, is read by PyYAML's own composer, whose messages and marks the error texts are
    made of: what a user sees of a bad file does not depend on libyaml. Without libyaml (a
    PyYAML built without it) every text takes that path, with the same result, slower.
    """
    located = _read_by_libyaml(text, source)
    if located is not None:
        return located
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is None:
            raise YamlSourceError(f"{source}: the file is empty")
        return _located(node, source, text)
    except yaml.YAMLError as exc:
        raise YamlSourceError(yaml_errors.describe(exc, source, text)) from None
    except RecursionError:
        raise YamlSourceError(f"{source}: the document is nested too deeply") from None


# PyYAML defines CSafeLoader only when its libyaml binding loaded (yaml.__with_libyaml__).
_LIBYAML_LOADER: type[yaml.CSafeLoader] | None = getattr(yaml, "CSafeLoader", None)
# Where libyaml accepts, or reads otherwise, what PyYAML's composer refuses: tabs in values
# and continuation lines, a byte-order mark after the start, tags (a bare `!`), `?` inside a
# flow collection (`{url: http://x?a=1}`), a `#` right after a block scalar's `|` or `>`.
# A config holds none of them as a rule; one that does is read by PyYAML alone.
_LIBYAML_DIFFERS = re.compile(r"[\t\ufeff!?]|[|>][-+0-9]*#")


def _read_by_libyaml(text: str, source: str) -> Located | None:
    """The document as libyaml composes it; None when it cannot say what PyYAML would."""
    if _LIBYAML_LOADER is None or _LIBYAML_DIFFERS.search(text) is not None:
        return None
    try:
        node = yaml.compose(text, Loader=_LIBYAML_LOADER)
        # A config is a mapping; libyaml places an empty document's null on another line.
        if not isinstance(node, yaml.MappingNode):
            return None
        return _located(node, source, text)
    except (yaml.YAMLError, YamlSourceError, UnicodeError, RecursionError):
        return None  # PyYAML's composer says why, in its words


def _located(node: yaml.Node, source: str, text: str) -> Located:
    walker = _Walker(source, text)
    data = walker.build(node, ())
    return Located(data, walker.lines)


class _Walker:
    def __init__(self, source: str, text: str) -> None:
        self.source = source
        self.text = text
        self.lines: dict[Path, int] = {}
        self.nodes = 0
        self.open: set[int] = set()  # collections being built: an alias back to one is a loop
        self.constructor = yaml.SafeLoader("")

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise YamlSourceError(
                f"{self.source}: the document expands to more than {MAX_NODES} values "
                "(aliases nested too deep?)"
            )
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node)
        if node.tag not in _PLAIN_TAGS:
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            raise YamlSourceError(f"{self.source}:{node.start_mark.line + 1}: unsupported YAML tag {tag}")
        if id(node) in self.open:
            raise YamlSourceError(f"{self.source}:{node.start_mark.line + 1}: an alias refers to itself")
        self.open.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        finally:
            self.open.discard(id(node))

    def _scalar(self, node: yaml.Node) -> Any:
        if node.tag == _STR_TAG:
            return node.value  # what SafeConstructor makes of a string, without its dispatch
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            raise YamlSourceError(yaml_errors.describe(exc, self.source, self.text)) from None
        except (ValueError, TypeError, OverflowError) as exc:
            line = node.start_mark.line + 1
            raise YamlSourceError(f"{self.source}:{line}: invalid value: {exc}") from None
        except AttributeError:  # PyYAML's !!timestamp on text that is not one
            line = node.start_mark.line + 1
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            raise YamlSourceError(f"{self.source}:{line}: invalid value: {node.value!r} is not a {tag}") from None

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        explicit: set[Any] = set()
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                self._merge(result, value_node, path)
                continue
            key = self._scalar(key_node) if isinstance(key_node, yaml.ScalarNode) else None
            line = key_node.start_mark.line + 1
            if not isinstance(key, str | int) or isinstance(key, bool):
                raise YamlSourceError(f"{self.source}:{line}: mapping keys must be plain names")
            if key in explicit:
                raise YamlSourceError(f"{self.source}:{line}: duplicate key {key!r}")
            explicit.add(key)
            child = (*path, key)
            self.lines[child] = line
            result[key] = self.build(value_node, child)
        return result

    def _merge(self, into: dict[Any, Any], node: yaml.Node, path: Path) -> None:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        for source in sources:
            merged = self.build(source, path)
            if not isinstance(merged, dict):
                line = source.start_mark.line + 1
                raise YamlSourceError(f"{self.source}:{line}: '<<' must merge a mapping")
            for key, value in merged.items():
                into.setdefault(key, value)
