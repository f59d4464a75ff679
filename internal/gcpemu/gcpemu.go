// Package gcpemu starts the official Google Cloud emulators that ship with the Cloud SDK
// (Firestore, Pub/Sub) for tests and benchmarks: each on a free loopback port, stopped with the
// process group, so a test binary never leaves a Java process behind.
//
// When FIRESTORE_EMULATOR_HOST or PUBSUB_EMULATOR_HOST is already set, the running emulator is
// reused and nothing is started (a developer can keep one running between test runs).
package gcpemu

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Where the Debian packages google-cloud-cli-firestore-emulator and
// google-cloud-cli-pubsub-emulator install the emulators. Overridable for other layouts.
const (
	DefaultFirestoreCommand = "/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator/cloud_firestore_emulator"
	DefaultPubSubCommand    = "/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator"
)

// Environment variables naming the emulators' commands, for machines that install them elsewhere.
const (
	FirestoreCommandEnv = "MAESTRO_FIRESTORE_EMULATOR"
	PubSubCommandEnv    = "MAESTRO_PUBSUB_EMULATOR"
)

// startTimeout bounds an emulator's start; the JVM usually needs 1–3 s, more on a loaded machine.
const startTimeout = 60 * time.Second

// Process is a running emulator (or one found through the environment).
type Process struct {
	// Host is host:port of the emulator, the value for FIRESTORE_EMULATOR_HOST or
	// PUBSUB_EMULATOR_HOST.
	Host string

	pid      int        // the emulator's process group; 0 for a reused emulator
	exited   chan error // receives the process's exit
	output   *syncBuffer
	stopOnce sync.Once
}

// StartFirestore starts the Firestore emulator, or reuses FIRESTORE_EMULATOR_HOST.
func StartFirestore(ctx context.Context) (*Process, error) {
	if host := os.Getenv("FIRESTORE_EMULATOR_HOST"); host != "" {
		return &Process{Host: host}, nil
	}
	command := commandPath(FirestoreCommandEnv, DefaultFirestoreCommand)
	return start(ctx, "Firestore", command, "google-cloud-cli-firestore-emulator", func(port int) []string {
		return []string{"start", "--host=127.0.0.1", "--port=" + strconv.Itoa(port)}
	}, func(host string) bool {
		// The Firestore emulator answers "Ok" on its root once it serves.
		resp, err := http.Get("http://" + host + "/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// StartPubSub starts the Pub/Sub emulator, or reuses PUBSUB_EMULATOR_HOST.
func StartPubSub(ctx context.Context) (*Process, error) {
	if host := os.Getenv("PUBSUB_EMULATOR_HOST"); host != "" {
		return &Process{Host: host}, nil
	}
	command := commandPath(PubSubCommandEnv, DefaultPubSubCommand)
	return start(ctx, "Pub/Sub", command, "google-cloud-cli-pubsub-emulator", func(port int) []string {
		return []string{"--host=127.0.0.1", "--port=" + strconv.Itoa(port)}
	}, func(host string) bool {
		// The Pub/Sub emulator serves gRPC and a small HTTP/1 surface on the same port; its
		// root answers once the server is up.
		resp, err := http.Get("http://" + host + "/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	})
}

// ResetFirestore deletes every document of project's default database, through the emulator's
// own endpoint (much faster than deleting documents one by one).
func ResetFirestore(ctx context.Context, host, project string) error {
	url := "http://" + host + "/emulator/v1/projects/" + project + "/databases/(default)/documents"
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, url, nil)
	if err != nil {
		return fmt.Errorf("error building the Firestore reset request: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("error resetting the Firestore emulator at %s: %w", host, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("error resetting the Firestore emulator at %s: %s", host, resp.Status)
	}
	return nil
}

// Stop kills the emulator and everything it started (the launch scripts fork a JVM). A reused
// emulator is left running.
func (p *Process) Stop() {
	if p == nil || p.pid == 0 {
		return
	}
	p.stopOnce.Do(func() {
		_ = syscall.Kill(-p.pid, syscall.SIGKILL)
		<-p.exited
	})
}

// Output returns what the emulator printed so far, for a failing test's message.
func (p *Process) Output() string {
	if p == nil || p.output == nil {
		return ""
	}
	return p.output.String()
}

func commandPath(env, def string) string {
	if c := os.Getenv(env); c != "" {
		return c
	}
	return def
}

func start(ctx context.Context, name, command, debianPackage string, args func(port int) []string, ready func(host string) bool) (*Process, error) {
	if _, err := os.Stat(command); err != nil {
		return nil, fmt.Errorf("the %s emulator is not installed: %s is missing (install the Debian package %s, or set %s to its command): %w",
			name, command, debianPackage, envFor(name), err)
	}
	port, err := FreePort()
	if err != nil {
		return nil, fmt.Errorf("error finding a free port for the %s emulator: %w", name, err)
	}
	host := "127.0.0.1:" + strconv.Itoa(port)
	out := &syncBuffer{}
	cmd := exec.Command(command, args(port)...)
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, so that Stop kills the JVM the launch script forks as well.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("error starting the %s emulator (%s): %w", name, command, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	p := &Process{Host: host, pid: cmd.Process.Pid, exited: exited, output: out}
	deadline := time.NewTimer(startTimeout)
	defer deadline.Stop()
	for {
		if ready(host) {
			return p, nil
		}
		select {
		case err := <-exited:
			return nil, fmt.Errorf("the %s emulator exited before it was ready (%v); it printed:\n%s", name, err, out.String())
		case <-deadline.C:
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
			return nil, fmt.Errorf("the %s emulator was not ready on %s within %s; it printed:\n%s", name, host, startTimeout, out.String())
		case <-ctx.Done():
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
			return nil, fmt.Errorf("error starting the %s emulator: %w", name, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func envFor(name string) string {
	if name == "Firestore" {
		return FirestoreCommandEnv
	}
	return PubSubCommandEnv
}

// FreePort returns a loopback TCP port that was free a moment ago, for a local server about to
// be started.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// RequiredEnv, set to 1 (scripts/test sets it, and CI=true implies it), makes a missing emulator
// fail the tests that need it instead of skipping them.
const RequiredEnv = "MAESTRO_REQUIRE_EMULATORS"

// Required reports whether tests must fail, not skip, when an emulator cannot start.
func Required() bool {
	return os.Getenv(RequiredEnv) == "1" || os.Getenv("CI") == "true"
}
