package lmtpproxy

import (
	"io"
	"net"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// BenchmarkDeliver delivers 10 KB messages to one recipient over one kept
// connection, straight to an in-process LMTP server and through the proxy
// in front of it: the difference is the proxy's own cost.
//
//	go test -run XXX -bench Deliver ./frontend/lmtpproxy/
func BenchmarkDeliver(b *testing.B) {
	be := startBackend(b)
	loc := newLocator(user("john", "be1"))
	_, addr := startProxy(b, loc, nil, be)
	msg := "Subject: bench\r\n\r\n" + strings.Repeat(strings.Repeat("x", 76)+"\r\n", 130)
	for _, target := range []struct{ name, addr string }{{"direct", be.addr()}, {"proxy", addr}} {
		b.Run(target.name, func(b *testing.B) {
			conn, err := net.Dial("tcp", target.addr)
			if err != nil {
				b.Fatal(err)
			}
			c := smtp.NewClientLMTP(conn)
			defer c.Close()
			if err := c.Hello("bench"); err != nil {
				b.Fatal(err)
			}
			if ok, _ := c.Extension("AUTH"); ok {
				if err := c.Auth(sasl.NewPlainClient("", "proxy", "proxy-pw")); err != nil {
					b.Fatal(err)
				}
			}
			for b.Loop() {
				if err := c.Mail("", nil); err != nil {
					b.Fatal(err)
				}
				if err := c.Rcpt("john@example.com", nil); err != nil {
					b.Fatal(err)
				}
				w, err := c.Data()
				if err != nil {
					b.Fatal(err)
				}
				io.WriteString(w, msg)
				if _, err := w.CloseWithLMTPResponse(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
