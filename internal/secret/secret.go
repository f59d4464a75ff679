// Package secret resolves the secret references that connections carry (env:NAME, file:PATH,
// secretmanager:projects/P/secrets/S[/versions/V]) into the secret itself, at the moment it is
// needed, so that no secret is ever stored, logged or sent.
package secret

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
)

// ErrUnavailable: the reference's kind cannot be resolved by this resolver.
var ErrUnavailable = errors.New("secret unavailable")

// Resolver resolves references. The zero Resolver reads the process environment and files.
type Resolver struct {
	// Getenv reads environment variables. Defaults to os.Getenv.
	Getenv func(string) string
	// SecretManager resolves secretmanager: references; nil refuses them (maestro dev).
	SecretManager func(ctx context.Context, name string) (string, error)
}

// Resolve returns the secret ref names. Errors name the reference, never a secret.
func (r Resolver) Resolve(ctx context.Context, ref string) (string, error) {
	kind, rest, _ := strings.Cut(ref, ":")
	switch kind {
	case "env":
		getenv := r.Getenv
		if getenv == nil {
			getenv = os.Getenv
		}
		v := getenv(rest)
		if v == "" {
			return "", fmt.Errorf("error resolving secret %q: the environment variable %s is not set", ref, rest)
		}
		return v, nil
	case "file":
		b, err := os.ReadFile(rest)
		if err != nil {
			return "", fmt.Errorf("error resolving secret %q: %w", ref, err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", fmt.Errorf("error resolving secret %q: the file is empty", ref)
		}
		return v, nil
	case "secretmanager":
		if r.SecretManager == nil {
			return "", fmt.Errorf("error resolving secret %q: %w: Secret Manager is read by the production services; locally use env: or file:", ref, ErrUnavailable)
		}
		v, err := r.SecretManager(ctx, rest)
		if err != nil {
			return "", fmt.Errorf("error resolving secret %q: %w", ref, err)
		}
		return v, nil
	}
	// Not echoed: a value that is not a reference may be the secret itself.
	return "", errNotReference
}

var errNotReference = errors.New("error resolving a secret: the connection's secret is not a reference (env:NAME, file:PATH or secretmanager:projects/P/secrets/S)")
