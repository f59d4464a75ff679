-- Calls into Maestro from outside (internal/service): replay guards of signed requests, table
-- mutes, trigger URLs and their deliveries. No secret is stored: trigger secrets are derived.
CREATE TABLE nonces (
    key        TEXT    NOT NULL PRIMARY KEY,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE mutes (
    tbl        TEXT    NOT NULL PRIMARY KEY,
    until      INTEGER NOT NULL,
    by_user    TEXT    NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE triggers (
    id         TEXT    NOT NULL PRIMARY KEY,
    tbl        TEXT    NOT NULL,
    downstream INTEGER NOT NULL,
    schedule   TEXT    NOT NULL,
    grp        TEXT    NOT NULL,
    generation INTEGER NOT NULL,
    created_by TEXT    NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE trigger_deliveries (
    trigger_id      TEXT    NOT NULL,
    id              TEXT    NOT NULL,
    at              INTEGER NOT NULL,
    idempotency_key TEXT    NOT NULL,
    outcome         TEXT    NOT NULL,
    reason          TEXT    NOT NULL,
    run_id          TEXT    NOT NULL,
    remote          TEXT    NOT NULL,
    PRIMARY KEY (trigger_id, id)
) WITHOUT ROWID;
CREATE INDEX trigger_deliveries_by_time ON trigger_deliveries (trigger_id, at DESC, id);
