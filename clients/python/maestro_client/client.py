"""The client of Maestro's HTTP JSON API (``/api/v1``), standard library only."""

from __future__ import annotations

import csv
import gzip
import hashlib
import hmac
import io
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, Callable, Dict, FrozenSet, Iterator, List, Optional, Sequence, Tuple, Union

from .errors import ExportError, MaestroError, NotFoundError, RunFailedError, WaitTimeout, error_for
from .models import FINAL_NODE_STATES, ExportFile, Run, Table, TablePage

try:  # pandas is optional: DataFrames only when it happens to be installed.
    import pandas as _pandas
except ImportError:  # pragma: no cover - depends on the machine
    _pandas = None

API_PREFIX = "/api/v1"
DEFAULT_URL = "http://127.0.0.1:8080"
# Where `maestro dev` keeps the admin token it makes on first start, in its state folder.
DEV_TOKEN_FILE = "api-token"

RunRef = Union[str, Run]
Row = Dict[str, Any]


class Client:
    """A client of one Maestro API.

    Args:
        url: the API's scheme and host; default ``$MAESTRO_API``, else ``http://127.0.0.1:8080``
            (``maestro dev``'s).
        token: an API token (``mae_…``); default ``$MAESTRO_TOKEN``, else the one ``maestro dev``
            keeps in ``<state>/api-token``.
        state: ``maestro dev``'s state folder, where its token is (default ``.maestro``).
        timeout: seconds each HTTP request may take.

    Example::

        m = Client()
        run = m.runs.trigger(tables=["marts.daily"], downstream=True)
        m.runs.wait(run, timeout=600, check=True)
        rows = m.read_rows("marts.daily")
    """

    def __init__(self, url: Optional[str] = None, token: Optional[str] = None, *, state: str = ".maestro",
                 timeout: float = 30.0) -> None:
        self.url: str = (url or os.environ.get("MAESTRO_API") or DEFAULT_URL).rstrip("/")
        if token is None:
            token = os.environ.get("MAESTRO_TOKEN") or _read_token(state)
        self.token: Optional[str] = token
        self.timeout: float = timeout
        self.tables: Tables = Tables(self)
        self.runs: Runs = Runs(self)
        self.triggers: Triggers = Triggers(self)

    # --- HTTP -------------------------------------------------------------------------------

    def request(self, method: str, path: str, *, query: Optional[Dict[str, Any]] = None,
                body: Optional[Any] = None) -> Any:
        """Sends one request to the API and returns its decoded JSON answer (None when empty).

        ``path`` is under ``/api/v1``. Query parameters whose value is None are left out. Raises an
        :class:`~maestro_client.errors.APIError` subclass for an error answer, carrying the RFC 9457
        problem's fields, and :class:`~maestro_client.errors.MaestroError` when the API cannot be reached.
        """
        url = self.url + API_PREFIX + path
        if query:
            params = {k: _query_value(v) for k, v in query.items() if v is not None}
            if params:
                url += "?" + urllib.parse.urlencode(params)
        data = None
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            text = e.read().decode("utf-8", "replace")
            problem = None
            try:
                decoded = json.loads(text)
                if isinstance(decoded, dict):
                    problem = decoded
            except ValueError:
                pass
            raise error_for(e.code, method, url, problem, text) from None
        except (urllib.error.URLError, OSError) as e:
            raise MaestroError(f"{method} {url}: cannot reach the API: {getattr(e, 'reason', e)}") from e
        return json.loads(raw) if raw.strip() else None

    # --- costs and history ------------------------------------------------------------------

    def costs(self, by: str = "table", since: Optional[str] = None) -> Dict[str, Any]:
        """What finished runs cost (GET /api/v1/costs).

        Args:
            by: ``table`` (default), ``owner``, ``day`` or ``run``.
            since: a date, an RFC 3339 time or an age such as ``7d`` (the server's default: 30d).

        Returns the answer: ``by``, ``since``, ``pricing``, ``rows`` (each with the key, runs, bytes
        billed, slot time and ``usd``) and ``total_usd`` (None when the server has no pricing).
        """
        return self.request("GET", "/costs", query={"by": by, "since": since})

    def history(self, table: str) -> Dict[str, Any]:
        """Every revision of a table, oldest first: who, when, what changed and the diff
        (GET /api/v1/tables/{name}/history). Returns ``{"table": ..., "revisions": [...]}``."""
        return self.request("GET", "/tables/" + _seg(table) + "/history")

    # --- freshness --------------------------------------------------------------------------

    def fresh_mark(self, table: str, runs_scanned: int = 100) -> "FreshMark":
        """Notes the runs that cannot make the table fresh any more: those finished, and those in
        which it was already built. :meth:`wait_for_fresh` with ``after=`` this mark waits for a build
        after the mark rather than after its own call, so nothing built in between is missed.

        Raises :class:`~maestro_client.errors.NotFoundError` when there is no such table.
        """
        self.tables.get(table)  # an unknown table would never be fresh: say so now
        seen = set()
        for r in self.runs.list(limit=runs_scanned):
            if r.done:
                seen.add(r.id)
                continue
            n = self.runs.get(r.id).node(table)
            if n is None or n.state == "succeeded":
                seen.add(r.id)
        return FreshMark(table.lower(), frozenset(seen))

    def wait_for_fresh(self, table: str, timeout: float = 3600.0, poll_interval: float = 0.5,
                       after: Optional["FreshMark"] = None, runs_scanned: int = 100) -> Run:
        """Blocks until the table's next successful build finishes, after this call (or after the
        mark ``after``, from :meth:`fresh_mark`), and returns the run that built it.

        A run counts when the table's node in it succeeds after the call: a run already finished
        then does not, nor a run in which the table had already been built; a run still going may.
        Failed builds are waited past (another run may follow). This is the seed's
        ``Table(..., wait=True)``.

        Raises :class:`~maestro_client.errors.WaitTimeout` after ``timeout`` seconds and
        :class:`~maestro_client.errors.NotFoundError` when there is no such table.
        """
        deadline = time.monotonic() + timeout
        mark = after if after is not None else self.fresh_mark(table, runs_scanned)
        if mark.table != table.lower():
            raise ValueError(f"the mark is of {mark.table}, not {table}")
        seen = set(mark.runs)
        last_failure = ""
        while True:
            for r in self.runs.list(limit=runs_scanned):
                if r.id in seen:
                    continue
                full = self.runs.get(r.id)
                n = full.node(table)
                if n is None:
                    seen.add(r.id)
                elif n.state == "succeeded":
                    return full
                elif n.state in FINAL_NODE_STATES or full.done:
                    seen.add(r.id)
                    last_failure = f"; run {r.id}: {n.state}" + (f": {n.error}" if n.error else "")
            if time.monotonic() >= deadline:
                raise WaitTimeout(f"{table} was not built again within {timeout:g} s{last_failure}")
            time.sleep(min(poll_interval, max(0.0, deadline - time.monotonic())))

    # --- exported data ----------------------------------------------------------------------

    def latest_export(self, table: str, index: Optional[int] = None, runs_scanned: int = 100) -> Tuple[str, ExportFile]:
        """Finds the file of the table's latest successful build that an export wrote.

        Looks through the newest ``runs_scanned`` runs, newest first, for one in which the table
        succeeded and its export's file exists. ``index`` picks one of several exports (its
        position among the table's exports, from 1); by default the first file export.

        Returns ``(run_id, file)``. Raises :class:`~maestro_client.errors.ExportError` when the
        table has no file export or no run has written one.
        """
        tbl = self.tables.get(table)
        files = [x for x in tbl.exports if x.get("format") and not x.get("sheet") and not x.get("postgres")]
        if not files:
            raise ExportError(f"{tbl.name} has no file export (csv, json or parquet): add one to its sidecar's exports")
        for r in self.runs.list(limit=runs_scanned):
            try:
                answer = self.request("GET", f"/runs/{_seg(r.id)}/tables/{_seg(tbl.name)}/exports")
            except NotFoundError:
                continue  # the run did not build this table
            if answer.get("state") != "succeeded":
                continue
            for d in answer.get("exports") or []:
                f = ExportFile.from_json(d)
                if index is not None and f.index != index:
                    continue
                if f.exists is False or not f.url:
                    continue
                return r.id, f
        raise ExportError(f"none of the last {runs_scanned} runs wrote an export of {tbl.name}")

    def read_export_bytes(self, f: ExportFile) -> bytes:
        """Reads an export file at its URL (``file://`` with maestro dev, a signed ``https`` URL
        in production; the API token is never sent there), decompressed when gzipped."""
        parsed = urllib.parse.urlparse(f.url)
        try:
            if parsed.scheme == "file":
                with open(urllib.request.url2pathname(parsed.path), "rb") as fh:
                    data = fh.read()
            elif parsed.scheme in ("http", "https"):
                with urllib.request.urlopen(f.url, timeout=self.timeout) as resp:
                    data = resp.read()
            else:
                raise ExportError(f"cannot read {f.url}: unknown URL scheme")
        except (OSError, urllib.error.URLError) as e:
            raise ExportError(f"error reading export file {f.key}: {e}") from e
        if f.gzip:
            data = gzip.decompress(data)
        return data

    def read_rows(self, table: str, index: Optional[int] = None) -> List[Row]:
        """The rows of the table's latest export (see :meth:`latest_export`) as dicts.

        CSV values are strings, as in the file (a CSV without a header row gets columns named
        ``column_1``, ``column_2``, …); JSON (newline-delimited) values keep their JSON types.
        Parquet needs pandas: use :meth:`read_dataframe`.
        """
        _, f = self.latest_export(table, index)
        return parse_rows(f, self.read_export_bytes(f))

    def read_dataframe(self, table: str, index: Optional[int] = None) -> Any:
        """The table's latest export (see :meth:`latest_export`) as a pandas DataFrame.

        Raises ImportError when pandas is not installed (Parquet also needs pyarrow).
        """
        if _pandas is None:
            raise ImportError("read_dataframe needs pandas: pip install pandas (or use read_rows)")
        _, f = self.latest_export(table, index)
        data = io.BytesIO(self.read_export_bytes(f))
        if f.format == "csv":
            return _pandas.read_csv(data, header=0 if f.header else None)
        if f.format == "json":
            return _pandas.read_json(data, lines=True)
        if f.format == "parquet":
            return _pandas.read_parquet(data)
        raise ExportError(f"cannot read export format {f.format!r}")


