"""Parts of the client that need no server: decoding problems, export files and times."""

from __future__ import annotations

import unittest
from datetime import datetime, timezone

from maestro_client import ExportError, ExportFile, NotFoundError, ServerError, ValidationError, parse_rows, sign
from maestro_client.errors import APIError, error_for
from maestro_client.models import parse_time


def export(fmt: str, header: bool = False) -> ExportFile:
    return ExportFile(index=1, format=fmt, key="k", url="file:///k", header=header, gzip=False, exists=True)


class OfflineTest(unittest.TestCase):
    def test_problem_fields(self) -> None:
        e = error_for(422, "POST", "http://x/api/v1/tables", {"type": "urn:maestro:problem:validation",
                      "title": "Unprocessable Entity", "status": 422, "detail": "table is not valid",
                      "errors": [{"field": "sql", "reason": "does not parse at 1:8"}]})
        self.assertIsInstance(e, ValidationError)
        self.assertEqual((e.status, e.type, e.detail), (422, "urn:maestro:problem:validation", "table is not valid"))
        self.assertEqual([(f.field, f.reason) for f in e.errors], [("sql", "does not parse at 1:8")])
        self.assertIn("sql: does not parse at 1:8", str(e))
        self.assertIsInstance(error_for(404, "GET", "u", None, "no"), NotFoundError)
        proxy = error_for(502, "GET", "u", None, "<html>bad gateway</html>")
        self.assertIsInstance(proxy, ServerError)
        self.assertEqual((proxy.status, proxy.type, proxy.detail), (502, "about:blank", "<html>bad gateway</html>"))
        self.assertIs(type(error_for(418, "GET", "u", None)), APIError)

    def test_rows(self) -> None:
        self.assertEqual(parse_rows(export("csv", header=True), b'a,b\n1,"x,y"\n'), [{"a": "1", "b": "x,y"}])
        self.assertEqual(parse_rows(export("csv"), b"1,2\n"), [{"column_1": "1", "column_2": "2"}])
        self.assertEqual(parse_rows(export("csv", header=True), b""), [])
        self.assertEqual(parse_rows(export("json"), b'{"a":1}\n{"a":null}\n'), [{"a": 1}, {"a": None}])
        with self.assertRaises(ExportError):
            parse_rows(export("parquet"), b"PAR1")

    def test_sign(self) -> None:
        # The vector Go's callback.Sign gives for the same secret, time and body.
        self.assertEqual(sign("s3cret", b'{"a":1}', 1795602600),
                         "t=1795602600,v1=c6dab33e8ad20dfcfc00f19463d9b9eb3e9beb0c9101d2f1e7d9c42245dc6cce")

    def test_times(self) -> None:
        self.assertEqual(parse_time("2026-11-26T02:57:44.361446843Z"),
                         datetime(2026, 11, 26, 2, 57, 44, 361446, tzinfo=timezone.utc))
        self.assertEqual(parse_time("2026-11-26T02:57:44Z"), datetime(2026, 11, 26, 2, 57, 44, tzinfo=timezone.utc))
        self.assertIsNone(parse_time(None))


if __name__ == "__main__":
    unittest.main()
