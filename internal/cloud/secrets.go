package cloud

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"

	"google.golang.org/api/option"
	"google.golang.org/api/secretmanager/v1"

	"github.com/maestro-sql/maestro/internal/secret"
)

// Secrets resolves the secret references of connections and callbacks: env: and file: from the
// service's own environment, secretmanager: from Secret Manager (the service account needs
// roles/secretmanager.secretAccessor on the secret). The Secret Manager client is made at the
// first secretmanager: reference, so a deployment that uses none needs no access to it.
func Secrets(opts ...option.ClientOption) secret.Resolver {
	var (
		once sync.Once
		svc  *secretmanager.Service
		err  error
	)
	return secret.Resolver{SecretManager: func(ctx context.Context, name string) (string, error) {
		once.Do(func() {
			// The client outlives the first caller's context.
			svc, err = secretmanager.NewService(context.WithoutCancel(ctx), opts...)
		})
		if err != nil {
			return "", fmt.Errorf("error creating Secret Manager client: %w", err)
		}
		return accessSecret(ctx, svc, name)
	}}
}

// accessSecret reads the secret version name names: projects/P/secrets/S, its latest version,
// or projects/P/secrets/S/versions/V.
func accessSecret(ctx context.Context, svc *secretmanager.Service, name string) (string, error) {
	parts := strings.Split(name, "/")
	switch {
	case len(parts) == 4 && parts[0] == "projects" && parts[2] == "secrets":
		name += "/versions/latest"
	case len(parts) == 6 && parts[0] == "projects" && parts[2] == "secrets" && parts[4] == "versions":
	default:
		return "", errors.New("not projects/P/secrets/S[/versions/V]")
	}
	resp, err := svc.Projects.Secrets.Versions.Access(name).Context(ctx).Do()
	if err != nil {
		return "", err
	}
	if resp.Payload == nil {
		return "", errors.New("the secret version has no payload")
	}
	data, err := base64.StdEncoding.DecodeString(resp.Payload.Data)
	if err != nil {
		return "", fmt.Errorf("error decoding the secret's payload: %w", err)
	}
	return string(data), nil
}
