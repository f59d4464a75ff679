"""The API's resources as typed values. Each keeps the whole decoded answer in ``raw``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Dict, List, Optional

# Run states; the first is the only one that is not final.
RUN_RUNNING = "running"
RUN_SUCCEEDED = "succeeded"
RUN_FAILED = "failed"
RUN_CANCELLED = "cancelled"
FINAL_RUN_STATES = frozenset({RUN_SUCCEEDED, RUN_FAILED, RUN_CANCELLED})

# Node (one table in a run) states that are final.
FINAL_NODE_STATES = frozenset({"succeeded", "failed", "skipped", "cancelled"})


def parse_time(value: Optional[str]) -> Optional[datetime]:
    """Parses an RFC 3339 time as the API writes it (Go's nanoseconds are cut to microseconds)."""
    if not value:
        return None
    text = value.replace("Z", "+00:00")
    # fromisoformat before Python 3.11 takes at most 6 fractional digits.
    if "." in text:
        head, _, tail = text.partition(".")
        n = 0
        while n < len(tail) and tail[n].isdigit():
            n += 1
        digits, zone = tail[:n], tail[n:]
        text = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    return datetime.fromisoformat(text)


@dataclass
class Table:
    """A table definition as stored, with its revision (its ETag) and, from :meth:`Tables.get`,
    its place in the graph."""

    name: str
    kind: str
    sql: str
    owner: str
    group: str
    schedules: List[str]
    exports: List[Dict[str, Any]]
    revision: int
    updated_by: str
    updated_at: Optional[datetime]
    upstream: List[str] = field(default_factory=list)
    downstream: List[str] = field(default_factory=list)
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Table":
        """Builds a Table from the API's JSON."""
        graph = d.get("graph") or {}
        return cls(name=d.get("name", ""), kind=d.get("kind", ""), sql=d.get("sql", ""),
                   owner=d.get("owner", ""), group=d.get("group", ""), schedules=list(d.get("schedules") or []),
                   exports=list(d.get("exports") or []), revision=int(d.get("revision") or 0),
                   updated_by=d.get("updated_by", ""), updated_at=parse_time(d.get("updated_at")),
                   upstream=list(graph.get("upstream") or []), downstream=list(graph.get("downstream") or []), raw=d)


@dataclass
class TablePage:
    """One page of a table listing; pass ``next_cursor`` to get the next (None on the last page)."""

    tables: List[Table]
    next_cursor: Optional[str]


@dataclass
class Stats:
    """What a node's (or a run's) warehouse jobs did."""

    bytes_processed: int = 0
    bytes_billed: int = 0
    slot_ms: int = 0
    rows: int = 0
    duration_ms: int = 0
    cache_hit: bool = False

    @classmethod
    def from_json(cls, d: Optional[Dict[str, Any]]) -> "Stats":
        """Builds Stats from the API's JSON."""
        d = d or {}
        return cls(bytes_processed=int(d.get("bytes_processed") or 0), bytes_billed=int(d.get("bytes_billed") or 0),
                   slot_ms=int(d.get("slot_ms") or 0), rows=int(d.get("rows") or 0),
                   duration_ms=int(d.get("duration_ms") or 0), cache_hit=bool(d.get("cache_hit")))


@dataclass
class Node:
    """One table of a run."""

    name: str
    kind: str
    state: str
    attempt: int
    upstream: List[str]
    job_id: str
    error: str
    stats: Stats
    started_at: Optional[datetime]
    finished_at: Optional[datetime]

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Node":
        """Builds a Node from the API's JSON."""
        return cls(name=d.get("name", ""), kind=d.get("kind", ""), state=d.get("state", ""),
                   attempt=int(d.get("attempt") or 0), upstream=list(d.get("upstream") or []),
                   job_id=d.get("job_id", ""), error=d.get("error", ""), stats=Stats.from_json(d.get("stats")),
                   started_at=parse_time(d.get("started_at")), finished_at=parse_time(d.get("finished_at")))


@dataclass
class Run:
    """A run: its state, statistics and (from :meth:`Runs.get` and the waits) its nodes."""

    id: str
    state: str
    trigger: str
    schedule: str
    created_by: str
    created_at: Optional[datetime]
    finished_at: Optional[datetime]
    stats: Stats
    counts: Dict[str, int]
    nodes: List[Node]
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def done(self) -> bool:
        """Whether the run is finished (succeeded, failed or cancelled)."""
        return self.state in FINAL_RUN_STATES

    @property
    def succeeded(self) -> bool:
        """Whether the run finished with every node succeeded."""
        return self.state == RUN_SUCCEEDED

    def node(self, table: str) -> Optional[Node]:
        """The node of a table (names compare case-insensitively), or None if the run has none."""
        want = table.lower()
        for n in self.nodes:
            if n.name.lower() == want:
                return n
        return None

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Run":
        """Builds a Run from the API's JSON."""
        return cls(id=d.get("id", ""), state=d.get("state", ""), trigger=d.get("trigger", ""),
                   schedule=d.get("schedule", ""), created_by=d.get("created_by", ""),
                   created_at=parse_time(d.get("created_at")), finished_at=parse_time(d.get("finished_at")),
                   stats=Stats.from_json(d.get("stats")), counts=dict(d.get("counts") or {}),
                   nodes=[Node.from_json(n) for n in d.get("nodes") or []], raw=d)


@dataclass
class ExportFile:
    """One file a table's export wrote in a run (GET /runs/{id}/tables/{table}/exports)."""

    index: int
    format: str
    key: str
    url: str
    header: bool
    gzip: bool
    exists: Optional[bool]

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "ExportFile":
        """Builds an ExportFile from the API's JSON."""
        exists = d.get("exists")
        return cls(index=int(d.get("index") or 0), format=d.get("format", ""), key=d.get("key", ""),
                   url=d.get("url", ""), header=bool(d.get("header")), gzip=bool(d.get("gzip")),
                   exists=None if exists is None else bool(exists))
