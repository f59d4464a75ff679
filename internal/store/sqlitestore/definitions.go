package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
)

const tableColumns = `name, revision, deleted, definition, message, created_by, created_at, updated_by, updated_at`

type scanner interface{ Scan(dest ...any) error }

// collect scans every row with scan and closes rows; errors are wrapped with format and args.
func collect[T any](ctx context.Context, rows *sql.Rows, scan func(scanner) (T, error), format string, args ...any) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, wrap(ctx, err, format, args...)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(ctx, err, format, args...)
	}
	return out, nil
}

func scanTable(sc scanner) (*store.TableRecord, error) {
	var (
		rec                  store.TableRecord
		name, def            string
		deleted              int
		createdAt, updatedAt int64
	)
	if err := sc.Scan(&name, &rec.Revision, &deleted, &def, &rec.Message, &rec.CreatedBy, &createdAt,
		&rec.UpdatedBy, &updatedAt); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(def), &rec.Table); err != nil {
		return nil, fmt.Errorf("error decoding the definition of table %q: %w", name, err)
	}
	rec.Deleted = deleted != 0
	rec.CreatedAt = fromNanos(createdAt)
	rec.UpdatedAt = fromNanos(updatedAt)
	return &rec, nil
}

// latestTable returns the newest revision of a table, deleted or not, or sql.ErrNoRows.
func (t *tx) latestTable(name string) (*store.TableRecord, error) {
	return scanTable(t.queryRow(`SELECT `+tableColumns+` FROM table_revisions WHERE name = ?
		ORDER BY revision DESC LIMIT 1`, name))
}

func (t *tx) insertTable(name string, rec *store.TableRecord) error {
	def, err := json.Marshal(rec.Table)
	if err != nil {
		return fmt.Errorf("error encoding the definition: %w", err)
	}
	_, err = t.exec(`INSERT INTO table_revisions (`+tableColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		name, rec.Revision, boolInt(rec.Deleted), string(def), rec.Message, rec.CreatedBy,
		nanos(rec.CreatedAt), rec.UpdatedBy, nanos(rec.UpdatedAt))
	return err
}

// TablePut saves a definition as a new revision.
func (s *Store) TablePut(ctx context.Context, p *store.TablePutParams) (*store.TableRecord, error) {
	name := p.Table.Name
	if name == "" {
		return nil, errors.New("error saving table: the table has no name")
	}
	var rec *store.TableRecord
	err := s.tx(ctx, func(t *tx) error {
		prev, err := t.latestTable(name)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		exists := prev != nil && !prev.Deleted
		if p.Create && exists {
			return fmt.Errorf("the table exists already: %w", store.ErrConflict)
		}
		if p.IfRevision != 0 && (!exists || prev.Revision != p.IfRevision) {
			return fmt.Errorf("the table is not at revision %d any more: %w", p.IfRevision, store.ErrConflict)
		}
		now := time.Now().UTC()
		rec = &store.TableRecord{Table: p.Table, Revision: 1, Message: p.Message,
			CreatedBy: p.User, CreatedAt: now, UpdatedBy: p.User, UpdatedAt: now}
		if prev != nil {
			rec.Revision = prev.Revision + 1
		}
		if exists {
			rec.CreatedBy, rec.CreatedAt = prev.CreatedBy, prev.CreatedAt
		}
		return t.insertTable(name, rec)
	})
	s.tables.forget(name)
	if err != nil {
		return nil, wrap(ctx, err, "error saving table %q", name)
	}
	return rec, nil
}

// TableGet returns the current revision of a table, or store.ErrNotFound.
func (s *Store) TableGet(ctx context.Context, name string) (*store.TableRecord, error) {
	cached, gen := s.tables.get(name)
	if cached != nil {
		return cached, nil
	}
	rec, err := scanTable(s.queryRow(ctx, `SELECT `+tableColumns+` FROM table_revisions WHERE name = ?
		ORDER BY revision DESC LIMIT 1`, name))
	if err == nil && rec.Deleted {
		err = sql.ErrNoRows
	}
	if err != nil {
		return nil, wrap(ctx, err, "error loading table %q", name)
	}
	s.tables.keep(rec, gen)
	return rec, nil
}

