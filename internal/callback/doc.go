// Package callback tells other systems, over HTTP, that something Maestro made is ready: today an
// export's files, later run webhooks.
//
// A callback is a signed JSON POST. The body is a Payload; the Maestro-Signature header carries an
// HMAC-SHA256 over "<unix timestamp>.<body>" keyed with the target's secret, so a receiver can tell
// the request came from Maestro, was not altered, and is recent (see Verify and README.md).
//
// Delivery is at least once: a Client retries network errors, 429 and 5xx with exponential backoff
// and jitter (honouring Retry-After), gives up on other 4xx, stops after a bounded number of
// attempts or when the context ends, and reports every attempt to a Recorder. Retries resend the
// same Payload.ID, so a receiver deduplicates on it.
//
// Callback URLs come from users, so a Client never connects to link-local addresses (which include
// the cloud metadata server at 169.254.169.254), unspecified addresses, or loopback and private
// ranges unless they are explicitly allowed. The check runs when the connection is dialled, on the
// address actually dialled, so a name that resolves to a public address when saved and to a private
// one later (DNS rebinding) is still refused.
package callback
