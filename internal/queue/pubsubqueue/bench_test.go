package pubsubqueue_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/pstest"

	"github.com/maestro-sql/maestro/internal/queue"
)

// BenchmarkHopLatency measures one hop as the scheduler and workers make it: publish a message
// (waiting for the server's ack), and time until a handler of the subscription is entered. Hops
// run one after another, so each measures an idle queue's latency, not a backlog's. Run with
// e.g. -bench HopLatency -benchtime 300x.
func BenchmarkHopLatency(b *testing.B) {
	b.Run("pstest", func(b *testing.B) {
		srv := pstest.NewServer()
		b.Cleanup(func() { _ = srv.Close() })
		benchmarkHops(b, srv.Addr)
	})
	b.Run("emulator", func(b *testing.B) {
		benchmarkHops(b, requireEmulator(b))
	})
}

func benchmarkHops(b *testing.B, host string) {
	q := connect(b, host)
	ctx := context.Background()
	sub, err := q.CreateSubscription(ctx, "hops-sub", queue.SubscriptionConfig{Topic: "hops", MaxOutstanding: 16})
	if err != nil {
		b.Fatal(err)
	}
	topic := q.Topic("hops")
	entered := make(chan time.Duration, 16)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = sub.Receive(rctx, func(_ context.Context, m *queue.Message) error {
			sent := int64(binary.LittleEndian.Uint64(m.Data))
			entered <- time.Duration(time.Now().UnixNano() - sent)
			return nil
		})
	}()
	b.Cleanup(func() { cancel(); <-done })

	// The first hop opens the streams and the publisher's connection: not a steady-state hop.
	hop := func() time.Duration {
		m := &queue.Message{Data: binary.LittleEndian.AppendUint64(nil, uint64(time.Now().UnixNano()))}
		if err := topic.Publish(ctx, m); err != nil {
			b.Fatal(err)
		}
		select {
		case d := <-entered:
			return d
		case <-time.After(10 * time.Second):
			b.Fatal("no delivery within 10 s")
			return 0
		}
	}
	hop()
	var lats []time.Duration
	for b.Loop() {
		lats = append(lats, hop())
	}
	slices.Sort(lats)
	at := func(p float64) time.Duration { return lats[int(p*float64(len(lats)-1))] }
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(at(0.50)), "p50-ms")
	b.ReportMetric(ms(at(0.99)), "p99-ms")
	b.ReportMetric(0, "ns/op")
	fmt.Printf("%s hop_p50_ms=%.2f hop_p99_ms=%.2f hops=%d\n", b.Name(), ms(at(0.50)), ms(at(0.99)), len(lats))
}
