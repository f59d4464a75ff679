-- Depth orders dispatch: ready nodes deeper in the run's graph go first (see run.Node.Depth).
ALTER TABLE nodes ADD COLUMN depth INTEGER NOT NULL DEFAULT 0;

-- The dispatch candidates, in the order they are dispatched.
DROP INDEX nodes_todo;
CREATE INDEX nodes_todo ON nodes (run_id, depth DESC, name)
    WHERE state = 'ready' AND dispatched_at = 0;
