-- Callback delivery attempts, one row each, listed per run. The key makes recording the same
-- attempt twice a no-op; a real new attempt (a later start) is a new row.
CREATE TABLE deliveries (
    run_id      TEXT    NOT NULL,
    delivery_id TEXT    NOT NULL,
    attempt     INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,
    table_name  TEXT    NOT NULL DEFAULT '',
    url         TEXT    NOT NULL DEFAULT '',
    event       TEXT    NOT NULL DEFAULT '',
    duration_ns INTEGER NOT NULL DEFAULT 0,
    status_code INTEGER NOT NULL DEFAULT 0,
    error       TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (run_id, started_at, delivery_id, attempt)
) WITHOUT ROWID;
