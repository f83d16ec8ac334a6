"""The regular-answer fast path of parse_insights says what the general reader says.

Answers are generated as the API lays them out (each end_time's rows together, oldest
first, the same breakdown rows at each), then bent: rows shuffled, dropped or repeated,
dimensions missing or not strings, values that are strings, booleans, objects, NaN,
negative or too large, end_times in other spellings or none. Whenever the fast path
answers, its result must be the general reader's, to the bit; whenever the general reader
raises, the fast path must have declined.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from exporter.insights_response import (
    MetricData,
    ResponseError,
    _parse_general,
    _regular,
    parse_insights,
)

SEP3 = 1788418800  # 2026-09-03T07:00:00Z
DAY = 86400
NAMES = ("page_messages_sent", "recurring_notifications_tokens", "page_fans_city", "other")
WANTED = NAMES[:3]
BREAKDOWNS: tuple[tuple[str, ...], ...] = (
    (), ("messaging_channel",), ("recurring_notifications_topic", "recurring_notifications_frequency"),
)
ODD_VALUES: tuple[Any, ...] = (2**53, 2**53 - 1, -(2**53), 10**400, -0.0, float("nan"), float("inf"), 1.5e308, True, None,
              "12", " 3 ", "abc", {}, {"a": 1, "b": 2.5}, [], -1)
ODD_DIMENSIONS: tuple[Any, ...] = (1, 2.5, True, None, [], "")
ODD_TIMES: tuple[Any, ...] = ("yesterday", "2026-09-04T07:00:00", None, True, [], "99999999999", SEP3 * 1.0)

NUMBER = st.integers(-3, 10**6) | st.floats(-1e6, 1e6, allow_nan=False) | st.sampled_from([0, 1, 0.25, 7])
VALUE = st.one_of(NUMBER, NUMBER, NUMBER, st.sampled_from(ODD_VALUES))
DIMENSION = st.one_of(*[st.sampled_from(["messenger", "instagram", "weekly", "a"])] * 4,
                      st.sampled_from(ODD_DIMENSIONS))


def spelled(when: int, form: str) -> Any:
    """One end_time as the API may write it."""
    if form == "unix":
        return str(when)
    if form == "int":
        return when
    day = (when - SEP3) // DAY + 3
    if form == "offset":  # the same instant at UTC-7
        return f"2026-09-{day:02d}T00:00:00-07:00"
    return f"2026-09-{day:02d}T07:00:00+0000"


@st.composite
def entries(draw: st.DrawFn, breakdowns: tuple[str, ...]) -> dict[str, Any]:
    days = draw(st.integers(0, 4))
    label_rows = draw(st.lists(st.tuples(*[DIMENSION] * len(breakdowns)), min_size=1, max_size=3))
    form = draw(st.sampled_from(["iso", "iso", "unix", "int", "offset"]))
    rows: list[Any] = [
        {"value": draw(VALUE), "end_time": spelled(SEP3 + day * DAY, form), **dict(zip(breakdowns, labels, strict=True))}
        for day in range(days) for labels in label_rows
    ]
    bend = draw(st.sampled_from(["none"] * 6 + ["shuffle", "reverse", "drop", "repeat", "missing", "extra",
                                                "time", "not a row", "mixed spelling"]))
    if rows and bend != "none":
        index = draw(st.integers(0, len(rows) - 1))
        bent(rows, bend, index, draw)
    entry: dict[str, Any] = {"name": draw(st.sampled_from(NAMES)), "values": rows}
    period = draw(st.sampled_from(["day", "day", "week", None]))
    if period is not None:
        entry["period"] = period
    return entry


def bent(rows: list[Any], bend: str, index: int, draw: st.DrawFn) -> None:
    row = rows[index]
    if bend == "shuffle":
        rows[:] = draw(st.permutations(rows))
    elif bend == "reverse":
        rows.reverse()
    elif bend == "drop":
        del rows[index]
    elif bend == "repeat":
        rows.insert(index, dict(row))
    elif bend == "missing":
        row.pop(draw(st.sampled_from(sorted(row))))
    elif bend == "extra":
        row[draw(st.sampled_from(["title", "messaging_channel", "id"]))] = draw(VALUE)
    elif bend == "time":
        row["end_time"] = draw(st.sampled_from(ODD_TIMES))
    elif bend == "not a row":
        rows[index] = draw(st.sampled_from([None, [], "x", 3]))
    elif bend == "mixed spelling":
        row["end_time"] = spelled(SEP3 + 3 * DAY, draw(st.sampled_from(["unix", "int", "offset"])))


@st.composite
def answers(draw: st.DrawFn) -> tuple[Any, tuple[str, ...], dict[str, int] | None]:
    breakdowns = draw(st.sampled_from(BREAKDOWNS))
    document = {"data": draw(st.lists(entries(breakdowns), max_size=3)), "paging": {}}
    baselines = draw(st.none() | st.dictionaries(st.sampled_from(NAMES), st.integers(-1, 6)))
    return document, breakdowns, baselines


def exactly(result: dict[str, MetricData]) -> dict[str, tuple[Any, ...]]:
    """Everything a MetricData holds, the values as bytes (so -0.0 and 0.0 differ)."""
    return {name: (d.name, d.end_time, d.label_names, d.labels, d.values.typecode, d.values.tobytes(),
                   d.baseline_days, d.history) for name, d in result.items()}


def outcome(parse: Callable[[], dict[str, MetricData]]) -> tuple[str, Any]:
    try:
        return "ok", exactly(parse())
    except (ResponseError, KeyError) as exc:
        return type(exc).__name__, str(exc)


@settings(max_examples=200, deadline=None)
@given(answers(), st.sampled_from(["day", "week"]))
def test_the_fast_path_answers_as_the_general_reader_or_declines(
    answer: tuple[Any, tuple[str, ...], dict[str, int] | None], period: str,
) -> None:
    document, breakdowns, baselines = answer
    general = outcome(lambda: _parse_general(document, WANTED, period, breakdowns, baselines, history=False))
    for _ in range(2):  # the second time, what the first worked out is reused
        fast = _regular(document, WANTED, period, breakdowns, baselines)
        if fast is not None:
            assert ("ok", exactly(fast)) == general
        assert outcome(lambda: parse_insights(document, WANTED, period, breakdowns, baselines)) == general
    event("fast path" if fast is not None else f"general reader: {general[0]}")


def test_regular_answers_take_the_fast_path() -> None:
    """The layout of the API's answers (and the simulator's): each day's rows together."""
    days = [f"2026-09-{day:02d}T07:00:00+0000" for day in range(1, 9)]
    rows = [{"value": n + len(channel), "end_time": when, "messaging_channel": channel}
            for n, when in enumerate(days) for channel in ("messenger", "instagram")]
    document = {"data": [{"name": name, "period": "day", "values": rows} for name in WANTED[:2]]}
    fast = _regular(document, WANTED, "day", ("messaging_channel",), dict.fromkeys(WANTED, 7))
    assert fast is not None
    assert exactly(fast) == exactly(parse_insights(document, WANTED, "day", ("messaging_channel",),
                                                   dict.fromkeys(WANTED, 7)))
    sent = fast["page_messages_sent"]
    assert dict(sent.series) == {("messenger",): 16.0, ("instagram",): 16.0}
    assert dict(sent.baseline) == {("messenger",): 12.0, ("instagram",): 12.0}  # (15 + 14 + … + 9) / 7


