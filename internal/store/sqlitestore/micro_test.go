package sqlitestore

import (
	"path/filepath"
	"testing"

	"github.com/maestro-sql/maestro/internal/spec"
)

func BenchmarkMicroEmptyTx(b *testing.B) {
	s, err := Open(b.Context(), filepath.Join(b.TempDir(), "m.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for b.Loop() {
		if err := s.tx(b.Context(), func(t *tx) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMicroUpdateTx(b *testing.B) {
	s, err := Open(b.Context(), filepath.Join(b.TempDir(), "m.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.SchedulePut(b.Context(), schedFixture); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		i++
		if err := s.tx(b.Context(), func(t *tx) error {
			_, err := t.exec(`UPDATE schedules SET last_fired_at = ? WHERE name = 'x'`, i)
			return err
		}); err != nil {
			b.Fatal(err)
		}
	}
}

var schedFixture = specSchedule()

func specSchedule() spec.Schedule { return spec.Schedule{Name: "x", Cron: "@daily"} }
