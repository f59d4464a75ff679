-- Definitions. Every save is a new row; the highest revision of a name is its current state.
CREATE TABLE table_revisions (
    name       TEXT    NOT NULL,
    revision   INTEGER NOT NULL,
    deleted    INTEGER NOT NULL DEFAULT 0,
    definition TEXT    NOT NULL,
    message    TEXT    NOT NULL DEFAULT '',
    created_by TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_by TEXT    NOT NULL DEFAULT '',
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (name, revision)
) WITHOUT ROWID;

CREATE TABLE schedules (
    name          TEXT    PRIMARY KEY,
    definition    TEXT    NOT NULL,
    last_fired_at INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE connections (
    name       TEXT PRIMARY KEY,
    definition TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE users (
    email TEXT PRIMARY KEY,
    name  TEXT NOT NULL DEFAULT '',
    role  TEXT NOT NULL DEFAULT '',
    grp   TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;

-- Times are unix nanoseconds (UTC); 0 is the zero time.
CREATE TABLE runs (
    id           TEXT    PRIMARY KEY,
    schedule     TEXT    NOT NULL DEFAULT '',
    trigger      TEXT    NOT NULL DEFAULT '',
    resumed_from TEXT    NOT NULL DEFAULT '',
    state        TEXT    NOT NULL,
    max_parallel INTEGER NOT NULL DEFAULT 0,
    created_by   TEXT    NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    finished_at  INTEGER NOT NULL DEFAULT 0,
    stats        TEXT    NOT NULL DEFAULT '{}',
    counts       TEXT    NOT NULL DEFAULT 'null'
) WITHOUT ROWID;

CREATE INDEX runs_created ON runs (created_at, id);
CREATE INDEX runs_state_created ON runs (state, created_at, id);

CREATE TABLE nodes (
    run_id           TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    name             TEXT    NOT NULL,
    kind             TEXT    NOT NULL DEFAULT '',
    state            TEXT    NOT NULL,
    attempt          INTEGER NOT NULL,
    max_attempts     INTEGER NOT NULL DEFAULT 0,
    upstream         TEXT    NOT NULL DEFAULT 'null',
    downstream       TEXT    NOT NULL DEFAULT 'null',
    pending_upstream INTEGER NOT NULL DEFAULT 0,
    not_before       INTEGER NOT NULL DEFAULT 0,
    dispatched_at    INTEGER NOT NULL DEFAULT 0,
    lease            TEXT    NOT NULL DEFAULT '',
    lease_expires_at INTEGER NOT NULL DEFAULT 0,
    propagated       INTEGER NOT NULL DEFAULT 0,
    job_id           TEXT    NOT NULL DEFAULT '',
    bytes_processed  INTEGER NOT NULL DEFAULT 0,
    bytes_billed     INTEGER NOT NULL DEFAULT 0,
    slot_ms          INTEGER NOT NULL DEFAULT 0,
    rows_count       INTEGER NOT NULL DEFAULT 0,
    cache_hit        INTEGER NOT NULL DEFAULT 0,
    duration_ms      INTEGER NOT NULL DEFAULT 0,
    error            TEXT    NOT NULL DEFAULT '',
    started_at       INTEGER NOT NULL DEFAULT 0,
    finished_at      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, name)
) WITHOUT ROWID;

-- Partial indexes: each holds only the few nodes one query looks for, so scheduling stays
-- proportional to the work in flight, not to the size of a run. They are few on purpose: every
-- index a state move enters or leaves is one more page written per commit.

-- Dispatch candidates: ready and not yet published.
CREATE INDEX nodes_todo ON nodes (run_id, name)
    WHERE state = 'ready' AND dispatched_at = 0;
-- Busy: published and not claimed yet, or held by a worker. Both count against parallelism and
-- both are swept when lost; a claim moves a node between the two without touching the index.
CREATE INDEX nodes_busy ON nodes (run_id, state, dispatched_at)
    WHERE state = 'running' OR (state = 'ready' AND dispatched_at <> 0);
-- Unfinished: not yet terminal, or terminal and not yet propagated (propagated is only ever set
-- on terminal nodes). A run is done when it has none.
CREATE INDEX nodes_unfinished ON nodes (run_id)
    WHERE propagated = 0;
