package callback_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/callback"
)

func TestVerify(t *testing.T) {
	t.Parallel()
	secret := []byte("whsec_test")
	body := []byte(`{"id":"d1","event":"export.completed"}`)
	signedAt := time.Unix(1_800_000_000, 0)

	t.Run("AcceptsItsOwnSignature", func(t *testing.T) {
		t.Parallel()
		header := callback.Sign(secret, signedAt, body)
		require.Regexp(t, `^t=1800000000,v1=[0-9a-f]{64}$`, header)
		require.NoError(t, callback.Verify(secret, header, body, signedAt.Add(time.Minute), callback.DefaultTolerance))
	})

	t.Run("MatchesAnIndependentHMAC", func(t *testing.T) {
		t.Parallel()
		// Computed with: printf '1800000000.{"id":"d1","event":"export.completed"}' | openssl dgst -sha256 -hmac whsec_test
		want := "t=1800000000,v1=b48ea94c8dfe823051a0afe8b49634e3c1c632242f271e1373df9005abd93bfc"
		require.Equal(t, want, callback.Sign(secret, signedAt, body))
	})

	t.Run("RejectsEveryOneByteChangeOfTheBody", func(t *testing.T) {
		t.Parallel()
		header := callback.Sign(secret, signedAt, body)
		for i := range body {
			changed := []byte(string(body))
			changed[i] ^= 0x01
			require.ErrorIs(t, callback.Verify(secret, header, changed, signedAt, time.Minute), callback.ErrSignatureMismatch, "byte %d", i)
		}
	})

	t.Run("RejectsAnotherSecret", func(t *testing.T) {
		t.Parallel()
		header := callback.Sign([]byte("other"), signedAt, body)
		require.ErrorIs(t, callback.Verify(secret, header, body, signedAt, time.Minute), callback.ErrSignatureMismatch)
	})

	t.Run("RejectsAChangedTimestamp", func(t *testing.T) {
		t.Parallel()
		header := strings.Replace(callback.Sign(secret, signedAt, body), "t=1800000000", "t=1800000001", 1)
		require.ErrorIs(t, callback.Verify(secret, header, body, signedAt, time.Minute), callback.ErrSignatureMismatch)
	})

	t.Run("RejectsStaleAndFutureTimestamps", func(t *testing.T) {
		t.Parallel()
		header := callback.Sign(secret, signedAt, body)
		require.NoError(t, callback.Verify(secret, header, body, signedAt.Add(5*time.Minute), 5*time.Minute))
		require.ErrorIs(t, callback.Verify(secret, header, body, signedAt.Add(5*time.Minute+time.Second), 5*time.Minute), callback.ErrStaleSignature)
		require.ErrorIs(t, callback.Verify(secret, header, body, signedAt.Add(-6*time.Minute), 5*time.Minute), callback.ErrStaleSignature)
	})

	t.Run("AcceptsAnyOfSeveralSignaturesDuringRotation", func(t *testing.T) {
		t.Parallel()
		old := callback.Sign([]byte("old"), signedAt, body)
		current := callback.Sign(secret, signedAt, body)
		_, v1Old, _ := strings.Cut(old, ",")
		_, v1New, _ := strings.Cut(current, ",")
		header := "t=1800000000," + v1Old + "," + v1New + ",v0=ignored"
		require.NoError(t, callback.Verify(secret, header, body, signedAt, time.Minute))
		require.NoError(t, callback.Verify([]byte("old"), header, body, signedAt, time.Minute))
		require.ErrorIs(t, callback.Verify([]byte("third"), header, body, signedAt, time.Minute), callback.ErrSignatureMismatch)
	})

	t.Run("RejectsMalformedHeaders", func(t *testing.T) {
		t.Parallel()
		sig := strings.Repeat("ab", 32)
		for header, want := range map[string]error{
			"":                           callback.ErrMissingSignature,
			"t=1800000000":               callback.ErrMissingSignature,
			"v1=" + sig:                  callback.ErrMalformedSignature,
			"t=soon,v1=" + sig:           callback.ErrMalformedSignature,
			"t=1800000000,v1=zz":         callback.ErrMalformedSignature,
			"t=1800000000,v1=abcd":       callback.ErrMalformedSignature,
			"t=1800000000;v1=" + sig:     callback.ErrMalformedSignature,
			"t=1,t=1800000000,v1=" + sig: callback.ErrMalformedSignature,
		} {
			require.ErrorIs(t, callback.Verify(secret, header, body, signedAt, time.Minute), want, "header %q", header)
		}
	})
}
