"""The daily job's run log: one JSON-lines file per UTC day, appended to by every run of that day.

`<out>/log/<YYYY-MM-DD>.jsonl`, one JSON object per line, each with
    "ts"     UTC time of the event, ISO 8601 with "Z"
    "run"    the run's id (12 hex digits; every line of one run has the same)
    "day"    the UTC day processed (YYYY-MM-DD)
    "event"  "start", "fetch", "retry", "ingest", "tokenize", "generate", "verify" or "end"
and the event's own fields (docs/operations.md lists them). Each line is written with one `write` on a file
opened for appending and fsync'ed, so a killed run leaves whole lines only (at worst, a last line without its
newline, which the next run ends and `read_log` skips). A day is complete when its log holds an "end" event with
`"exit": 0`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from pathlib import Path


#: The keys every line has.
RESERVED = frozenset({"ts", "run", "day", "event"})


class RunLog:
    """Appends the events of one run (`run` id) for one `day` to `<folder>/<day>.jsonl`."""

    def __init__(self, folder: Path, day: dt.date, run: str | None = None):
        self.path = Path(folder) / f"{day.isoformat()}.jsonl"
        self.day = day
        self.run = run or uuid.uuid4().hex[:12]

    def write(self, event: str, **fields) -> dict:
        """Append one event and return it. `fields` may not reuse the keys every line has (`RESERVED`)."""
        if clash := RESERVED & fields.keys():
            raise ValueError(f"run log fields {sorted(clash)} would overwrite the line's own")
        record = {"ts": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "run": self.run,
                  "day": self.day.isoformat(), "event": event, **fields}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(record, default=str) + "\n"
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":  # a killed run's unfinished line: end it
                line = "\n" + line
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        return record


def read_log(folder: Path, day: dt.date) -> list[dict]:
    """Every whole event recorded for `day`, oldest first ([] if none)."""
    path = Path(folder) / f"{day.isoformat()}.jsonl"
    if not path.exists():
        return []
    events = []
    for line in path.read_text().splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:  # the last line of a run killed while writing it
            continue
    return events


def completed(folder: Path, day: dt.date) -> bool:
    """Whether some run of `day` finished with exit status 0."""
    return any(e["event"] == "end" and e.get("exit") == 0 for e in read_log(folder, day))
