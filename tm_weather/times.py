"""The one range check for times where they enter tm-weather (command-line times and days, catalog dates,
attributes of files read back).

Inside the system times are UTC `datetime64[ns]`, which spans only 1677-09-21..2262-04-11: a time outside
wraps around silently (9999-12-31 becomes a day in 1816). Times are therefore accepted on the UTC days
`FIRST_DAY`..`LAST_DAY`, which leaves room for the end of a day and the days around it.
"""

from __future__ import annotations

import datetime as dt
from os import PathLike

import numpy as np

from tm_weather.errors import InputError

FIRST_DAY = dt.date(1678, 1, 1)
LAST_DAY = dt.date(2261, 12, 31)
#: What is expected, for messages.
RANGE = f"a time on the UTC days {FIRST_DAY}..{LAST_DAY} (the range of numpy datetime64[ns])"


def in_range(value: dt.date | dt.datetime) -> bool:
    """Whether `value`'s day lies in `FIRST_DAY`..`LAST_DAY`."""
    day = value.date() if isinstance(value, dt.datetime) else value
    return FIRST_DAY <= day <= LAST_DAY


def utc_time(value: str | dt.date | dt.datetime, where: str | PathLike, field: str) -> np.datetime64:
    """`value` (ISO 8601 text, or a date or datetime; zone-aware times converted to UTC, naive ones taken as UTC)
    -> `datetime64[ns]`; `InputError(where, field, ...)` when it is not a time or lies outside the range."""
    parsed = value
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.strip())
        except ValueError as e:
            raise InputError(where, field, "an ISO 8601 UTC time (e.g. 2023-11-14T10:00)", repr(value)) from e
    if not isinstance(parsed, dt.date):
        raise InputError(where, field, "an ISO 8601 UTC time (e.g. 2023-11-14T10:00)", repr(value))
    if not in_range(parsed):
        raise InputError(where, field, RANGE, str(value))
    if isinstance(parsed, dt.datetime) and parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return np.datetime64(parsed, "ns")


def day_window(first: dt.date | np.datetime64 | None, last: dt.date | np.datetime64 | None) -> tuple[np.datetime64, np.datetime64]:
    """The UTC days `first`..`last`, both included, as `datetime64[ns]` instants (`first` 00:00, the last
    nanosecond of `last`): the window every read by day asks a source for. None leaves that side open
    (1900-01-01, 2200-01-01)."""
    lo = np.datetime64(first if first is not None else dt.date(1900, 1, 1), "D")
    hi = np.datetime64(last if last is not None else dt.date(2200, 1, 1), "D")
    return lo.astype("datetime64[ns]"), (hi + np.timedelta64(1, "D")).astype("datetime64[ns]") - np.timedelta64(1, "ns")