@dataclass(frozen=True)
class FreshMark:
    """Where :meth:`Client.wait_for_fresh` starts waiting from: the table, and the runs that no
    longer count."""

    table: str
    runs: FrozenSet[str]


class Tables:
    """Table definitions: ``client.tables``."""

    def __init__(self, client: Client) -> None:
        self._c = client

    def list(self, *, owner: Optional[str] = None, group: Optional[str] = None, dataset: Optional[str] = None,
             kind: Optional[str] = None, limit: Optional[int] = None, cursor: Optional[str] = None) -> TablePage:
        """One page of tables, by name (GET /api/v1/tables).

        Filters by owner, group, dataset and kind (query, import, external); ``limit`` is the page
        size (1 to 1000, the server's default 100); ``cursor`` is the previous page's
        ``next_cursor``.
        """
        answer = self._c.request("GET", "/tables", query={"owner": owner, "group": group, "dataset": dataset,
                                                          "kind": kind, "limit": limit, "cursor": cursor})
        return TablePage(tables=[Table.from_json(t) for t in answer.get("tables") or []],
                         next_cursor=answer.get("next_cursor") or None)

    def iter(self, *, owner: Optional[str] = None, group: Optional[str] = None, dataset: Optional[str] = None,
             kind: Optional[str] = None, page_size: Optional[int] = None) -> Iterator[Table]:
        """Every table matching the filters, fetching page after page."""
        cursor: Optional[str] = None
        while True:
            page = self.list(owner=owner, group=group, dataset=dataset, kind=kind, limit=page_size, cursor=cursor)
            yield from page.tables
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def get(self, name: str) -> Table:
        """A table with its upstream and downstream tables (GET /api/v1/tables/{name})."""
        return Table.from_json(self._c.request("GET", "/tables/" + _seg(name)))


