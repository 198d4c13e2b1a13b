package imapproxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/roost-mail/roost/frontend/imapwire"
)

// backend is one logged-in connection to a backend server, owned by one
// session.
type backend struct {
	server string // the location's server name
	conn   net.Conn
	r      *imapwire.Reader
	w      *imapwire.Writer
	caps   []string // upper-cased, after login
	tagN   int
}

// dialBackend connects to addr and reads the greeting.
func dialBackend(ctx context.Context, server, addr string, tlsConf *tls.Config) (*backend, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	b := &backend{server: server, conn: conn}
	b.setConn(conn)
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	defer conn.SetDeadline(time.Time{})
	p, err := b.r.Next()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	resp, err := imapwire.ParseResponse(p.Line)
	if err != nil || resp.Kind != imapwire.ResponseUntagged || resp.Status != "OK" {
		conn.Close()
		return nil, fmt.Errorf("greeting %q", p.Line)
	}
	b.r.Discard()
	if tlsConf != nil {
		if err := b.startTLS(server, tlsConf); err != nil {
			conn.Close()
			return nil, err
		}
	}
	return b, nil
}

func (b *backend) setConn(conn net.Conn) {
	b.conn = conn
	b.r = imapwire.NewResponseReader(bufio.NewReaderSize(conn, 64<<10), nil)
	b.w = imapwire.NewWriter(bufio.NewWriterSize(conn, 64<<10))
}

func (b *backend) startTLS(server string, conf *tls.Config) error {
	if _, err := b.simple("STARTTLS"); err != nil {
		return fmt.Errorf("STARTTLS: %w", err)
	}
	conf = conf.Clone()
	if conf.ServerName == "" {
		conf.ServerName, _, _ = strings.Cut(server, ":")
	}
	tc := tls.Client(b.conn, conf)
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("TLS to %s: %w", server, err)
	}
	b.setConn(tc)
	return nil
}

// tag returns a tag of the proxy's own, distinct from clients' usual ones.
func (b *backend) tag() string {
	b.tagN++
	return fmt.Sprintf("roost%d", b.tagN)
}

// login authenticates with SASL PLAIN: as authcid with password acting
// for authzid (empty: for itself), then learns the capabilities.
func (b *backend) login(authzid, authcid, password string) error {
	_, ir, _ := sasl.NewPlainClient(authzid, authcid, password).Start()
	tag := b.tag()
	fmt.Fprintf(b.w, "%s AUTHENTICATE PLAIN %s\r\n", tag, base64.StdEncoding.EncodeToString(ir))
	resp, _, err := b.collect(tag, nil)
	if err != nil {
		return err
	}
	if resp.Status != "OK" {
		return &backendRefusal{resp}
	}
	if _, err := b.capability(); err != nil {
		return err
	}
	return nil
}

// backendRefusal is a backend's NO or BAD to one of the proxy's own
// commands.
type backendRefusal struct{ resp imapwire.Response }

func (e *backendRefusal) Error() string {
	return fmt.Sprintf("backend said %s %s", e.resp.Status, e.resp.Text)
}

// capability asks for and records the backend's capabilities.
func (b *backend) capability() ([]string, error) {
	lines, err := b.simple("CAPABILITY")
	if err != nil {
		return nil, err
	}
	b.caps = nil
	for _, l := range lines {
		if f := strings.Fields(l); len(f) > 2 && strings.EqualFold(f[1], "CAPABILITY") {
			for _, c := range f[2:] {
				b.caps = append(b.caps, strings.ToUpper(c))
			}
		}
	}
	return b.caps, nil
}

func (b *backend) has(capability string) bool { return slices.Contains(b.caps, capability) }

// simple runs one of the proxy's own commands without literals and
// returns the untagged lines it brought, failing unless it ends in OK.
func (b *backend) simple(command string) ([]string, error) {
	tag := b.tag()
	fmt.Fprintf(b.w, "%s %s\r\n", tag, command)
	var lines []string
	resp, _, err := b.collect(tag, func(line string) { lines = append(lines, line) })
	if err != nil {
		return nil, err
	}
	if resp.Status != "OK" {
		return lines, &backendRefusal{resp}
	}
	return lines, nil
}

// collect flushes, then reads responses until the one tagged tag, giving
// each untagged first line to fn (literals are read and dropped).
func (b *backend) collect(tag string, fn func(string)) (imapwire.Response, string, error) {
	if err := b.w.Flush(); err != nil {
		return imapwire.Response{}, "", fmt.Errorf("%w: %v", errBackendGone, err)
	}
	b.conn.SetReadDeadline(time.Now().Add(2 * time.Minute))
	defer b.conn.SetReadDeadline(time.Time{})
	for {
		p, err := b.r.Next()
		if err != nil {
			return imapwire.Response{}, "", fmt.Errorf("%w: %v", errBackendGone, err)
		}
		line := string(p.Line)
		resp, perr := imapwire.ParseResponse(p.Line)
		if err := b.r.Discard(); err != nil {
			return imapwire.Response{}, "", fmt.Errorf("%w: %v", errBackendGone, err)
		}
		if perr == nil && resp.Kind == imapwire.ResponseTagged && resp.Tag == tag {
			return resp, line, nil
		}
		if fn != nil {
			fn(line)
		}
	}
}

func (b *backend) close() {
	b.conn.SetDeadline(time.Now().Add(2 * time.Second))
	fmt.Fprintf(b.w, "%s LOGOUT\r\n", b.tag())
	b.w.Flush()
	b.conn.Close()
}
