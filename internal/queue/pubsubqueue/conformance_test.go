package pubsubqueue_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/pstest"
	"github.com/stretchr/testify/require"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/maestro-sql/maestro/internal/gcpemu"
	"github.com/maestro-sql/maestro/internal/queue"
	"github.com/maestro-sql/maestro/internal/queue/pubsubqueue"
	"github.com/maestro-sql/maestro/internal/queue/queuetest"
)

// emulator is the official Pub/Sub emulator this test binary started (nil when it could not).
var (
	emulator    *gcpemu.Process
	emulatorErr error
)

func TestMain(m *testing.M) {
	flag.Parse()
	raiseParallelism()
	emulator, emulatorErr = gcpemu.StartPubSub(context.Background())
	code := m.Run()
	emulator.Stop()
	os.Exit(code)
}

// raiseParallelism lets all conformance cases run at once unless -parallel says otherwise. They
// spend their time waiting out ack deadlines (up to 70 s each), not on the CPU, and the default
// of GOMAXPROCS would queue them one after another.
func raiseParallelism() {
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		_ = flag.Set("test.parallel", "32")
	}
}

// requireEmulator returns the emulator's host, skipping the test on a laptop without the
// emulator but failing it under CI.
func requireEmulator(t testing.TB) string {
	t.Helper()
	if emulatorErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the Pub/Sub emulator is required under CI: %v", emulatorErr)
		}
		t.Skipf("the Pub/Sub emulator is not available: %v", emulatorErr)
	}
	return emulator.Host
}

// projects gives every harness its own project, so that subtests sharing a server never share
// a topic or subscription.
var projects atomic.Int64

// Streams per Receive on each server. pstest hands each stream about one message per 10 ms
// tick, so more streams carry more. The emulator runs with the production setting: with more
// streams, a message nacked as Receive stops can be handed to one of that Receive's own streams
// that is still closing, where nobody reads it until its lease runs out.
const (
	pstestStreams   = 4
	emulatorStreams = 1
)

// connect opens a Queue on a fresh project of the server at host (pstest or the emulator).
func connect(t testing.TB, host string, streams int) *pubsubqueue.Queue {
	t.Helper()
	q, _ := connectProject(t, host, streams)
	return q
}

// connectProject is connect that also names the project.
func connectProject(t testing.TB, host string, streams int) (*pubsubqueue.Queue, string) {
	t.Helper()
	project := fmt.Sprintf("maestro-test-%d", projects.Add(1))
	q, err := pubsubqueue.OpenWithConfig(context.Background(), project,
		pubsubqueue.Config{ReceiveStreams: streams}, localServer(host)...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, q.Close()) })
	return q, project
}

// localServer points a client at host over plain gRPC, as pstest and the emulator expect.
func localServer(host string) []option.ClientOption {
	return []option.ClientOption{
		option.WithEndpoint(host),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	}
}

type harness struct {
	t *testing.T
	q *pubsubqueue.Queue
	// ackDeadline is the shortest lease the server accepts.
	ackDeadline time.Duration
}

func (h harness) Topic(name string) queue.Topic {
	require.NoError(h.t, h.q.CreateTopic(context.Background(), name))
	return h.q.Topic(name)
}

func (h harness) Subscription(name string, cfg queue.SubscriptionConfig) queue.Subscription {
	s, err := h.q.CreateSubscription(context.Background(), name, cfg)
	require.NoError(h.t, err)
	return s
}

func (h harness) Capabilities() queuetest.Capabilities {
	return queuetest.Capabilities{
		AckDeadline:      h.ackDeadline,
		MinMaxDeliveries: pubsubqueue.MinMaxDeliveries,
	}
}

// skipFor skips the running conformance case when limits names it: each entry is one thing the
// local server cannot do that Pub/Sub does, so the case says nothing about this package there.
func skipFor(t *testing.T, limits map[string]string) {
	t.Helper()
	if reason, ok := limits[path.Base(t.Name())]; ok {
		t.Skip(reason)
	}
}

var pstestLimits = map[string]string{
	// pstest (v2.9.0, fake.go) acks a dead-lettered message by its message ID, which never matches
	// the ack ID of its last delivery, so the message stays on the subscription and is published
	// to the dead-letter topic again on every 10 ms delivery tick: the dead-letter subscription
	// floods. TestForwardsToDeadLetterTopicOnPstest checks the forwarding itself.
	"ForwardsToDeadLetterTopicAfterMaxDeliveries": "pstest re-publishes a dead-lettered message to the dead-letter topic every delivery tick",
}

var emulatorLimits = map[string]string{
	// The case sets MaxExtension to the ack deadline and waits at most 10 s for the redelivery
	// that follows it; the emulator, like Pub/Sub, accepts no ack deadline under 10 s. The pstest
	// run covers the case with a 6 s deadline.
	"DeliversAgainWhenHandlerOutlivesMaxExtension": "the emulator accepts no ack deadline under 10 s, the suite's whole wait for this redelivery",
}

func TestConformanceOnPstest(t *testing.T) {
	t.Parallel()
	srv := pstest.NewServer()
	t.Cleanup(func() { _ = srv.Close() })
	queuetest.Run(t, func(t *testing.T) queuetest.Harness {
		skipFor(t, pstestLimits)
		return harness{t: t, q: connect(t, srv.Addr, pstestStreams), ackDeadline: pubsubqueue.MinAckDeadline}
	})
}

func TestConformanceOnEmulator(t *testing.T) {
	t.Parallel()
	host := requireEmulator(t)
	queuetest.Run(t, func(t *testing.T) queuetest.Harness {
		skipFor(t, emulatorLimits)
		// Like Pub/Sub, the emulator refuses stream ack deadlines under 10 s.
		return harness{t: t, q: connect(t, host, emulatorStreams), ackDeadline: 10 * time.Second}
	})
}
