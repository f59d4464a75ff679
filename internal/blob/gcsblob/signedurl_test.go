package gcsblob_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/api/option"

	"github.com/maestro-sql/maestro/internal/blob"
	"github.com/maestro-sql/maestro/internal/blob/gcsblob"
)

const signerEmail = "maestro-worker@demo-project.iam.gserviceaccount.com"

// v4Checker stands in front of fake-gcs-server (which ignores signatures) and checks requests
// carrying X-Goog-Signature the way Cloud Storage documents: it rebuilds the canonical request
// and string to sign, and verifies the RSA-SHA256 signature with the service account's public
// key and the expiry against the clock.
type v4Checker struct {
	key *rsa.PublicKey

	mu sync.Mutex
	// verified counts accepted signatures per escaped path, so subtests running in parallel
	// on other buckets do not disturb each other's counts.
	verified map[string]int
}

func (c *v4Checker) verifiedFor(path string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.verified[path]
}

func (c *v4Checker) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("X-Goog-Signature") {
			if err := c.verify(r); err != nil {
				http.Error(w, "SignatureDoesNotMatch: "+err.Error(), http.StatusForbidden)
				return
			}
			c.mu.Lock()
			if c.verified == nil {
				c.verified = map[string]int{}
			}
			c.verified[r.URL.EscapedPath()]++
			c.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

func (c *v4Checker) verify(r *http.Request) error {
	q := r.URL.Query()
	if q.Get("X-Goog-Algorithm") != "GOOG4-RSA-SHA256" {
		return fmt.Errorf("algorithm %q", q.Get("X-Goog-Algorithm"))
	}
	date, err := time.Parse("20060102T150405Z", q.Get("X-Goog-Date"))
	if err != nil {
		return err
	}
	seconds, err := strconv.Atoi(q.Get("X-Goog-Expires"))
	if err != nil {
		return err
	}
	if time.Now().After(date.Add(time.Duration(seconds) * time.Second)) {
		return errors.New("expired")
	}
	email, scope, ok := strings.Cut(q.Get("X-Goog-Credential"), "/")
	if !ok || email != signerEmail {
		return fmt.Errorf("credential %q", q.Get("X-Goog-Credential"))
	}
	// The canonical query is every parameter but the signature, sorted, as sent.
	var params []string
	for p := range strings.SplitSeq(r.URL.RawQuery, "&") {
		if !strings.HasPrefix(p, "X-Goog-Signature=") {
			params = append(params, p)
		}
	}
	slices.Sort(params)
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	var headers []string
	for h := range strings.SplitSeq(q.Get("X-Goog-SignedHeaders"), ";") {
		switch h {
		case "host":
			headers = append(headers, "host:"+host)
		default:
			headers = append(headers, h+":"+strings.TrimSpace(r.Header.Get(h)))
		}
	}
	canonical := strings.Join([]string{
		r.Method,
		r.URL.EscapedPath(),
		strings.Join(params, "&"),
		strings.Join(headers, "\n") + "\n",
		q.Get("X-Goog-SignedHeaders"),
		"UNSIGNED-PAYLOAD",
	}, "\n")
	digest := sha256.Sum256([]byte(canonical))
	toSign := "GOOG4-RSA-SHA256\n" + q.Get("X-Goog-Date") + "\n" + scope + "\n" + hex.EncodeToString(digest[:])
	sig, err := hex.DecodeString(q.Get("X-Goog-Signature"))
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(toSign))
	return rsa.VerifyPKCS1v15(c.key, crypto.SHA256, sum[:], sig)
}

func newKey(t *testing.T) (*rsa.PrivateKey, []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	return key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// fakeIAM answers the IAM Credentials API's signBlob for signerEmail with key.
func fakeIAM(t *testing.T, key *rsa.PrivateKey, calls *atomic.Int64) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/projects/-/serviceAccounts/"+signerEmail+":signBlob" {
			http.Error(w, `{"error":{"code":404,"message":"no such method"}}`, http.StatusNotFound)
			return
		}
		var req struct{ Payload string }
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		payload, err := base64.StdEncoding.DecodeString(req.Payload)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		sum := sha256.Sum256(payload)
		sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"keyId": "k1", "signedBlob": base64.StdEncoding.EncodeToString(sig)})
	}))
	t.Cleanup(ts.Close)
	return ts
}

