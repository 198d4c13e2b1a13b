package mupdatecompat

import (
	"bytes"
	"encoding/base64"
	"strings"
	"time"

	"github.com/roost-mail/roost/mupdatecompat/internal/wire"
	"github.com/roost-mail/roost/raftfsm/auth"
)

// handleAuthenticate runs AUTHENTICATE mech [initial-response] (RFC 3656
// §4.2) with SASL PLAIN or LOGIN, exchanged as Cyrus does: challenges and
// responses are bare base64 lines, "=" is an empty initial response and
// "*" cancels. Credentials are never logged.
func (c *conn) handleAuthenticate(cmd *wire.Command) *Error {
	if c.id.Role != 0 {
		return errAlreadyAuthd
	}
	if err := nargs(cmd, 1, 2); err != nil {
		return err
	}
	var initial *string
	if len(cmd.Args) == 2 {
		initial = &cmd.Args[1]
	}
	var user, pass string
	var err *Error
	switch strings.ToUpper(cmd.Args[0]) {
	case "PLAIN":
		user, pass, err = c.saslPlain(initial)
	case "LOGIN":
		user, pass, err = c.saslLogin(initial)
	default:
		return no("unsupported mechanism " + cmd.Args[0])
	}
	if err != nil {
		return err
	}
	var id auth.Identity
	ok := false
	if c.s.cfg.Users != nil {
		id, ok = c.s.cfg.Users.Verify(user, pass)
	}
	c.s.cfg.Metrics.Login(ok)
	if !ok {
		c.logger.Warn("authentication failed", "user", user)
		time.Sleep(c.s.cfg.FailedAuthDelay) // slows guessing; only this connection waits
		return no("authentication failed").because("authentication_failed")
	}
	c.s.cfg.Metrics.Connections("none", -1)
	c.id = id
	c.s.cfg.Metrics.Connections(c.roleName(), 1)
	c.logger.Info("authenticated", "user", user, "role", id.Role.String(), "tls", c.tls)
	c.ok(cmd.Tag, "Authenticated")
	return nil
}

// saslPlain reads "authzid NUL authcid NUL password". An authorization
// identity other than the authentication identity is refused: Roost has
// no proxy logins.
func (c *conn) saslPlain(initial *string) (user, pass string, err *Error) {
	msg, err := c.response(initial, "")
	if err != nil {
		return "", "", err
	}
	parts := bytes.Split(msg, []byte{0})
	if len(parts) != 3 || len(parts[1]) == 0 {
		return "", "", no("malformed PLAIN response")
	}
	if len(parts[0]) > 0 && !bytes.Equal(parts[0], parts[1]) {
		return "", "", no("proxy authorization is not allowed")
	}
	return string(parts[1]), string(parts[2]), nil
}

// saslLogin asks for the user name and the password in turn.
func (c *conn) saslLogin(initial *string) (user, pass string, err *Error) {
	u, err := c.response(initial, "Username:")
	if err != nil {
		return "", "", err
	}
	p, err := c.response(nil, "Password:")
	if err != nil {
		return "", "", err
	}
	return string(u), string(p), nil
}

// response returns the initial response if given, else sends challenge
// and reads the client's answer line.
func (c *conn) response(initial *string, challenge string) ([]byte, *Error) {
	var line string
	if initial != nil {
		if *initial == "=" {
			return nil, nil
		}
		line = *initial
	} else {
		c.w.Raw(base64.StdEncoding.EncodeToString([]byte(challenge)))
		if c.bw.Flush() != nil {
			return nil, no("connection lost")
		}
		l, err := c.dec.ReadLine()
		if err != nil {
			return nil, no("Error reading client response")
		}
		line = l
	}
	if strings.HasPrefix(line, "*") {
		return nil, no("Client canceled authentication")
	}
	msg, derr := base64.StdEncoding.DecodeString(line)
	if derr != nil {
		return nil, no("Error reading client response: bad base64")
	}
	return msg, nil
}
