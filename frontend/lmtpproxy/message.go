package lmtpproxy

import (
	"errors"
	"io"

	"github.com/emersion/go-smtp"
)

// The message of a DATA does not go through go-smtp's dataReader, which
// undoes the dot-stuffing a byte at a time, only for the proxy to stuff
// it again for the backend. The session reads it from paramConn as it
// came, dot-stuffed and with its final dot, and passes that on
// unchanged: the backend undoes the stuffing by the same rule, and since
// the proxy refuses bare CRs and LFs (checkedReader) there is no line end
// the backend could read another way than the proxy did. go-smtp's
// dataReader is then handed a message of nothing but the final dot.

// rawMessage reads the message that follows a DATA just answered with
// 354, up to and including its final CRLF.CRLF, then io.EOF.
type rawMessage struct {
	c    *paramConn
	max  int64 // refuse a message larger than this; 0: no limit
	n    int64 // bytes read, stuffing and final dot included
	done bool  // the final dot was read
	err  error
}

// errNoMessage is a message asked for where none follows.
var errNoMessage = errors.New("lmtpproxy: no message follows")

// message returns the message after the DATA go-smtp answered last. Only
// a message of which nothing has been read yet can be passed on whole:
// anything else ends the connection.
func (c *paramConn) message(max int64) *rawMessage {
	m := &rawMessage{c: c, max: max}
	if c.mode != modeAfterData {
		m.err = c.breakOff(errNoMessage)
	}
	return m
}

// start sends the client the replies held, the 354 among them.
func (m *rawMessage) start() {
	if m.err != nil {
		return
	}
	if err := m.c.w.flush(m.c.Conn); err != nil {
		m.err = m.c.breakOff(err)
	}
}

func (m *rawMessage) Read(b []byte) (int, error) {
	if m.done {
		return 0, io.EOF
	}
	if m.err != nil {
		return 0, m.err
	}
	n, err := m.read(b)
	if err != nil {
		m.err = err
		return n, err
	}
	if m.max > 0 && m.size() > m.max {
		m.err = smtp.ErrDataTooLarge
		return 0, m.err
	}
	return n, nil
}

// finalDot is what the end of a message adds to its last line.
const finalDot = ".\r\n"

// read reads the next of the message from the connection into b. A
// message that breaks off ends the connection: where it broke, the client
// and go-smtp would not agree on what the next bytes are.
func (m *rawMessage) read(b []byte) (int, error) {
	c := m.c
	c.advance()
	if c.mode != modeData {
		return 0, c.breakOff(errNoMessage)
	}
	c.idle.renew()
	if c.br.Buffered() == 0 {
		// The client waits for the 354 before it sends the message.
		if err := c.w.flush(c.Conn); err != nil {
			return 0, c.breakOff(err)
		}
	}
	chunk, err := c.available(len(b))
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, c.breakOff(err)
	}
	n, end := c.scanData(chunk)
	copy(b, chunk[:n])
	c.br.Discard(n)
	m.n += int64(n)
	if end {
		// go-smtp's dataReader reads an empty message from here on.
		c.mode, m.done = modeCommand, true
		c.pending = append(c.pending, finalDot...)
	}
	return n, nil
}

// drain reads what is left of the message, so that the conversation goes
// on after it however its reading ended.
func (m *rawMessage) drain() error {
	if m.err != nil && m.err != smtp.ErrDataTooLarge {
		return m.err
	}
	if m.done {
		return nil
	}
	buf := make([]byte, readBuffer)
	for !m.done {
		if _, err := m.read(buf); err != nil {
			return err
		}
	}
	return nil
}

// size is how long the message is: its stuffing and final dot line left
// out. paramConn counts the dots that begin its lines, the final one's
// among them, until the next message.
func (m *rawMessage) size() int64 {
	n := m.n - m.c.dots
	if m.done {
		n -= int64(len(finalDot)) - 1
	}
	return n
}
