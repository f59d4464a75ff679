package callback

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader is the request header that carries a callback's signature, in the form
// "t=<unix seconds>,v1=<hex HMAC-SHA256 of '<t>.<body>'>".
const SignatureHeader = "Maestro-Signature"

// DefaultTolerance is how far a signature's timestamp may be from the receiver's clock before
// Verify rejects it as a replay, when the receiver has no reason to choose another.
const DefaultTolerance = 5 * time.Minute

var (
	// ErrMissingSignature means the signature header was empty or had no v1 signature.
	ErrMissingSignature = errors.New("callback signature missing")
	// ErrMalformedSignature means the signature header could not be parsed.
	ErrMalformedSignature = errors.New("callback signature malformed")
	// ErrStaleSignature means the signature's timestamp is further from now than the tolerance.
	ErrStaleSignature = errors.New("callback signature timestamp outside tolerance")
	// ErrSignatureMismatch means no v1 signature matched the body under the secret.
	ErrSignatureMismatch = errors.New("callback signature does not match")
)

// Sign returns the SignatureHeader value for body sent at t, keyed with secret.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Verify checks that header (a SignatureHeader value) signs body with secret and that its
// timestamp is within tolerance of now, in either direction. Several v1 entries are accepted so a
// sender can sign with an old and a new secret while a secret is rotated; one match is enough.
// Unknown keys are ignored so later versions can add schemes. The comparison is constant-time.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if strings.TrimSpace(header) == "" {
		return ErrMissingSignature
	}
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		key, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return fmt.Errorf("%w: %q has no '='", ErrMalformedSignature, part)
		}
		switch key {
		case "t":
			if ts != "" {
				return fmt.Errorf("%w: more than one timestamp", ErrMalformedSignature)
			}
			ts = value
		case "v1":
			sig, err := hex.DecodeString(value)
			if err != nil || len(sig) != sha256.Size {
				return fmt.Errorf("%w: v1 is not a hex SHA-256 MAC", ErrMalformedSignature)
			}
			sigs = append(sigs, sig)
		}
	}
	if ts == "" {
		return fmt.Errorf("%w: no timestamp", ErrMalformedSignature)
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: timestamp %q is not a unix time", ErrMalformedSignature, ts)
	}
	if len(sigs) == 0 {
		return ErrMissingSignature
	}
	age := now.Sub(time.Unix(unix, 0))
	if age > tolerance || age < -tolerance {
		return fmt.Errorf("%w: signed at %s, now %s", ErrStaleSignature,
			time.Unix(unix, 0).UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	want := mac(secret, ts, body)
	matched := false
	for _, sig := range sigs {
		// Check every candidate so the time taken does not say which one matched.
		if hmac.Equal(sig, want) {
			matched = true
		}
	}
	if !matched {
		return ErrSignatureMismatch
	}
	return nil
}
