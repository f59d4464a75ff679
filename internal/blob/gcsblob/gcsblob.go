// Package gcsblob is the production blob backend: objects in a Cloud Storage bucket, optionally
// under a key prefix, through the official client (cloud.google.com/go/storage).
//
// Cloud Storage creates an object only when its upload is finalized, so a write that fails or is
// cancelled part way leaves the previous object (or none) in place: Write cancels the upload's
// context on any error instead of finishing it.
//
// SignedURL hands out V4 signed URLs, so that a user or another system can fetch an export
// without Google credentials.
package gcsblob

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iamcredentials/v1"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/maestro-sql/maestro/internal/blob"
)

// MaxSignedURLExpiry is the longest validity Cloud Storage accepts for a V4 signed URL.
const MaxSignedURLExpiry = 7 * 24 * time.Hour

// Bucket is a Cloud Storage bucket, or the part of one under a key prefix. It is safe for
// concurrent use.
type Bucket struct {
	client *storage.Client
	handle *storage.BucketHandle
	name   string
	// prefix is "" or ends with a slash; it is prepended to every key.
	prefix string
	signer *signer
}

var _ blob.Bucket = (*Bucket)(nil)

// Open connects to the bucket named by location: "bucket" or "bucket/key/prefix" (a leading
// "gs://" is allowed), so that several deployments can share one bucket. opts configure the
// storage client as for storage.NewClient (credentials default to Application Default
// Credentials; STORAGE_EMULATOR_HOST or option.WithEndpoint point it at an emulator).
//
// Open lists at most one object to check that the bucket exists and is readable, because
// roles/storage.objectAdmin, all the services hold, does not grant reading the bucket's own
// metadata.
func Open(ctx context.Context, location string, opts ...option.ClientOption) (*Bucket, error) {
	name, prefix, err := parseLocation(location)
	if err != nil {
		return nil, err
	}
	client, err := storage.NewClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("error creating Cloud Storage client: %w", err)
	}
	b := &Bucket{client: client, handle: client.Bucket(name), name: name, prefix: prefix}
	it := b.handle.Objects(ctx, &storage.Query{Prefix: prefix})
	if _, err := it.Next(); err != nil && !errors.Is(err, iterator.Done) {
		_ = client.Close()
		return nil, fmt.Errorf("error opening bucket %q: %w", location, err)
	}
	return b, nil
}

// parseLocation splits "gs://bucket/prefix" into the bucket name and a prefix ending in a slash.
func parseLocation(location string) (name, prefix string, err error) {
	rest := strings.TrimPrefix(location, "gs://")
	name, prefix, _ = strings.Cut(rest, "/")
	if name == "" {
		return "", "", fmt.Errorf("error opening bucket %q: no bucket name", location)
	}
	prefix = strings.TrimSuffix(prefix, "/")
	if prefix == "" {
		return name, "", nil
	}
	if err := blob.ValidateKey(prefix); err != nil {
		return "", "", fmt.Errorf("error opening bucket %q: bad key prefix: %w", location, err)
	}
	return name, prefix + "/", nil
}

// Close releases the client's connections.
func (b *Bucket) Close() error { return b.client.Close() }

// Name returns the bucket's name.
func (b *Bucket) Name() string { return b.name }

// Prefix returns the key prefix ("" or ending with a slash) under which objects are stored.
func (b *Bucket) Prefix() string { return b.prefix }

// URI returns the gs:// address of the object with key, the form BigQuery load and extract
// jobs take.
func (b *Bucket) URI(key string) string { return "gs://" + b.name + "/" + b.prefix + key }

// Write implements blob.Bucket.
func (b *Bucket) Write(ctx context.Context, key string, r io.Reader) error {
	if err := blob.ValidateKey(key); err != nil {
		return fmt.Errorf("error writing object: %w", err)
	}
	if err := b.write(ctx, key, r); err != nil {
		return fmt.Errorf("error writing object %q to bucket %q: %w", key, b.name, err)
	}
	return nil
}

func (b *Bucket) write(ctx context.Context, key string, r io.Reader) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// Cancelling the upload's context is the client's way to abandon an upload without
	// finalizing it; Close would store whatever had been written so far.
	uploadCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	w := b.handle.Object(b.prefix + key).NewWriter(uploadCtx)
	w.ContentType = mime.TypeByExtension(path.Ext(key))
	if _, err := io.Copy(w, blob.ContextReader(ctx, r)); err != nil {
		cancel(err)
		_ = w.Close() // waits for the upload goroutine; its error is the cancellation
		return err
	}
	return w.Close()
}

// Read implements blob.Bucket. The reader stops working when ctx is done; the caller closes it.
func (b *Bucket) Read(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := blob.ValidateKey(key); err != nil {
		return nil, fmt.Errorf("error reading object: %w", err)
	}
	rc, err := b.handle.Object(b.prefix + key).NewReader(ctx)
	if err != nil {
		return nil, fmt.Errorf("error reading object %q from bucket %q: %w", key, b.name, mapNotFound(err))
	}
	return rc, nil
}

// List implements blob.Bucket. Objects whose names are not valid keys (folder placeholders
// ending in a slash made by the console, say) are left out, since Read would refuse them.
func (b *Bucket) List(ctx context.Context, prefix string) ([]string, error) {
	q := &storage.Query{Prefix: b.prefix + prefix}
	if err := q.SetAttrSelection([]string{"Name"}); err != nil {
		return nil, fmt.Errorf("error listing objects with prefix %q: %w", prefix, err)
	}
	keys := []string{}
	it := b.handle.Objects(ctx, q)
	for {
		attrs, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("error listing objects with prefix %q in bucket %q: %w", prefix, b.name, err)
		}
		key := strings.TrimPrefix(attrs.Name, b.prefix)
		if blob.ValidateKey(key) == nil {
			keys = append(keys, key)
		}
	}
	// Cloud Storage lists in byte order already; sorting keeps the contract explicit.
	slices.Sort(keys)
	return keys, nil
}

