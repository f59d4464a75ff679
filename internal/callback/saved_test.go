package callback

import (
	"errors"
	"testing"
)

func TestCheckSavedURL(t *testing.T) {
	for raw, refused := range map[string]bool{
		"https://hooks.example.com/x":         false,
		"http://127.0.0.1:8080/hook":          false, // maestro dev's receivers; Send decides
		"http://10.8.0.4/hook":                false,
		"http://169.254.169.254/latest":       true,
		"http://[::ffff:a9fe:a9fe]/":          true,
		"http://[fe80::1%25eth0]/":            true,
		"http://[fd00:ec2::254]/":             true,
		"http://Metadata.Google.Internal./v1": true,
		"http://0.0.0.0:80/":                  true,
		"https://u:p@example.com/":            true,
		"file:///etc/passwd":                  true,
		"gopher://example.com/":               true,
		"http:///nohost":                      true,
	} {
		err := CheckSavedURL(raw)
		if refused != (err != nil) {
			t.Errorf("CheckSavedURL(%q) = %v, want refused=%v", raw, err, refused)
		}
		if err != nil && !errors.Is(err, ErrRefusedAddress) {
			t.Errorf("CheckSavedURL(%q) = %v, not ErrRefusedAddress", raw, err)
		}
	}
}
