package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// firestoreCommit is the method a transaction (or a batch of writes) commits through.
const firestoreCommit = "/google.firestore.v1.Firestore/Commit"

// rawCodec passes messages through as bytes, so the proxy forwards any method without knowing
// its types.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	b, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("chaos proxy: cannot marshal %T", v)
	}
	return *b, nil
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("chaos proxy: cannot unmarshal into %T", v)
	}
	*b = append((*b)[:0], data...)
	return nil
}

func (rawCodec) Name() string { return "proto" }

// abortProxy is a gRPC proxy in front of the Firestore emulator that answers a seeded fraction of
// Commit calls with ABORTED, as Firestore does when transactions contend, without forwarding
// them: nothing of an aborted commit is written, and the client's retry must cope.
type abortProxy struct {
	Addr     string // host:port, the services' FIRESTORE_EMULATOR_HOST
	server   *grpc.Server
	conn     *grpc.ClientConn
	fraction float64
	mu       sync.Mutex
	rng      *rand.Rand
	aborted  atomic.Int64
	commits  atomic.Int64
}

func startAbortProxy(target string, seed int64, fraction float64) (*abortProxy, error) {
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
	if err != nil {
		return nil, fmt.Errorf("error connecting the Firestore proxy to %s: %w", target, err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("error listening for the Firestore proxy: %w", err)
	}
	p := &abortProxy{Addr: l.Addr().String(), conn: conn, fraction: fraction,
		rng: rand.New(rand.NewPCG(uint64(seed), 0xF1235))}
	p.server = grpc.NewServer(grpc.UnknownServiceHandler(p.forward), grpc.ForceServerCodec(rawCodec{}))
	go func() { _ = p.server.Serve(l) }()
	return p, nil
}

// Aborted returns how many commits the proxy aborted, of how many it saw.
func (p *abortProxy) Aborted() (aborted, commits int64) { return p.aborted.Load(), p.commits.Load() }

func (p *abortProxy) Close() {
	p.server.Stop()
	_ = p.conn.Close()
}

func (p *abortProxy) abort(method string) bool {
	if method != firestoreCommit {
		return false
	}
	p.commits.Add(1)
	p.mu.Lock()
	hit := p.rng.Float64() < p.fraction
	p.mu.Unlock()
	if hit {
		p.aborted.Add(1)
	}
	return hit
}

// forward relays one call, of any kind of streaming, to the emulator.
func (p *abortProxy) forward(_ any, ss grpc.ServerStream) error {
	method, ok := grpc.MethodFromServerStream(ss)
	if !ok {
		return status.Error(codes.Internal, "chaos proxy: no method")
	}
	if p.abort(method) {
		return status.Error(codes.Aborted, "chaos: injected transaction abort (too much contention on these documents)")
	}
	ctx, cancel := context.WithCancel(ss.Context())
	defer cancel()
	in, _ := metadata.FromIncomingContext(ctx)
	out := metadata.MD{}
	for k, v := range in {
		if strings.HasPrefix(k, ":") || k == "content-type" || k == "user-agent" || k == "te" {
			continue
		}
		out[k] = v
	}
	cs, err := p.conn.NewStream(metadata.NewOutgoingContext(ctx, out),
		&grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, method)
	if err != nil {
		return err
	}
	sent := make(chan error, 1)
	go func() {
		for {
			var m []byte
			if err := ss.RecvMsg(&m); err != nil {
				if errors.Is(err, io.EOF) {
					err = cs.CloseSend()
				}
				sent <- err
				return
			}
			if err := cs.SendMsg(&m); err != nil {
				sent <- nil // the reply side reports the call's error
				return
			}
		}
	}()
	if md, err := cs.Header(); err == nil {
		_ = ss.SendHeader(md)
	}
	for {
		var m []byte
		err := cs.RecvMsg(&m)
		if errors.Is(err, io.EOF) {
			ss.SetTrailer(cs.Trailer())
			return nil
		}
		if err != nil {
			ss.SetTrailer(cs.Trailer())
			return err
		}
		if err := ss.SendMsg(&m); err != nil {
			return err
		}
	}
}