// Delete implements blob.Bucket.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	if err := blob.ValidateKey(key); err != nil {
		return fmt.Errorf("error deleting object: %w", err)
	}
	if err := b.handle.Object(b.prefix + key).Delete(ctx); err != nil {
		return fmt.Errorf("error deleting object %q from bucket %q: %w", key, b.name, mapNotFound(err))
	}
	return nil
}

func mapNotFound(err error) error {
	if errors.Is(err, storage.ErrObjectNotExist) {
		return blob.ErrNotFound
	}
	return err
}

// SignOptions say how SignedURL signs. The zero value signs as the client's own credentials: with
// the private key of a service-account key file if the client has one, otherwise through IAM
// signBlob as the service account the metadata server names (the Cloud Run service's account,
// which then needs roles/iam.serviceAccountTokenCreator on itself).
type SignOptions struct {
	// ServiceAccount is the e-mail address of the account whose signature the URL carries.
	// Defaults to the client's account, as above.
	ServiceAccount string
	// PrivateKey is ServiceAccount's PEM-encoded RSA private key (the "private_key" of its JSON
	// key file). When empty and ServiceAccount is set, the IAM Credentials API's signBlob signs,
	// so no key ever has to be stored; the caller needs roles/iam.serviceAccountTokenCreator on
	// ServiceAccount.
	PrivateKey []byte
	// IAMOptions configure the IAM Credentials client that calls signBlob. Defaults to
	// Application Default Credentials.
	IAMOptions []option.ClientOption
	// BaseURL is the scheme and host the URL points at. Defaults to https:// and the client's
	// endpoint host (storage.googleapis.com); an emulator over plain HTTP needs
	// "http://host:port".
	BaseURL string
}

type signer struct {
	opts storage.SignedURLOptions
	iam  *iamcredentials.Service
}

// WithSigning returns a Bucket sharing b's client that signs URLs as opts say.
func (b *Bucket) WithSigning(ctx context.Context, opts SignOptions) (*Bucket, error) {
	s := &signer{opts: storage.SignedURLOptions{
		Scheme:         storage.SigningSchemeV4,
		GoogleAccessID: opts.ServiceAccount,
		PrivateKey:     opts.PrivateKey,
	}}
	if opts.BaseURL != "" {
		u, err := url.Parse(opts.BaseURL)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("error configuring URL signing: base URL %q is not http(s)://host[:port]", opts.BaseURL)
		}
		s.opts.Hostname = u.Host
		s.opts.Insecure = u.Scheme == "http"
	}
	if len(opts.PrivateKey) > 0 && opts.ServiceAccount == "" {
		return nil, errors.New("error configuring URL signing: a private key needs the service account it belongs to")
	}
	if opts.ServiceAccount != "" && len(opts.PrivateKey) == 0 {
		iam, err := iamcredentials.NewService(ctx, opts.IAMOptions...)
		if err != nil {
			return nil, fmt.Errorf("error creating IAM Credentials client for URL signing: %w", err)
		}
		s.iam = iam
	}
	c := *b
	c.signer = s
	return &c, nil
}

// SignedURL returns a V4 signed URL that lets anyone holding it do method (GET, PUT, HEAD,
// DELETE) on the object with key for expires (at most seven days), without credentials. It does
// not check that the object exists.
func (b *Bucket) SignedURL(ctx context.Context, key, method string, expires time.Duration) (string, error) {
	if err := blob.ValidateKey(key); err != nil {
		return "", fmt.Errorf("error signing URL: %w", err)
	}
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete:
	default:
		return "", fmt.Errorf("error signing URL for %q: method %q is not GET, HEAD, PUT or DELETE", key, method)
	}
	if expires <= 0 || expires > MaxSignedURLExpiry {
		return "", fmt.Errorf("error signing URL for %q: expiry %s is not between 0 and %s", key, expires, MaxSignedURLExpiry)
	}
	s := b.signer
	if s == nil {
		s = &signer{opts: storage.SignedURLOptions{Scheme: storage.SigningSchemeV4}}
	}
	opts := s.opts
	opts.Method = method
	opts.Expires = time.Now().Add(expires)
	if s.iam != nil {
		opts.SignBytes = func(payload []byte) ([]byte, error) { return s.signBlob(ctx, payload) }
	}
	u, err := b.handle.SignedURL(b.prefix+key, &opts)
	if err != nil {
		return "", fmt.Errorf("error signing URL for object %q in bucket %q: %w", key, b.name, err)
	}
	return u, nil
}

// signBlob has IAM sign payload with the service account's Google-managed key.
func (s *signer) signBlob(ctx context.Context, payload []byte) ([]byte, error) {
	name := "projects/-/serviceAccounts/" + s.opts.GoogleAccessID
	resp, err := s.iam.Projects.ServiceAccounts.SignBlob(name, &iamcredentials.SignBlobRequest{
		Payload: base64.StdEncoding.EncodeToString(payload),
	}).Context(ctx).Do()
	if err != nil {
		return nil, fmt.Errorf("error calling IAM signBlob as %s: %w", s.opts.GoogleAccessID, err)
	}
	sig, err := base64.StdEncoding.DecodeString(resp.SignedBlob)
	if err != nil {
		return nil, fmt.Errorf("error decoding IAM signBlob's signature: %w", err)
	}
	return sig, nil
}
