package saslplain

import (
	"encoding/base64"
	"errors"
	"testing"
)

func TestDecode(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, tc := range []struct {
		line, user, password string
		err                  error
	}{
		{b64("\x00jane\x00secret"), "jane", "secret", nil},
		{b64("jane\x00jane\x00secret"), "jane", "secret", nil},
		{b64("john\x00jane\x00secret"), "", "", ErrMalformed},
		{b64("jane\x00secret"), "", "", ErrMalformed},
		{b64("\x00jane\x00se\x00cret"), "", "", ErrMalformed},
		{"*", "", "", ErrCancelled},
		{"=", "", "", ErrMalformed},
		{"not base64!", "", "", ErrBase64},
	} {
		user, password, err := Decode(tc.line)
		if user != tc.user || password != tc.password || !errors.Is(err, tc.err) {
			t.Errorf("Decode(%q) = %q, %q, %v; want %q, %q, %v", tc.line, user, password, err, tc.user, tc.password, tc.err)
		}
	}
}
