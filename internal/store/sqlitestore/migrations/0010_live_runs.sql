-- Running runs live in memory (live.go). Their changes are journalled, a row per write holding
-- every node it changed (journal.go); when a run is over its nodes are written to nodes once
-- and its journal is deleted. Dispatch and the sweeper no longer ask SQLite, so the partial
-- indexes that served them go: every index a write enters or leaves is one more page.
CREATE TABLE run_journal (
    run_id TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq    INTEGER NOT NULL,
    entry  BLOB    NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;

DROP INDEX nodes_todo;
DROP INDEX nodes_busy;