func TestSignedURL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	key, keyPEM := newKey(t)
	checker := &v4Checker{key: &key.PublicKey}
	gcs := startFakeGCS(t, checker.wrap)
	var iamCalls atomic.Int64
	iam := fakeIAM(t, key, &iamCalls)

	// Both ways of signing must produce URLs the checker accepts.
	signers := map[string]gcsblob.SignOptions{
		"PrivateKey": {ServiceAccount: signerEmail, PrivateKey: keyPEM, BaseURL: gcs.http.URL},
		"IAMSignBlob": {ServiceAccount: signerEmail, BaseURL: gcs.http.URL, IAMOptions: []option.ClientOption{
			option.WithEndpoint(iam.URL + "/"), option.WithoutAuthentication(),
		}},
	}
	for name, opts := range signers {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			bucket := gcs.newBucketName(t)
			b, err := gcs.open(t, bucket+"/exports").WithSigning(ctx, opts)
			require.NoError(t, err)
			const key = "run 7/orders.csv" // a space, so path escaping is part of the signature
			require.NoError(t, b.Write(ctx, key, strings.NewReader("id,total\n1,9.50\n")))

			t.Run("PlainGetFetchesTheObject", func(t *testing.T) {
				signed, err := b.SignedURL(ctx, key, http.MethodGet, 15*time.Minute)
				require.NoError(t, err)
				u, err := url.Parse(signed)
				require.NoError(t, err)
				require.Equal(t, "/"+bucket+"/exports/run%207/orders.csv", u.EscapedPath())
				// The client signs at its own "now", a moment after ours, and rounds down.
				require.Contains(t, []string{"899", "900"}, u.Query().Get("X-Goog-Expires"))
				require.True(t, strings.HasPrefix(u.Query().Get("X-Goog-Credential"), signerEmail+"/"))
				before := checker.verifiedFor(u.EscapedPath())
				body, status := get(t, signed)
				require.Equal(t, http.StatusOK, status, body)
				require.Equal(t, "id,total\n1,9.50\n", body)
				require.Equal(t, before+1, checker.verifiedFor(u.EscapedPath()), "the signature was checked")
			})

			t.Run("TamperedURLIsRefused", func(t *testing.T) {
				signed, err := b.SignedURL(ctx, key, http.MethodGet, time.Minute)
				require.NoError(t, err)
				u, err := url.Parse(signed)
				require.NoError(t, err)
				q := u.Query()
				q.Set("X-Goog-Expires", "604800")
				longer := *u
				longer.RawQuery = q.Encode()
				for _, tampered := range []string{
					strings.Replace(signed, "orders.csv", "secrets.csv", 1),
					longer.String(),
				} {
					require.NotEqual(t, signed, tampered)
					_, status := get(t, tampered)
					require.Equal(t, http.StatusForbidden, status)
				}
			})

			t.Run("PutURLUploadsAnObject", func(t *testing.T) {
				signed, err := b.SignedURL(ctx, "uploads/in.csv", http.MethodPut, time.Minute)
				require.NoError(t, err)
				req, err := http.NewRequestWithContext(ctx, http.MethodPut, signed, strings.NewReader("x\n1\n"))
				require.NoError(t, err)
				resp, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				_ = resp.Body.Close()
				require.Equal(t, http.StatusOK, resp.StatusCode)
				require.Equal(t, "x\n1\n", readAll(t, b, "uploads/in.csv"))
			})
		})
	}
	t.Cleanup(func() { require.Positive(t, iamCalls.Load(), "the IAM path called signBlob") })
}

func TestSignedURLRefusesBadRequests(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, keyPEM := newKey(t)
	gcs := startFakeGCS(t, nil)
	b, err := gcs.open(t, gcs.newBucketName(t)).WithSigning(ctx, gcsblob.SignOptions{ServiceAccount: signerEmail, PrivateKey: keyPEM})
	require.NoError(t, err)

	_, err = b.SignedURL(ctx, "../x", http.MethodGet, time.Minute)
	require.ErrorIs(t, err, blob.ErrInvalidKey)
	_, err = b.SignedURL(ctx, "x", http.MethodPost, time.Minute)
	require.ErrorContains(t, err, `"POST"`)
	for _, d := range []time.Duration{0, -time.Second, gcsblob.MaxSignedURLExpiry + time.Second} {
		_, err = b.SignedURL(ctx, "x", http.MethodGet, d)
		require.Error(t, err, d)
	}
	signed, err := b.SignedURL(ctx, "x", http.MethodGet, time.Hour)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(signed, "https://"), "without a base URL the URL is HTTPS on the client's host: %s", signed)

	_, err = b.WithSigning(ctx, gcsblob.SignOptions{PrivateKey: keyPEM})
	require.Error(t, err, "a key without its account")
	_, err = b.WithSigning(ctx, gcsblob.SignOptions{BaseURL: "ftp://x"})
	require.Error(t, err)
}

func get(t *testing.T, u string) (string, int) {
	t.Helper()
	resp, err := http.Get(u) //nolint:noctx // a plain GET, as a user's browser would do
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(body), resp.StatusCode
}

func readAll(t *testing.T, b blob.Bucket, key string) string {
	t.Helper()
	rc, err := b.Read(context.Background(), key)
	require.NoError(t, err)
	defer rc.Close()
	var buf bytes.Buffer
	_, err = io.Copy(&buf, rc)
	require.NoError(t, err)
	return buf.String()
}
