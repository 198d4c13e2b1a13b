// Package linger ends a connection whose peer may still be sending.
//
// A server that closes a TCP connection with bytes unread makes the kernel
// answer with a reset instead of an orderly end of stream, and the reset
// can overtake the server's last reply on its way and make the peer's
// stack throw that reply away: a client that sent a line too long to take
// never learns why it was cut off. Close first half-closes the connection
// and reads, for a moment, what the peer still sends.
package linger

import (
	"io"
	"net"
	"time"
)

// How long, and for how many bytes, Close drains a peer.
const (
	drainTime = 2 * time.Second
	drainMax  = 8 << 20
)

// Close sends conn's peer an end of stream, reads and drops what it still
// sends until it closes too or drainTime or drainMax is reached, and
// closes conn.
func Close(conn net.Conn) error {
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	conn.SetReadDeadline(time.Now().Add(drainTime))
	io.Copy(io.Discard, io.LimitReader(conn, drainMax))
	return conn.Close()
}