// TableList returns every table's current revision, ordered by name.
func (s *Store) TableList(ctx context.Context) ([]*store.TableRecord, error) {
	_, gen := s.tables.get("")
	rows, err := s.query(ctx, `SELECT `+tableColumns+` FROM table_revisions r
		WHERE revision = (SELECT MAX(revision) FROM table_revisions WHERE name = r.name) AND deleted = 0
		ORDER BY name`)
	if err != nil {
		return nil, wrap(ctx, err, "error listing tables")
	}
	recs, err := collect(ctx, rows, scanTable, "error listing tables")
	if err != nil {
		return nil, err
	}
	// A run starts with a listing, and then its workers read each of its tables.
	s.tables.keepAll(recs, gen)
	return recs, nil
}

// TableDelete removes a table by recording a deleted revision; ErrNotFound if it does not exist.
func (s *Store) TableDelete(ctx context.Context, name, user string) error {
	err := s.tx(ctx, func(t *tx) error {
		prev, err := t.latestTable(name)
		if err != nil {
			return err
		}
		if prev.Deleted {
			return store.ErrNotFound
		}
		now := time.Now().UTC()
		return t.insertTable(name, &store.TableRecord{Table: prev.Table, Revision: prev.Revision + 1,
			Deleted: true, CreatedBy: prev.CreatedBy, CreatedAt: prev.CreatedAt, UpdatedBy: user, UpdatedAt: now})
	})
	s.tables.forget(name)
	return wrap(ctx, err, "error deleting table %q", name)
}

// TableRevisions returns every revision of a table, oldest first; ErrNotFound if it never existed.
func (s *Store) TableRevisions(ctx context.Context, name string) ([]*store.TableRecord, error) {
	rows, err := s.query(ctx, `SELECT `+tableColumns+` FROM table_revisions WHERE name = ? ORDER BY revision`, name)
	if err != nil {
		return nil, wrap(ctx, err, "error loading the revisions of table %q", name)
	}
	out, err := collect(ctx, rows, scanTable, "error loading the revisions of table %q", name)
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("error loading the revisions of table %q: %w", name, store.ErrNotFound)
	}
	return out, nil
}

// SchedulePut creates or replaces a schedule, keeping its LastFiredAt.
func (s *Store) SchedulePut(ctx context.Context, sc spec.Schedule) error {
	if sc.Name == "" {
		return errors.New("error saving schedule: the schedule has no name")
	}
	def, err := json.Marshal(sc)
	if err != nil {
		return fmt.Errorf("error encoding schedule %q: %w", sc.Name, err)
	}
	err = s.tx(ctx, func(t *tx) error {
		_, err := t.exec(`INSERT INTO schedules (name, definition) VALUES (?, ?)
			ON CONFLICT (name) DO UPDATE SET definition = excluded.definition`, sc.Name, string(def))
		return err
	})
	return wrap(ctx, err, "error saving schedule %q", sc.Name)
}

// ScheduleList returns every schedule, ordered by name.
func (s *Store) ScheduleList(ctx context.Context) ([]*store.ScheduleRecord, error) {
	rows, err := s.query(ctx, `SELECT name, definition, last_fired_at FROM schedules ORDER BY name`)
	if err != nil {
		return nil, wrap(ctx, err, "error listing schedules")
	}
	defer rows.Close()
	var out []*store.ScheduleRecord
	for rows.Next() {
		var (
			name, def string
			fired     int64
			rec       store.ScheduleRecord
		)
		if err := rows.Scan(&name, &def, &fired); err != nil {
			return nil, wrap(ctx, err, "error listing schedules")
		}
		if err := json.Unmarshal([]byte(def), &rec.Schedule); err != nil {
			return nil, fmt.Errorf("error decoding schedule %q: %w", name, err)
		}
		rec.LastFiredAt = fromNanos(fired)
		out = append(out, &rec)
	}
	return out, wrap(ctx, rows.Err(), "error listing schedules")
}

