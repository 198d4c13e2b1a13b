// Package saslplain reads a client's SASL PLAIN response (RFC 4616) as
// IMAP's AUTHENTICATE and POP3's AUTH carry it, in base64, for proxies
// that pass the credentials on to a backend rather than check them.
package saslplain

import (
	"bytes"
	"encoding/base64"
	"errors"

	"github.com/emersion/go-sasl"
)

// Errors Decode returns.
var (
	ErrCancelled = errors.New("saslplain: authentication cancelled")
	ErrBase64    = errors.New("saslplain: invalid base64")
	ErrMalformed = errors.New("saslplain: malformed PLAIN response")
)

// Decode reads a base64 response line: "*" cancels, "=" is empty. An
// authorization identity other than the user's own is refused: a client
// may not act for someone else through the proxy.
func Decode(line string) (user, password string, err error) {
	switch line {
	case "*":
		return "", "", ErrCancelled
	case "=":
		line = ""
	}
	raw, err := base64.StdEncoding.DecodeString(line)
	if err != nil {
		return "", "", ErrBase64
	}
	srv := sasl.NewPlainServer(func(identity, username, pw string) error {
		if identity != "" && identity != username {
			return errors.New("authorization as another user is not allowed")
		}
		user, password = username, pw
		return nil
	})
	if _, _, err := srv.Next(raw); err != nil || bytes.Count(raw, []byte{0}) != 2 {
		return "", "", ErrMalformed
	}
	return user, password, nil
}
