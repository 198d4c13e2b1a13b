package lmtpproxy

import (
	"net"
	"sync"
	"time"
)

// coalescer holds what is written to a connection until the peer must
// see it: before the next read that could wait for the peer, on close, or
// once a buffer's worth is held. go-smtp flushes every reply line, and
// every 4 KB of a message, with a write of its own; a system call and a
// wake-up of the peer each, which cost more than the bytes. A write error
// shows at that flush.
type coalescer struct {
	mu  sync.Mutex
	out []byte // protected by mu
}

const coalesceMax = 64 << 10

func (w *coalescer) write(conn net.Conn, b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.out = append(w.out, b...)
	if len(w.out) >= coalesceMax {
		if err := w.flushLocked(conn); err != nil {
			return 0, err
		}
	}
	return len(b), nil
}

func (w *coalescer) flush(conn net.Conn) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushLocked(conn)
}

func (w *coalescer) flushLocked(conn net.Conn) error {
	if len(w.out) == 0 {
		return nil
	}
	_, err := conn.Write(w.out)
	if cap(w.out) > coalesceMax {
		w.out = nil
	} else {
		w.out = w.out[:0]
	}
	return err
}

// closeFlushed sends what is held, briefly, and closes conn with close.
func (w *coalescer) closeFlushed(conn net.Conn, close func(net.Conn) error) error {
	conn.SetWriteDeadline(time.Now().Add(time.Second))
	w.flush(conn)
	return close(conn)
}
