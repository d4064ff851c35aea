"""Periods of observations: a year (``2019``), a quarter (``2024-Q3``) or a month (``2024-07``)."""

from __future__ import annotations

import calendar
import re
from datetime import date

PERIOD_PATTERN = r"^[0-9]{4}(-Q[1-4]|-(0[1-9]|1[0-2]))?$"
_PERIOD = re.compile(PERIOD_PATTERN)


def is_period(text: str) -> bool:
    """Whether ``text`` is a period this platform understands."""
    return bool(_PERIOD.match(text))


def period_bounds(period: str) -> tuple[date, date]:
    """First and last day of ``period``; raise ValueError for anything else."""
    if not _PERIOD.match(period):
        raise ValueError(f"{period!r} is not a period (YYYY, YYYY-Qn or YYYY-MM)")
    year = int(period[:4])
    if len(period) == 4:
        return date(year, 1, 1), date(year, 12, 31)
    if period[5] == "Q":
        quarter = int(period[6])
        first, last = 3 * quarter - 2, 3 * quarter
    else:
        first = last = int(period[5:7])
    return date(year, first, 1), date(year, last, calendar.monthrange(year, last)[1])


def sort_key(period: str) -> tuple[date, date]:
    """Order periods by their last day, then by their first (``2024`` before ``2024-Q4``)."""
    start, end = period_bounds(period)
    return end, start
