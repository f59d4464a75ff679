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
		benchmarkHops(b, srv.Addr, pstestStreams)
	})
	b.Run("emulator", func(b *testing.B) {
		benchmarkHops(b, requireEmulator(b), emulatorStreams)
	})
}

func benchmarkHops(b *testing.B, host string, streams int) {
	q := connect(b, host, streams)
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
	// publishes records how long Publish took of each hop: the wait for the server's ack.
	var publishes []time.Duration
	hop := func() time.Duration {
		start := time.Now()
		m := &queue.Message{Data: binary.LittleEndian.AppendUint64(nil, uint64(start.UnixNano()))}
		if err := topic.Publish(ctx, m); err != nil {
			b.Fatal(err)
		}
		publishes = append(publishes, time.Since(start))
		select {
		case d := <-entered:
			return d
		case <-time.After(10 * time.Second):
			b.Fatal("no delivery within 10 s")
			return 0
		}
	}
	hop()
	publishes = publishes[:0]
	var lats []time.Duration
	for b.Loop() {
		lats = append(lats, hop())
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	at := func(ds []time.Duration, p float64) float64 {
		slices.Sort(ds)
		return ms(ds[int(p*float64(len(ds)-1))])
	}
	p50, p99, publishP50 := at(lats, 0.50), at(lats, 0.99), at(publishes, 0.50)
	b.ReportMetric(p50, "p50-ms")
	b.ReportMetric(p99, "p99-ms")
	b.ReportMetric(publishP50, "publish-p50-ms")
	b.ReportMetric(0, "ns/op")
	fmt.Printf("%s hop_p50_ms=%.2f hop_p99_ms=%.2f publish_p50_ms=%.2f hops=%d\n", b.Name(), p50, p99, publishP50, len(lats))
}
