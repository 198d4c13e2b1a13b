package pop3proxy

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"strings"
	"time"
)

// backend is a connection to the POP3 service of the INBOX's backend.
type backend struct {
	conn net.Conn
	br   *bufio.Reader
}

// errRefused is the backend's -ERR to the client's credentials.
type errRefused struct{ reply string }

func (e *errRefused) Error() string { return "backend said " + e.reply }

func dialBackend(ctx context.Context, addr string) (*backend, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	b := &backend{conn: conn, br: bufio.NewReaderSize(conn, 4096)}
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	}
	greeting, err := b.line()
	if err == nil && !strings.HasPrefix(greeting, "+OK") {
		err = fmt.Errorf("greeting %q", greeting)
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	return b, nil
}

func (b *backend) line() (string, error) {
	l, err := b.br.ReadString('\n')
	return strings.TrimRight(l, "\r\n"), err
}

func (b *backend) cmd(line string) (string, error) {
	if _, err := fmt.Fprintf(b.conn, "%s\r\n", line); err != nil {
		return "", err
	}
	return b.line()
}

// login authenticates as the client with its own credentials, with AUTH
// PLAIN (RFC 5034), or USER and PASS where the backend has no AUTH. It
// returns the backend's +OK line, or an *errRefused.
func (b *backend) login(user, password string) (string, error) {
	ir := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + password))
	r, err := b.cmd("AUTH PLAIN " + ir)
	switch {
	case err != nil:
		return "", err
	case strings.HasPrefix(r, "+OK"):
		return r, nil
	case strings.HasPrefix(r, "-ERR [AUTH]"), strings.HasPrefix(r, "-ERR [SYS/"), strings.HasPrefix(r, "-ERR [IN-USE]"):
		return "", &errRefused{r}
	}
	if r, err = b.cmd("USER " + user); err != nil {
		return "", err
	}
	if !strings.HasPrefix(r, "+OK") {
		return "", &errRefused{r}
	}
	if r, err = b.cmd("PASS " + password); err != nil {
		return "", err
	}
	if !strings.HasPrefix(r, "+OK") {
		return "", &errRefused{r}
	}
	return r, nil
}

func (b *backend) close() {
	b.conn.SetDeadline(time.Now().Add(time.Second))
	b.cmd("QUIT")
	b.conn.Close()
}
