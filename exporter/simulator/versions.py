"""Graph API versions: which one answers a request that asks for one.

graph-api.md, "Versions": "A version stops working two years after its successor ships;
calls to a dead version are served by the next live one, and the response header
`facebook-api-version` says which version answered."
"""

from __future__ import annotations

import datetime as dt
import re

from exporter.simulator.errors import GraphError

# Major version -> (released, usable until; None: not announced), from graph-api.md. v21's
# end follows the rule above: two years after v22 shipped. Older versions are dead.
_LIFETIMES: dict[int, tuple[dt.date, dt.date | None]] = {
    21: (dt.date(2024, 10, 2), dt.date(2027, 1, 21)),
    22: (dt.date(2025, 1, 21), dt.date(2027, 5, 20)),
    23: (dt.date(2025, 5, 29), dt.date(2027, 10, 8)),
    24: (dt.date(2025, 10, 8), dt.date(2028, 2, 18)),
    25: (dt.date(2026, 2, 18), dt.date(2028, 7, 29)),
    26: (dt.date(2026, 7, 29), None),
}
_VERSION = re.compile(r"v(\d{1,3})\.0")


def _live(major: int, today: dt.date) -> bool:
    released, until = _LIFETIMES[major]
    return released <= today and (until is None or today < until)


def unknown_version(version: str) -> GraphError:
    # What Meta answers for a version it never released is not recorded; a version is the
    # first path component, so this is its answer to a path it does not know.
    return GraphError(400, f"Unknown path components: /{version}", 2500)


def answering(version: str, now: float) -> str:
    """The version that answers a request for `version` at `now`; GraphError for a version
    Meta has not released (or a malformed one)."""
    match = _VERSION.fullmatch(version)
    today = dt.datetime.fromtimestamp(now, dt.UTC).date()
    if match is None:
        raise unknown_version(version)
    major = int(match.group(1))
    if major > max(_LIFETIMES) or (major in _LIFETIMES and _LIFETIMES[major][0] > today):
        raise unknown_version(version)
    if major in _LIFETIMES and _live(major, today):
        return version
    live = [known for known in sorted(_LIFETIMES) if known > major and _live(known, today)]
    if not live:
        raise unknown_version(version)
    return f"v{live[0]}.0"
