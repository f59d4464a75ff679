package gcpemu_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/gcpemu"
)

func TestStartsAndStopsTheFirestoreEmulator(t *testing.T) {
	t.Setenv("FIRESTORE_EMULATOR_HOST", "")
	p, err := gcpemu.StartFirestore(context.Background())
	require.NoError(t, err)
	resp, err := http.Get("http://" + p.Host + "/")
	require.NoError(t, err)
	resp.Body.Close()
	require.NoError(t, gcpemu.ResetFirestore(context.Background(), p.Host, "gcpemu-test"))
	p.Stop()
	_, err = http.Get("http://" + p.Host + "/")
	require.Error(t, err, "the emulator still answers after Stop")
}

func TestStartsThePubSubEmulator(t *testing.T) {
	t.Setenv("PUBSUB_EMULATOR_HOST", "")
	p, err := gcpemu.StartPubSub(context.Background())
	require.NoError(t, err)
	defer p.Stop()
	resp, err := http.Get("http://" + p.Host + "/")
	require.NoError(t, err)
	resp.Body.Close()
}

func TestNamesTheMissingPackage(t *testing.T) {
	t.Setenv("FIRESTORE_EMULATOR_HOST", "")
	t.Setenv(gcpemu.FirestoreCommandEnv, "/nonexistent/cloud_firestore_emulator")
	_, err := gcpemu.StartFirestore(context.Background())
	require.Error(t, err)
	require.Contains(t, err.Error(), "google-cloud-cli-firestore-emulator")
	require.Contains(t, err.Error(), "/nonexistent/cloud_firestore_emulator")
}

func TestReusesAnEmulatorNamedInTheEnvironment(t *testing.T) {
	t.Setenv("PUBSUB_EMULATOR_HOST", "127.0.0.1:1")
	p, err := gcpemu.StartPubSub(context.Background())
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:1", p.Host)
	p.Stop() // a reused emulator is not ours to stop: nothing to kill, no panic
}
