package connset

import (
	"bufio"
	"net"
	"testing"
	"time"
)

func TestLimitAndClose(t *testing.T) {
	s := New(2)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := make(chan struct{}, 1)
	served := make(chan net.Conn, 2)
	done := make(chan error, 1)
	go func() {
		done <- s.Serve(l, Handlers{Refusal: "-ERR too many", Refused: func() { refused <- struct{}{} },
			Serve: func(c net.Conn) {
				served <- c
				c.Read(make([]byte, 1)) // until closed
			}})
	}()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	dial()
	dial()
	<-served
	<-served
	third := dial()
	third.SetDeadline(time.Now().Add(10 * time.Second))
	if line, err := bufio.NewReader(third).ReadString('\n'); err != nil || line != "-ERR too many\r\n" {
		t.Errorf("a third client from one address read %q, %v; want the refusal", line, err)
	}
	<-refused
	backend := dial()
	if !s.Track(backend) {
		t.Fatal("Track refused a connection before Close")
	}
	s.Close() // ends both sessions, or it would not return
	if err := <-done; err != nil {
		t.Errorf("Serve after Close = %v, want nil", err)
	}
	a, _ := net.Pipe()
	if s.Track(a) {
		t.Error("Track took a connection after Close")
	}
	if err := s.Serve(l, Handlers{}); err != net.ErrClosed {
		t.Errorf("Serve after Close = %v, want net.ErrClosed", err)
	}
}