class Runs:
    """Runs: ``client.runs``."""

    def __init__(self, client: Client) -> None:
        self._c = client

    def trigger(self, *, schedule: Optional[str] = None, tables: Optional[Sequence[str]] = None,
                downstream: bool = False) -> Run:
        """Starts a run (POST /api/v1/runs): a schedule's tables, or the named tables (and with
        ``downstream``, every table downstream of them). Give exactly one of schedule and tables.

        Raises :class:`~maestro_client.errors.ConflictError` when there is nothing to run.
        """
        if (schedule is None) == (not tables):
            raise ValueError("give exactly one of schedule or tables")
        if isinstance(tables, str):
            raise TypeError("tables is a list of table names, not one string")
        body: Dict[str, Any] = {"schedule": schedule} if schedule else {"tables": list(tables or [])}
        if downstream:
            body["downstream"] = True
        return Run.from_json(self._c.request("POST", "/runs", body=body))

    def get(self, run: RunRef) -> Run:
        """A run with its nodes and statistics (GET /api/v1/runs/{id})."""
        return Run.from_json(self._c.request("GET", "/runs/" + _seg(_run_id(run))))

    def list(self, *, state: Optional[str] = None, limit: Optional[int] = None) -> List[Run]:
        """Runs, newest first, without their nodes (GET /api/v1/runs); ``limit`` 1 to 1000 (default 100)."""
        answer = self._c.request("GET", "/runs", query={"state": state, "limit": limit})
        return [Run.from_json(r) for r in answer.get("runs") or []]

    def cancel(self, run: RunRef) -> Run:
        """Cancels a running run (POST /api/v1/runs/{id}/cancel)."""
        return Run.from_json(self._c.request("POST", "/runs/" + _seg(_run_id(run)) + "/cancel"))

    def wait(self, run: RunRef, timeout: float = 3600.0, poll_interval: float = 0.5, check: bool = False,
             on_poll: Optional[Callable[[Run], None]] = None) -> Run:
        """Blocks until the run finishes and returns it, with its nodes.

        Raises :class:`~maestro_client.errors.WaitTimeout` after ``timeout`` seconds (the run goes
        on) and, with ``check``, :class:`~maestro_client.errors.RunFailedError` when it did not
        succeed. ``on_poll`` is called with the run after each poll.
        """
        run_id = _run_id(run)
        deadline = time.monotonic() + timeout
        while True:
            r = self.get(run_id)
            if on_poll is not None:
                on_poll(r)
            if r.done:
                if check and not r.succeeded:
                    raise RunFailedError(r)
                return r
            if time.monotonic() >= deadline:
                raise WaitTimeout(f"run {run_id} is still {r.state} after {timeout:g} s")
            time.sleep(min(poll_interval, max(0.0, deadline - time.monotonic())))


