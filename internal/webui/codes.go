package webui

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"time"
)

// SignInCodes are one-time sign-in codes, each standing for an API token: maestro dev prints
// a link with one, so that its admin token is shown once (on first start) and never again in a
// terminal or a browser's address bar. A code works once, for a day, in the process that made
// it. The zero value is not usable; use NewSignInCodes.
type SignInCodes struct {
	now func() time.Time
	mu  sync.Mutex
	// codes by the SHA-256 of the code.
	codes map[string]signInCode
}

type signInCode struct {
	token   string
	expires time.Time
}

// signInCodeTTL is how long a code waits to be used.
const signInCodeTTL = 24 * time.Hour

// NewSignInCodes makes an empty set of codes; now is the clock (nil: time.Now).
func NewSignInCodes(now func() time.Time) *SignInCodes {
	if now == nil {
		now = time.Now
	}
	return &SignInCodes{now: now, codes: map[string]signInCode{}}
}

// Issue makes a code that signs in as token's owner, once.
func (c *SignInCodes) Issue(token string) (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("error making a sign-in code: %w", err)
	}
	code := hex.EncodeToString(b[:])
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, v := range c.codes {
		if now.After(v.expires) {
			delete(c.codes, k)
		}
	}
	c.codes[hashCode(code)] = signInCode{token: token, expires: now.Add(signInCodeTTL)}
	return code, nil
}

// redeem returns the token of a valid code and forgets the code.
func (c *SignInCodes) redeem(code string) (string, bool) {
	if c == nil {
		return "", false
	}
	k := hashCode(code)
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.codes[k]
	delete(c.codes, k)
	if !ok || c.now().After(v.expires) {
		return "", false
	}
	return v.token, true
}

func hashCode(code string) string {
	h := sha256.Sum256([]byte(code))
	return hex.EncodeToString(h[:])
}
