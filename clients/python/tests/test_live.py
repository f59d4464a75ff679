"""The client against a live `maestro dev` serving tests/project (see live.py): marts.orders
(3 rows); marts.customer_totals, which reads it and exports CSV and gzipped JSON; marts.feed, an
external table no one uploads, whose runs wait until cancelled."""

from __future__ import annotations

import unittest
from unittest import mock

import maestro_client
from maestro_client import (AuthenticationError, Client, ConflictError, ExportError, NotFoundError, RunFailedError,
                            ValidationError, WaitTimeout)
from maestro_client import client as client_module

from . import live

SERVER = live.Server()
TOTALS, ORDERS, FEED = "marts.customer_totals", "marts.orders", "marts.feed"
# What marts.customer_totals holds after any build, by customer.
CSV_ROWS = [{"customer": "ann", "orders": "2", "total": "15"}, {"customer": "bob", "orders": "1", "total": "7"}]
JSON_ROWS = [{"customer": "ann", "orders": 2, "total": 15}, {"customer": "bob", "orders": 1, "total": 7}]


def setUpModule() -> None:
    SERVER.start()


def tearDownModule() -> None:
    SERVER.stop()


def by_customer(rows):
    return sorted(rows, key=lambda r: r["customer"])


class LiveTest(unittest.TestCase):
    m: Client
    built: maestro_client.Run

    @classmethod
    def setUpClass(cls) -> None:
        cls.m = Client(SERVER.url, state=SERVER.state, timeout=30)
        # One build of both tables, which the reading tests rely on.
        cls.built = cls.m.runs.wait(cls.m.runs.trigger(tables=[ORDERS], downstream=True), timeout=60, check=True)

    def test_trigger_url_starts_one_run_per_key(self) -> None:
        made = self.m.triggers.create(table=ORDERS)
        self.assertEqual(len(made["secret"]), 64)
        url = self.m.url + made["path"]
        first = maestro_client.fire_trigger(url, made["secret"], {"landed": "orders"}, idempotency_key="py-load-1")
        again = maestro_client.fire_trigger(url, made["secret"], {"landed": "orders"}, idempotency_key="py-load-1")
        self.assertEqual((first["outcome"], again["outcome"]), ("accepted", "duplicate"))
        self.assertEqual(first["run_id"], again["run_id"])
        run = self.m.runs.wait(first["run_id"], timeout=60, check=True)
        self.assertEqual(run.trigger, "webhook")
        self.assertTrue(run.created_by.startswith("trigger:" + made["id"] + " from "), run.created_by)
        with self.assertRaises(AuthenticationError):
            maestro_client.fire_trigger(url, "not-the-secret", {"landed": "orders"})
        outcomes = [d["outcome"] for d in self.m.triggers.deliveries(made["id"])]
        self.assertEqual(outcomes, ["refused", "duplicate", "accepted"])
        self.assertNotIn("secret", self.m.triggers.list()[0])
        rotated = self.m.triggers.rotate(made["id"])["secret"]
        with self.assertRaises(AuthenticationError):
            maestro_client.fire_trigger(url, made["secret"], {}, idempotency_key="py-load-2")
        self.assertEqual(maestro_client.fire_trigger(url, rotated, {}, idempotency_key="py-load-1")["outcome"], "duplicate")
        self.m.triggers.delete(made["id"])

    def test_trigger_wait_read(self) -> None:
        run = self.m.runs.trigger(tables=[ORDERS], downstream=True)
        self.assertEqual(run.trigger, "manual")
        self.assertEqual(run.created_by, "dev@localhost")
        done = self.m.runs.wait(run, timeout=60, check=True)
        self.assertEqual(done.id, run.id)
        self.assertEqual(done.state, "succeeded")
        self.assertEqual(sorted((n.name, n.state) for n in done.nodes), [(TOTALS, "succeeded"), (ORDERS, "succeeded")])
        self.assertEqual(done.node(ORDERS).stats.rows, 3)
        self.assertEqual(done.node(TOTALS).upstream, [ORDERS])
        self.assertIsNotNone(done.finished_at)

        run_id, f = self.m.latest_export(TOTALS)
        self.assertEqual(run_id, run.id, "the latest export is the newest build's")
        self.assertEqual((f.index, f.format, f.key, f.exists), (1, "csv", f"exports/{TOTALS}/{run.id}.csv", True))
        self.assertTrue(f.url.startswith("file://"), f.url)
        self.assertEqual(by_customer(self.m.read_rows(TOTALS)), CSV_ROWS)
        self.assertEqual(by_customer(self.m.read_rows(TOTALS, index=2)), JSON_ROWS)

    def test_trigger_schedule_and_tables_without_downstream(self) -> None:
        by_schedule = self.m.runs.wait(self.m.runs.trigger(schedule="daily"), timeout=60, check=True)
        self.assertEqual(by_schedule.schedule, "daily")
        self.assertEqual(sorted(n.name for n in by_schedule.nodes), [TOTALS, ORDERS])
        alone = self.m.runs.wait(self.m.runs.trigger(tables=[ORDERS]), timeout=60, check=True)
        self.assertEqual([n.name for n in alone.nodes], [ORDERS])
        with self.assertRaises(ValueError):
            self.m.runs.trigger(schedule="daily", tables=[ORDERS])

    def test_runs_get_list_cancel(self) -> None:
        got = self.m.runs.get(self.built.id)
        self.assertEqual((got.id, got.state, len(got.nodes)), (self.built.id, "succeeded", 2))
        self.assertIn(self.built.id, [r.id for r in self.m.runs.list(state="succeeded", limit=1000)])
        self.assertEqual(self.m.runs.list(state="failed"), [])
        with self.assertRaises(ConflictError) as cm:
            self.m.runs.cancel(self.built.id)  # finished: nothing to cancel
        self.assertEqual(cm.exception.status, 409)
        self.assertIn("not running", cm.exception.detail)

    def test_wait_timeout_and_cancel(self) -> None:
        run = self.m.runs.trigger(tables=[FEED])  # waits for an upload that never comes
        with self.assertRaises(WaitTimeout) as cm:
            self.m.runs.wait(run, timeout=0.3, poll_interval=0.1)
        self.assertIsInstance(cm.exception, TimeoutError)
        self.assertEqual(self.m.runs.get(run).state, "running", "a wait that times out leaves the run going")
        self.assertEqual(self.m.runs.cancel(run).state, "cancelled")
        with self.assertRaises(RunFailedError) as failed:
            self.m.runs.wait(run, timeout=60, check=True)
        self.assertEqual(failed.exception.run.state, "cancelled")
        self.assertEqual(failed.exception.run.node(FEED).state, "cancelled")

    def test_tables_list_filters_and_pages(self) -> None:
        first = self.m.tables.list(limit=1)
        self.assertEqual([t.name for t in first.tables], [TOTALS])
        self.assertIsNotNone(first.next_cursor)
        second = self.m.tables.list(limit=1, cursor=first.next_cursor)
        self.assertEqual([t.name for t in second.tables], [FEED])
        third = self.m.tables.list(limit=2, cursor=second.next_cursor)
        self.assertEqual([t.name for t in third.tables], [ORDERS])
        self.assertIsNone(third.next_cursor)
        self.assertEqual([t.name for t in self.m.tables.iter(page_size=1)], [TOTALS, FEED, ORDERS])
        self.assertEqual([t.name for t in self.m.tables.list(kind="external").tables], [FEED])
        self.assertEqual([t.name for t in self.m.tables.list(owner="analyst@example.com").tables], [TOTALS])
        self.assertEqual([t.name for t in self.m.tables.list(dataset="marts", kind="query").tables], [TOTALS, ORDERS])
        self.assertEqual(self.m.tables.list(kind="import").tables, [])

    def test_tables_get(self) -> None:
        t = self.m.tables.get(TOTALS)
        self.assertEqual((t.name, t.kind, t.owner, t.revision), (TOTALS, "query", "analyst@example.com", 1))
        self.assertEqual(t.upstream, [ORDERS])
        self.assertIn("GROUP BY customer", t.sql)
        self.assertEqual([x["format"] for x in t.exports], ["csv", "json"])
        self.assertEqual(self.m.tables.get(ORDERS).downstream, [TOTALS])

    def test_costs(self) -> None:
        costs = self.m.costs(by="run", since="1d")
        self.assertEqual(costs["by"], "run")
        self.assertIsNone(costs["total_usd"], "the test project sets no pricing")
        row = next(r for r in costs["rows"] if r["key"] == self.built.id)
        self.assertEqual(row["bytes_billed"], sum(n.stats.bytes_billed for n in self.built.nodes))
        self.assertEqual(row["nodes"], 2)
        by_table = {r["key"]: r for r in self.m.costs()["rows"]}
        self.assertEqual(set(by_table), {TOTALS, ORDERS})
        with self.assertRaises(maestro_client.BadRequestError) as cm:
            self.m.costs(by="colour")
        self.assertIn("by must be one of", cm.exception.detail)

    def test_history(self) -> None:
        h = self.m.history(TOTALS)
        self.assertEqual(h["table"], TOTALS)
        self.assertEqual([(r["revision"], r["summary"]) for r in h["revisions"]], [(1, f"create {TOTALS}")])
        self.assertIn("+GROUP BY customer", h["revisions"][0]["diff"])

    def test_wait_for_fresh(self) -> None:
        mark = self.m.fresh_mark(TOTALS)
        run = self.m.runs.trigger(tables=[ORDERS], downstream=True)
        fresh = self.m.wait_for_fresh(TOTALS, timeout=60, after=mark)
        self.assertEqual(fresh.id, run.id)
        self.assertEqual(fresh.node(TOTALS).state, "succeeded")
        self.assertEqual(self.m.latest_export(TOTALS)[0], run.id)

        # Builds before the mark, and runs that do not build the table, do not make it fresh.
        mark = self.m.fresh_mark(TOTALS)
        self.m.runs.wait(self.m.runs.trigger(tables=[ORDERS]), timeout=60, check=True)
        with self.assertRaises(WaitTimeout):
            self.m.wait_for_fresh(TOTALS, timeout=0.5, poll_interval=0.1, after=mark)

    def test_problems(self) -> None:
        with self.assertRaises(NotFoundError) as cm:
            self.m.tables.get("marts.nope")
        e = cm.exception
        self.assertEqual((e.status, e.type, e.title), (404, "urn:maestro:problem:not-found", "Not Found"))
        self.assertIn("marts.nope", e.detail)
        self.assertIn("marts.nope", str(e))
        with self.assertRaises(NotFoundError):
            self.m.runs.get("no-such-run")
        with self.assertRaises(NotFoundError):
            self.m.wait_for_fresh("marts.nope", timeout=1)

        with self.assertRaises(ValidationError) as cm:
            self.m.request("PUT", "/schedules/hourly", body={"cron": "every hour"})
        self.assertEqual(cm.exception.status, 422)
        self.assertEqual([f.field for f in cm.exception.errors], ["cron"])

        with self.assertRaises(ExportError):
            self.m.read_rows(ORDERS)  # no export

    def test_authentication(self) -> None:
        for token in ("", "mae_0000000000000000_not-a-real-secret"):
            with self.subTest(token=token):
                with self.assertRaises(AuthenticationError) as cm:
                    Client(SERVER.url, token=token).tables.list()
                self.assertEqual((cm.exception.status, cm.exception.type), (401, "urn:maestro:problem:unauthenticated"))

    def test_dataframe(self) -> None:
        if client_module._pandas is None:
            with self.assertRaises(ImportError):
                self.m.read_dataframe(TOTALS)
            return
        df = self.m.read_dataframe(TOTALS, index=2).sort_values("customer")
        self.assertEqual(df.to_dict("records"), JSON_ROWS)
        with mock.patch.object(client_module, "_pandas", None), self.assertRaises(ImportError):
            self.m.read_dataframe(TOTALS)


if __name__ == "__main__":
    unittest.main()
