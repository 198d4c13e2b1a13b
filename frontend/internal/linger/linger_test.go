package linger

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// A peer that is still writing when the server gives up gets the server's
// last reply and an end of stream, and its writes do not fail.
func TestReplyOutlivesUnreadInput(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				c.Read(make([]byte, 4096))
				io.WriteString(c, "500 too long\r\n")
				Close(c)
			}()
		}
	}()
	for range 5 {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, strings.Repeat("x", 4<<20)); err != nil {
			t.Fatalf("writing while the server ends the connection: %v", err)
		}
		br := bufio.NewReader(c)
		if line, err := br.ReadString('\n'); line != "500 too long\r\n" {
			t.Fatalf("read %q, %v; want the server's reply", line, err)
		}
		if _, err := br.ReadByte(); err != io.EOF {
			t.Fatalf("after the reply: %v, want the end of the stream", err)
		}
		c.Close()
	}
}