def regular_rows() -> list[dict[str, Any]]:
    return [{"value": 1, "end_time": f"2026-09-0{day}T07:00:00+0000", "messaging_channel": channel}
            for day, channel in itertools.product((3, 4), ("messenger", "instagram"))]


Bend = Callable[[list[Any]], object]


def _set(key: str, value: Any, *indexes: int) -> Bend:
    def bend(rows: list[Any]) -> None:
        for index in indexes or (1,):
            rows[index][key] = value
    return bend


IRREGULAR: dict[str, Bend] = {
    "a row dropped": lambda rows: rows.pop(1),
    "a row repeated": lambda rows: rows.append(dict(rows[0])),
    "days newest first": lambda rows: rows.reverse(),
    "a dimension missing": lambda rows: rows[1].pop("messaging_channel"),
    "a dimension not a string": _set("messaging_channel", 7),
    "a numeric string": _set("value", "12"),
    "a boolean": _set("value", True),
    "2**53": _set("value", 2**53),
    "NaN": _set("value", float("nan")),
    "a negative count": _set("value", -1),
    "an object value": _set("value", {"a": 1}),
    "a day's end_time spelled two ways": _set("end_time", "1788505200", 3),
    "two days spelled as one instant": _set("end_time", "2026-09-03T00:00:00-07:00", 2, 3),
    "a row not an object": lambda rows: rows.insert(1, None),
}


def test_irregular_answers_are_left_to_the_general_reader() -> None:
    document = {"data": [{"name": "page_messages_sent", "values": regular_rows()}]}
    assert _regular(document, WANTED, "day", ("messaging_channel",), None) is not None
    for what, bend in IRREGULAR.items():
        rows = regular_rows()
        bend(rows)
        document = {"data": [{"name": "page_messages_sent", "values": rows}]}
        assert _regular(document, WANTED, "day", ("messaging_channel",), None) is None, what
