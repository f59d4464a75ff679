package chaos

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/maestro-sql/maestro/internal/gcpemu"
)

// BuildServices builds the three production binaries into dir as deploy/ builds them (no cgo),
// from the module whose root is moduleDir.
func BuildServices(ctx context.Context, moduleDir, dir string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-tags", "disable_grpc_modules,grpcnotrace",
		"-o", dir+string(filepath.Separator), "./cmd/scheduler", "./cmd/worker", "./cmd/api")
	cmd.Dir = moduleDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("error building the service binaries in %s: %w\n%s", moduleDir, err, out)
	}
	return nil
}

// ModuleRoot returns the root folder of the Go module the current folder is in.
func ModuleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("error finding the module root (go env GOMOD): %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("the chaos harness builds the services from Maestro's source: run it inside the repository (or give --binaries)")
	}
	return filepath.Dir(mod), nil
}

// proc is one service process; it can be killed with SIGKILL and started again.
type proc struct {
	name    string // "worker-2"
	binary  string
	env     []string
	logPath string

	cmd  *exec.Cmd
	done chan struct{}
	url  string
}

// start starts the process on a free port, its output appended to its log file, and waits until
// its /healthz answers.
func (p *proc) start(ctx context.Context) error {
	port, err := gcpemu.FreePort()
	if err != nil {
		return fmt.Errorf("error finding a port for %s: %w", p.name, err)
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("error opening the log of %s: %w", p.name, err)
	}
	cmd := exec.Command(p.binary)
	cmd.Env = append(append(os.Environ(), p.env...), "PORT="+strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = logf, logf
	// Killed with the harness, so that an interrupted run leaves no service behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("error starting %s: %w", p.name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	p.cmd, p.done, p.url = cmd, done, "http://127.0.0.1:"+strconv.Itoa(port)

	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := client.Get(p.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-done:
			return fmt.Errorf("%s exited before it was ready; see %s", p.name, p.logPath)
		case <-ctx.Done():
			p.kill()
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.kill()
			return fmt.Errorf("%s was not ready within 60s; see %s", p.name, p.logPath)
		}
	}
}

// kill sends SIGKILL (kill -9) and waits for the process to be gone.
func (p *proc) kill() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	p.cmd = nil
}

// stop sends SIGTERM, as Cloud Run does, and kills after 10 s.
func (p *proc) stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		p.cmd = nil
	case <-time.After(10 * time.Second):
		p.kill()
	}
}
