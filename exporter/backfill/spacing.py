"""How often a backfilled series gets a sample.

An instant query at t takes, per series, the newest sample in the lookback window before
t (5 minutes by default; (t-5m, t] in Prometheus 3, [t-5m, t] in 2.x). A day's value holds
from its `end_time` to the next day's, and every day (23, 24 or 25 hours long) is a whole
number of 5-minute steps. Samples at end_time, end_time+5m, ... therefore leave no moment
whose newest sample is 5 minutes old or more: the next sample always arrives first, and
at a day boundary it carries the new day's value. A wider spacing leaves moments with no
sample in the lookback window (the series would vanish from the graph), so 5 minutes is
the cheapest spacing that answers every instant query: 288 samples per series per day
(276 or 300 on the days daylight saving time starts or ends).
"""

from __future__ import annotations

SAMPLE_SPACING_SECONDS = 300
SAMPLES_PER_DAY = 86_400 // SAMPLE_SPACING_SECONDS


def sample_times(start: int, stop: int) -> range:
    """Unix seconds of the samples over [start, stop): from start, every spacing."""
    return range(start, stop, SAMPLE_SPACING_SECONDS)
