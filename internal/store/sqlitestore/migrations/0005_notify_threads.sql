-- Slack threads of failing tables (internal/notify): one row per table and channel while the
-- table keeps failing; deleted when it succeeds.
CREATE TABLE notify_threads (
    tbl        TEXT    NOT NULL,
    channel    TEXT    NOT NULL,
    ts         TEXT    NOT NULL DEFAULT '',
    run_id     TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tbl, channel)
) WITHOUT ROWID;