// ScheduleFire moves LastFiredAt from prev to at; ErrConflict if it is not prev any more,
// ErrNotFound if the schedule does not exist.
func (s *Store) ScheduleFire(ctx context.Context, name string, prev, at time.Time) error {
	err := s.tx(ctx, func(t *tx) error {
		n, err := t.exec(`UPDATE schedules SET last_fired_at = ? WHERE name = ? AND last_fired_at = ?`,
			nanos(at), name, nanos(prev))
		if err != nil || n == 1 {
			return err
		}
		var one int
		if err := t.queryRow(`SELECT 1 FROM schedules WHERE name = ?`, name).Scan(&one); err != nil {
			return err
		}
		return fmt.Errorf("it fired at another time already: %w", store.ErrConflict)
	})
	return wrap(ctx, err, "error firing schedule %q", name)
}

// ScheduleDelete removes a schedule; ErrNotFound if it does not exist.
func (s *Store) ScheduleDelete(ctx context.Context, name string) error {
	err := s.tx(ctx, func(t *tx) error {
		n, err := t.exec(`DELETE FROM schedules WHERE name = ?`, name)
		if err == nil && n == 0 {
			err = store.ErrNotFound
		}
		return err
	})
	return wrap(ctx, err, "error deleting schedule %q", name)
}

// ConnectionPut creates or replaces a connection.
func (s *Store) ConnectionPut(ctx context.Context, c spec.Connection) error {
	if c.Name == "" {
		return errors.New("error saving connection: the connection has no name")
	}
	def, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("error encoding connection %q: %w", c.Name, err)
	}
	err = s.tx(ctx, func(t *tx) error {
		_, err := t.exec(`INSERT INTO connections (name, definition) VALUES (?, ?)
			ON CONFLICT (name) DO UPDATE SET definition = excluded.definition`, c.Name, string(def))
		return err
	})
	return wrap(ctx, err, "error saving connection %q", c.Name)
}

// ConnectionList returns every connection, ordered by name.
func (s *Store) ConnectionList(ctx context.Context) ([]spec.Connection, error) {
	rows, err := s.query(ctx, `SELECT name, definition FROM connections ORDER BY name`)
	if err != nil {
		return nil, wrap(ctx, err, "error listing connections")
	}
	defer rows.Close()
	var out []spec.Connection
	for rows.Next() {
		var (
			name, def string
			c         spec.Connection
		)
		if err := rows.Scan(&name, &def); err != nil {
			return nil, wrap(ctx, err, "error listing connections")
		}
		if err := json.Unmarshal([]byte(def), &c); err != nil {
			return nil, fmt.Errorf("error decoding connection %q: %w", name, err)
		}
		out = append(out, c)
	}
	return out, wrap(ctx, rows.Err(), "error listing connections")
}

// UserPut creates or replaces a user.
func (s *Store) UserPut(ctx context.Context, u store.User) error {
	if u.Email == "" {
		return errors.New("error saving user: the user has no email")
	}
	err := s.tx(ctx, func(t *tx) error {
		_, err := t.exec(`INSERT INTO users (email, name, role, grp) VALUES (?, ?, ?, ?)
			ON CONFLICT (email) DO UPDATE SET name = excluded.name, role = excluded.role, grp = excluded.grp`,
			u.Email, u.Name, u.Role, u.Group)
		return err
	})
	return wrap(ctx, err, "error saving user %q", u.Email)
}

// UserGet returns a user, or ErrNotFound.
func (s *Store) UserGet(ctx context.Context, email string) (*store.User, error) {
	var u store.User
	err := s.queryRow(ctx, `SELECT email, name, role, grp FROM users WHERE email = ?`, email).
		Scan(&u.Email, &u.Name, &u.Role, &u.Group)
	if err != nil {
		return nil, wrap(ctx, err, "error loading user %q", email)
	}
	return &u, nil
}
