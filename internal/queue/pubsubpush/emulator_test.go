package pubsubpush_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/stretchr/testify/require"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/maestro-sql/maestro/internal/gcpemu"
	"github.com/maestro-sql/maestro/internal/queue"
)

var (
	emulator    *gcpemu.Process
	emulatorErr error
)

func TestMain(m *testing.M) {
	emulator, emulatorErr = gcpemu.StartPubSub(context.Background())
	code := m.Run()
	emulator.Stop()
	os.Exit(code)
}

// pushFromEmulator creates a push subscription to endpoint on the official emulator and returns
// a publisher to its topic. project keeps tests apart on the shared emulator.
func pushFromEmulator(t *testing.T, project, endpoint string) *pubsub.Publisher {
	t.Helper()
	if emulatorErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the Pub/Sub emulator is required under CI: %v", emulatorErr)
		}
		t.Skipf("the Pub/Sub emulator is not available: %v", emulatorErr)
	}
	ctx := context.Background()
	c, err := pubsub.NewClient(ctx, project,
		option.WithEndpoint(emulator.Host),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	topic := "projects/" + project + "/topics/tasks"
	_, err = c.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: topic})
	require.NoError(t, err)
	_, err = c.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{
		Name:  "projects/" + project + "/subscriptions/tasks-push",
		Topic: topic,
		PushConfig: &pubsubpb.PushConfig{
			PushEndpoint: endpoint,
			AuthenticationMethod: &pubsubpb.PushConfig_OidcToken_{OidcToken: &pubsubpb.PushConfig_OidcToken{
				ServiceAccountEmail: pusher, Audience: audience,
			}},
		},
	})
	require.NoError(t, err)
	p := c.Publisher("tasks")
	t.Cleanup(p.Stop)
	return p
}

// TestEmulatorPushesAreDecodedAndRedelivered sends real pushes from the official emulator. The
// emulator attaches no OIDC token, so a front stands in for Google and signs each request as a
// push subscription with the right account would arrive; the envelope is the emulator's own.
func TestEmulatorPushesAreDecodedAndRedelivered(t *testing.T) {
	t.Parallel()
	b := setup(t)
	statuses := make(chan int, 10)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Set("Authorization", "Bearer "+b.google.sign(t, validClaims()))
		rec := httptest.NewRecorder()
		b.handler.ServeHTTP(rec, r)
		statuses <- rec.Code
		w.WriteHeader(rec.Code)
	}))
	t.Cleanup(front.Close)
	b.mu.Lock()
	b.fail = errors.New("first attempt fails")
	b.mu.Unlock()

	publisher := pushFromEmulator(t, "push-decode", front.URL+"/push")
	ctx := context.Background()
	id, err := publisher.Publish(ctx, &pubsub.Message{Data: []byte(`{"run":"r1"}`), Attributes: map[string]string{"node": "a.b"}}).Get(ctx)
	require.NoError(t, err)

	next := func() int {
		select {
		case s := <-statuses:
			return s
		case <-time.After(10 * time.Second):
			t.Fatal("the emulator pushed nothing")
			return 0
		}
	}
	require.Equal(t, http.StatusInternalServerError, next())
	b.mu.Lock()
	b.fail = nil
	b.mu.Unlock()
	require.Equal(t, http.StatusNoContent, next(), "the emulator pushes again after a 5xx")
	select {
	case s := <-statuses:
		t.Fatalf("pushed again after a 204 (status %d)", s)
	case <-time.After(3 * time.Second):
	}

	got := b.calls()
	require.Len(t, got, 2)
	for _, m := range got {
		require.Equal(t, &queue.Message{ID: id, Data: []byte(`{"run":"r1"}`), Attributes: map[string]string{"node": "a.b"}}, m)
	}
}

// TestEmulatorPushWithoutTokenIsRefused points the emulator straight at the handler: its
// unsigned pushes are refused and never handled.
func TestEmulatorPushWithoutTokenIsRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	statuses := make(chan int, 10)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		b.handler.ServeHTTP(rec, r)
		statuses <- rec.Code
		w.WriteHeader(rec.Code)
	}))
	t.Cleanup(front.Close)

	publisher := pushFromEmulator(t, "push-unsigned", front.URL+"/push")
	ctx := context.Background()
	_, err := publisher.Publish(ctx, &pubsub.Message{Data: []byte("x")}).Get(ctx)
	require.NoError(t, err)
	select {
	case s := <-statuses:
		require.Equal(t, http.StatusUnauthorized, s)
	case <-time.After(10 * time.Second):
		t.Fatal("the emulator pushed nothing")
	}
	require.Empty(t, b.calls())
}
