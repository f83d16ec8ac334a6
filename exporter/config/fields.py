"""A config section described as a table of fields, read in one helper.

Each `Field` names a key, the reader that checks its value (type and bounds), and the
value it takes when the key is absent. `Either` is a group of keys of which at most one
may be set. A `Section` reads a mapping by its table, reports unknown keys (with a
suggestion when one is close), applies its cross-field rules, and builds its frozen
dataclass from the values, whose names are the dataclass's fields.

A reader returns the value, or None after reporting why the value is wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from exporter.config.report import At, kind
from exporter.suggestions import close_matches

T = TypeVar("T")
Reader = Callable[[Any, At], T | None]


class Values:
    """The values read from one mapping, by name; a wrong value is left out and remembered."""

    def __init__(self) -> None:
        self._read: dict[str, Any] = {}
        self._wrong: set[str] = set()
        self._given: set[str] = set()

    def put(self, name: str, value: Any, *, given: bool) -> None:
        """A value read from the file (given; None means wrong) or a default."""
        if given:
            self._given.add(name)
            if value is None:
                self._wrong.add(name)
                return
        self._read[name] = value

    def refuse(self, name: str, at: At, message: str) -> None:
        """A value its reader accepted but a rule does not: reported at `at`, then left out."""
        at.problem(message)
        self._read.pop(name, None)
        self._wrong.add(name)

    def given(self, name: str) -> bool:
        """The file set this key (right or wrong)."""
        return name in self._given

    def valid(self, *names: str) -> bool:
        """Every one of these values is known and right (given or defaulted)."""
        return all(name in self._read for name in names)

    def __getitem__(self, name: str) -> Any:
        return self._read[name]

    def get(self, name: str, fallback: Any) -> Any:
        """The value if it is right, else fallback (to go on checking what depends on it)."""
        return self._read.get(name, fallback)

    @property
    def ok(self) -> bool:
        return not self._wrong

    def as_fields(self) -> dict[str, Any]:
        return dict(self._read)


@dataclass(frozen=True, slots=True)
class Field(Generic[T]):
    """One key: the reader of its value, and its value when absent.

    A required field reports its absence through its reader, which gets None; `default_of`
    works the default out from the values read before it (stale_after from interval).
    """

    key: str
    read: Reader[T]
    default: T | None = None
    required: bool = False
    default_of: Callable[[Values], T] | None = None

    @property
    def keys(self) -> tuple[str, ...]:
        return (self.key,)

    def fill(self, section: Mapping[Any, Any], at: At, values: Values) -> None:
        if self.key in section or self.required:
            values.put(self.key, self.read(section.get(self.key), at / self.key), given=True)
        elif self.default_of is None:
            values.put(self.key, self.default, given=False)
        elif values.ok:
            values.put(self.key, self.default_of(values), given=False)


@dataclass(frozen=True, slots=True)
class Either(Generic[T]):
    """Keys of which at most one may be set, each read into the same value (name)."""

    name: str
    readers: Mapping[str, Reader[T]]
    default: T | None = None
    # What to say when none is set, if one must be.
    missing: str | None = None

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(self.readers)

    def fill(self, section: Mapping[Any, Any], at: At, values: Values) -> None:
        given = [key for key in self.readers if key in section]
        if len(given) > 1:
            values.refuse(self.name, at, f"set {' or '.join(self.keys)}, not both")
        elif given:
            key = given[0]
            values.put(self.name, self.readers[key](section[key], at / key), given=True)
        elif self.missing is not None:
            values.refuse(self.name, at, self.missing)
        else:
            values.put(self.name, self.default, given=False)


Entry = Field[Any] | Either[Any]
Rule = Callable[[Values, At], None]


@dataclass(frozen=True, slots=True)
class Section(Generic[T]):
    """A mapping read by its table, checked by its rules and built into T (absent: all defaults)."""

    build: Callable[..., T]
    table: tuple[Entry, ...]
    rules: tuple[Rule, ...] = ()
    # Keys this section knows but reads elsewhere.
    also: tuple[str, ...] = field(default=())

    def __call__(self, raw: Any, at: At) -> T | None:
        values = self.values(raw, at)
        if values is None or not values.ok:
            return None
        return self.build(**values.as_fields())

    def values(self, raw: Any, at: At) -> Values | None:
        """The values of the mapping, rules applied; None when it is not a mapping."""
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            at.problem(f"must be a mapping, got {kind(raw)}")
            return None
        known = [key for entry in self.table for key in entry.keys] + list(self.also)
        for key in raw:
            if key not in known:
                (at / key).problem(f"unknown key{suggestion(str(key), known)}")
        values = Values()
        for entry in self.table:
            entry.fill(raw, at, values)
        for rule in self.rules:
            rule(values, at)
        return values


def suggestion(word: str, choices: Iterable[str]) -> str:
    """` (did you mean X?)` when a choice is close to word, else nothing."""
    close = close_matches(word, choices, limit=1)
    return f" (did you mean {close[0]}?)" if close else ""