class Triggers:
    """Trigger URLs another system calls to start a run: ``client.triggers``."""

    def __init__(self, client: Client) -> None:
        self._c = client

    def create(self, *, table: Optional[str] = None, downstream: bool = False,
               schedule: Optional[str] = None) -> Dict[str, Any]:
        """Makes a trigger for a table (and with ``downstream`` what reads it) or a schedule
        (POST /api/v1/triggers). The answer holds ``path`` and, this once only, ``secret``."""
        if (table is None) == (schedule is None):
            raise ValueError("give exactly one of table or schedule")
        body: Dict[str, Any] = {"table": table} if table else {"schedule": schedule}
        if downstream:
            body["downstream"] = True
        return self._c.request("POST", "/triggers", body=body)

    def list(self) -> List[Dict[str, Any]]:
        """Every trigger, without secrets (GET /api/v1/triggers)."""
        return self._c.request("GET", "/triggers").get("triggers") or []

    def rotate(self, trigger_id: str) -> Dict[str, Any]:
        """Gives a trigger a new secret, in the answer this once; the old one stops working
        (POST /api/v1/triggers/{id}/rotate)."""
        return self._c.request("POST", "/triggers/" + _seg(trigger_id) + "/rotate")

    def delete(self, trigger_id: str) -> None:
        """Deletes a trigger (DELETE /api/v1/triggers/{id}); its deliveries stay listed."""
        self._c.request("DELETE", "/triggers/" + _seg(trigger_id))

    def deliveries(self, trigger_id: str, limit: Optional[int] = None) -> List[Dict[str, Any]]:
        """A trigger's deliveries, newest first: outcome (accepted, duplicate, refused), reason,
        run_id, remote (GET /api/v1/triggers/{id}/deliveries)."""
        answer = self._c.request("GET", "/triggers/" + _seg(trigger_id) + "/deliveries", query={"limit": limit})
        return answer.get("deliveries") or []


