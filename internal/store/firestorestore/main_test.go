package firestorestore_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/gcpemu"
	"github.com/maestro-sql/maestro/internal/store/firestorestore"
)

// emulatorErr is why the Firestore emulator is not available, if it is not.
var emulatorErr error

// TestMain starts one Firestore emulator for the whole test binary (or reuses
// FIRESTORE_EMULATOR_HOST); the client finds it through that variable.
func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	p, err := gcpemu.StartFirestore(ctx)
	cancel()
	if err != nil {
		if os.Getenv("CI") == "true" {
			fmt.Fprintln(os.Stderr, "the Firestore emulator is required under CI:", err)
			os.Exit(1)
		}
		emulatorErr = err
	} else {
		os.Setenv("FIRESTORE_EMULATOR_HOST", p.Host)
	}
	code := m.Run()
	p.Stop()
	os.Exit(code)
}

var projects atomic.Int64

// openStore opens a store on a project of its own in the emulator, so that parallel tests
// never see each other's documents (and collection group queries stay within the test).
func openStore(t testing.TB, opts ...firestorestore.Option) *firestorestore.Store {
	t.Helper()
	if emulatorErr != nil {
		t.Skip("the Firestore emulator is not available:", emulatorErr)
	}
	project := fmt.Sprintf("maestro-test-%d-%d", os.Getpid(), projects.Add(1))
	s, err := firestorestore.Open(context.Background(), project, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}
