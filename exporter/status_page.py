"""The status page at `/`: a header with the exporter's settings, counts per state, and a
table of Pages (filtered, searched and paged by query parameters), in the spirit of
Prometheus' /targets.

Every number comes from one StatusInputs read for the request. Names and error texts are
scrubbed and escaped; ids, states and times are ours.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode

from exporter import __version__
from exporter.durations import format_duration
from exporter.graph_client import without_credentials
from exporter.page_status import (
    FAILING,
    FILTERS,
    PROBLEM_STATES,
    STATES,
    PageRow,
    StatusInputs,
    classify_all,
    page_row,
    utc,
)
from exporter.redact import scrub
from exporter.snapshots import ErrorInfo
from exporter.status_assets import SCRIPT, STYLE

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_SEARCH_CHARS = 200
POLL_SECONDS = 5
_RANK = {state: rank for rank, state in enumerate(STATES)}


class QueryError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Query:
    show: str = "all"
    search: str = ""
    limit: int = DEFAULT_LIMIT
    offset: int = 0

    def link(self, **changes: str | int) -> str:
        """This query with some parameters changed, defaults left out."""
        values = {"show": self.show, "q": self.search, "limit": self.limit, "offset": self.offset}
        values.update(changes)
        defaults = {"show": "all", "q": "", "limit": DEFAULT_LIMIT, "offset": 0}
        kept = {k: v for k, v in values.items() if v != defaults[k]}
        return "?" + urlencode(kept) if kept else "./"


def parse_query(query_string: str) -> Query:
    """The page's parameters; QueryError naming the bad one. Unknown parameters are ignored."""
    try:
        params = parse_qs(query_string, keep_blank_values=True, max_num_fields=20)
    except ValueError:
        raise QueryError("too many query parameters") from None
    show = _first(params, "show") or "all"
    if show not in FILTERS:
        raise QueryError(f"show={show!r} is not one of {', '.join(FILTERS)}")
    # A token typed into the search box is not echoed back in the page's links.
    search = scrub(_first(params, "q").strip())
    if len(search) > MAX_SEARCH_CHARS:
        raise QueryError(f"q is longer than {MAX_SEARCH_CHARS} characters")
    limit = _whole(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = _whole(params, "offset", 0, 0, 10**9)
    return Query(show, search, limit, offset)


def _first(params: dict[str, list[str]], name: str) -> str:
    values = params.get(name)
    return values[0] if values else ""


def _whole(params: dict[str, list[str]], name: str, default: int, low: int, high: int) -> int:
    text = _first(params, name)
    if text == "":
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise QueryError(f"{name}={text!r} must be a whole number from {low} to {high}")
    return int(text)


@dataclass(frozen=True, slots=True)
class Selection:
    counts: dict[str, int]  # state -> Pages in it, over all Pages
    matching: int  # Pages the filter and search let through
    rows: list[PageRow]  # the shown slice of them


def select(inputs: StatusInputs, query: Query) -> Selection:
    """Classify every Page (for the counts), keep those the query wants, most urgent first
    then by name, and build rows for the slice shown."""
    classified = classify_all(inputs)
    counts = dict.fromkeys(STATES, 0)
    for state, _ in classified:
        counts[state] += 1
    wanted = _wanted_states(query.show)
    needle = query.search.casefold()
    kept = [
        (_RANK[state], (snapshot.page.name or "").casefold(), snapshot.page.id, state, snapshot)
        for state, snapshot in classified
        if state in wanted
        and (not needle or needle in snapshot.page.id or needle in (snapshot.page.name or "").casefold())
    ]
    kept.sort()  # Page ids are unique: tuples never compare past the id
    shown = kept[query.offset:query.offset + query.limit]
    return Selection(counts, len(kept), [page_row(inputs, snapshot, state)
                                        for *_, state, snapshot in shown])


def _wanted_states(show: str) -> frozenset[str]:
    if show == "all":
        return frozenset(STATES)
    return PROBLEM_STATES if show == FAILING else frozenset({show})


def render(inputs: StatusInputs, query: Query) -> str:
    selection = select(inputs, query)
    now = inputs.now
    return f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Messenger Insights Exporter</title>
<noscript><meta http-equiv="refresh" content="60"></noscript>
<style>{STYLE}</style></head>
<body data-poll-seconds="{POLL_SECONDS}">
<header><h1>Messenger Insights Exporter</h1>
<nav><a href="metrics">Metrics</a><a href="-/healthy">Health</a><a href="-/ready">Readiness</a>\
<a href="status.json">status.json</a></nav></header>
<main id="status" data-now="{now:.3f}" data-generation="{_esc(inputs.generation)}">
{_demo_banner(inputs)}{_summary(inputs)}
{_counts(selection, query)}
{_find_form(query)}
{_table(selection, query, now)}
</main>
<p id="live">Updates itself every {POLL_SECONDS} s.</p>
<script>{SCRIPT}</script>
</body>
</html>
"""


def status_json(version: str, generation: str) -> bytes:
    """What the page's script polls: cheap, whatever the number of Pages."""
    return json.dumps({"version": version, "generation": generation}).encode() + b"\n"


def _demo_banner(inputs: StatusInputs) -> str:
    if not inputs.demo:
        return ""
    return ('<p class="demo" id="demo-banner"><strong>Demo.</strong> These Pages and their '
            "numbers come from the built-in Graph API simulator, not from Meta. For real Pages, "
            "see the README's <em>Real setup</em> and run with <code>--config.file</code>.</p>\n")


def _summary(inputs: StatusInputs) -> str:
    config = inputs.config
    api = config.graph_api
    refresh = config.refresh
    items = [
        ("Version", _esc(__version__)),
        ("Config", f"{_free(config.source)}, loaded {_time(inputs.reload.loaded_at, inputs.now)}"
                   f"{_reload_failure(inputs)}"),
        ("Graph API", f"<code>{_free(without_credentials(api.base_url))}</code>, version {_esc(api.version)}"),
        ("Refresh", f"every {format_duration(refresh.interval)}, "
                    f"stale after {format_duration(refresh.stale_after)}"),
        ("Shard", f"{inputs.shard_index} of {inputs.shard_count}" if inputs.shard_count > 1
                  else "one replica (no sharding)"),
        ("API usage high-water mark", _usage_peak(inputs)),
    ]
    if inputs.app_held_until > inputs.now:
        until = inputs.app_held_until
        items.append(("Rate limits", '<span class="alarm">the whole app is held until '
                                     f"{utc(until)[11:]} ({_time(until, inputs.now)})</span>"))
    rows = "".join(f'<dt>{name}</dt><dd id="summary-{_slug(name)}">{value}</dd>' for name, value in items)
    return f'<dl class="summary">{rows}</dl>'


def _reload_failure(inputs: StatusInputs) -> str:
    record = inputs.reload
    if record.failed_at is None:
        return ""
    first = (record.error or "").splitlines()[0] if record.error else ""
    return (f'; <span class="alarm" title="{_free(record.error or "")}">last reload failed '
            f"{_time(record.failed_at, inputs.now)}: {_free(_cut(first, 200))}</span> (still running "
            "the config loaded before)")


def _usage_peak(inputs: StatusInputs) -> str:
    peak = inputs.usage_peak
    if peak is None:
        return "no usage header seen yet"
    where = "app" if peak.source == "app" else f"{peak.source} {_free(peak.scope_id)}"
    return (f"{peak.ratio:.0%} ({_esc(peak.kind)}, {where}), {_time(peak.at, inputs.now)}; "
            f"the governor holds a scope at {inputs.config.graph_api.max_usage_ratio:.0%}")


def _counts(selection: Selection, query: Query) -> str:
    counts = selection.counts
    total = sum(counts.values())
    problems = sum(counts[s] for s in PROBLEM_STATES)
    parts = [_filter_link(query, "all", f"All {total}"),
             _filter_link(query, FAILING, f"Failing {problems}", "failing, stale or held")]
    parts.extend(_filter_link(query, state, f"{state.capitalize()} {counts[state]}")
                 for state in STATES if state != FAILING)
    return f'<p class="counts" id="counts">{"".join(parts)}</p>'


def _filter_link(query: Query, show: str, text: str, title: str = "") -> str:
    chosen = ' class="chosen"' if query.show == show else ""
    hover = f' title="{title}"' if title else ""
    href = _esc(query.link(show=show, offset=0))
    return f'<a{chosen}{hover} href="{href}" data-filter="{show}">{_esc(text)}</a>'


def _find_form(query: Query) -> str:
    options = "".join(
        f'<option value="{f}"{" selected" if f == query.show else ""}>{f}</option>' for f in FILTERS
    )
    return (f'<form class="find" method="get" action="./"><label>Find <input name="q" '
            f'value="{_free(query.search)}" placeholder="name or id" size="24"></label> '
            f'<label>show <select name="show">{options}</select></label> '
            f'<input type="hidden" name="limit" value="{query.limit}"> <button>Go</button></form>')


def _table(selection: Selection, query: Query, now: float) -> str:
    head = ("<tr><th>Page</th><th>State</th><th>Last success</th><th>Refresh took</th>"
            "<th>Next refresh</th><th>Token</th><th>Error</th></tr>")
    body = "\n".join(_row(row, now) for row in selection.rows)
    shown = len(selection.rows)
    first = query.offset + 1 if shown else 0
    if shown:
        caption = f"Pages {first} to {query.offset + shown} of {selection.matching}"
    else:
        caption = f"No Page matches (of {sum(selection.counts.values())})."
    return (f'<p id="range">{caption}</p>\n<table id="pages"><thead>{head}</thead>\n<tbody>\n'
            f"{body}\n</tbody></table>\n{_pager(selection, query)}")


def _pager(selection: Selection, query: Query) -> str:
    links = []
    if query.offset > 0:
        links.append(f'<a rel="prev" href="{_esc(query.link(offset=max(0, query.offset - query.limit)))}">'
                     f"← previous {query.limit}</a>")
    if query.offset + query.limit < selection.matching:
        links.append(f'<a rel="next" href="{_esc(query.link(offset=query.offset + query.limit))}">'
                     f"next {query.limit} →</a>")
    return f'<p class="pager">{"".join(links)}</p>' if links else ""


def _row(row: PageRow, now: float) -> str:
    name = f'<span class="name">{_free(row.name)}</span> ' if row.name else ""
    until = ""
    if row.held_until is not None:
        until = (f' <span class="until">by rate limits until {utc(row.held_until)[11:]} '
                 f"({_time(row.held_until, now)})</span>")
    token = row.token
    return (
        f'<tr class="{row.state}" data-page-id="{_esc(row.page_id)}" data-state="{row.state}">'
        f'<td class="page">{name}<span class="id">{_esc(row.page_id)}</span></td>'
        f'<td class="state"><span class="badge {row.state}">{row.state}</span>{until}</td>'
        f'<td class="last-success">{_time(row.last_success, now)}</td>'
        f'<td class="duration">{_duration(row.refresh_duration)}</td>'
        f'<td class="next-due">{_time(row.next_due, now, past="now")}</td>'
        f'<td class="token"><span class="token {token.state}" title="{_free(token.detail)}">'
        f"{_esc(token.text)}</span></td>"
        f'<td class="errors">{_error(row.error, now, "error", "")}'
        f'{_error(row.recovered_error, now, "recovered", "recovered; last error ")}</td>'
        "</tr>"
    )


def _error(error: ErrorInfo | None, now: float, css: str, lead: str) -> str:
    if error is None:
        return ""
    message = scrub(error.message)
    return (f'<div class="{css}">{lead}<code>{_esc(error.code)}</code> '
            f'<span class="message" title="{_esc(message)}">{_esc(_cut(message, 300))}</span> '
            f"({_time(error.at, now)})</div>")


def _time(timestamp: float | None, now: float, past: str | None = None) -> str:
    """<time> with the relative text, the absolute time on hover, and data-ts for the script."""
    if not timestamp:
        return '<span class="never">never</span>'
    extra = f' data-past="{past}"' if past is not None else ""
    return (f'<time datetime="{utc(timestamp)[:19].replace(" ", "T")}Z" title="{utc(timestamp)}" '
            f'data-ts="{timestamp:.3f}"{extra}>{relative(timestamp, now, past)}</time>')


def relative(timestamp: float, now: float, past: str | None = None) -> str:
    """"12 s ago", "in 3 min", "now"; the script computes the same text."""
    delta = timestamp - now
    if abs(delta) < 1:
        return "now"
    if delta > 0:
        return f"in {_span(delta)}"
    return past if past is not None else f"{_span(-delta)} ago"


def _span(seconds: float) -> str:
    if seconds < 60:
        return f"{int(seconds)} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} d"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.1f} s" if seconds < 60 else format_duration(round(seconds))


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _slug(text: str) -> str:
    return "-".join(text.lower().replace("-", " ").split())


def _esc(text: str) -> str:
    return html.escape(text)



def _free(text: str) -> str:
    """Text from outside (names, error messages, config values): scrubbed, then escaped."""
    return html.escape(scrub(text))