def sign(secret: str, body: bytes, t: Optional[int] = None) -> str:
    """The ``Maestro-Signature`` of a body: ``t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">``,
    the scheme of Maestro's callbacks and of its trigger URLs."""
    ts = str(int(time.time()) if t is None else t)
    mac = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def fire_trigger(url: str, secret: str, body: Union[bytes, Dict[str, Any], None] = None, *,
                 idempotency_key: Optional[str] = None, timeout: float = 30.0) -> Dict[str, Any]:
    """Delivers to a trigger URL (``Client.url`` + the trigger's ``path``), signed with its
    secret; needs no API token. Every delivery with the same ``idempotency_key`` starts one run:
    retrying is safe. Returns ``{"delivery_id", "outcome", "run_id"}``, outcome ``accepted`` or
    ``duplicate``; a refusal raises an :class:`~maestro_client.errors.APIError` naming why."""
    data = body if isinstance(body, bytes) else json.dumps(body or {}).encode()
    headers = {"Content-Type": "application/json", "Maestro-Signature": sign(secret, data)}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    req = urllib.request.Request(url, data=data, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as e:
        text = e.read().decode("utf-8", "replace")
        try:
            problem = json.loads(text)
        except ValueError:
            problem = None
        raise error_for(e.code, "POST", url, problem if isinstance(problem, dict) else None, text) from None
    except (urllib.error.URLError, OSError) as e:
        raise MaestroError(f"POST {url}: cannot reach the API: {getattr(e, 'reason', e)}") from e


def parse_rows(f: ExportFile, data: bytes) -> List[Row]:
    """Decodes an export file's (decompressed) bytes into rows; see :meth:`Client.read_rows`."""
    if f.format == "csv":
        text = data.decode("utf-8")
        reader = csv.reader(io.StringIO(text, newline=""))
        records = list(reader)
        if f.header:
            if not records:
                return []
            names, records = records[0], records[1:]
        else:
            width = max((len(r) for r in records), default=0)
            names = [f"column_{i + 1}" for i in range(width)]
        return [dict(zip(names, r)) for r in records]
    if f.format == "json":
        return [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]
    if f.format == "parquet":
        raise ExportError("parquet exports need pandas with pyarrow: use read_dataframe")
    raise ExportError(f"cannot read export format {f.format!r}")


def _read_token(state: str) -> Optional[str]:
    try:
        with open(os.path.join(state, DEV_TOKEN_FILE), encoding="utf-8") as fh:
            return fh.read().strip() or None
    except FileNotFoundError:
        return None


def _run_id(run: RunRef) -> str:
    return run.id if isinstance(run, Run) else run


def _seg(s: str) -> str:
    """Escapes one path segment."""
    return urllib.parse.quote(s, safe="")


def _query_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)
