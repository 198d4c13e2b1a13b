package imapwire

import (
	"bufio"
	"io"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

const streamSize = 50 << 20

// filler reads as n octets of 'x' without holding them.
type filler struct{ n int64 }

func (f *filler) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), f.n)]
	for i := range p {
		p[i] = 'x'
	}
	f.n -= int64(len(p))
	return len(p), nil
}

// appendCommand is an APPEND of a size-octet message, read as a stream.
func appendCommand(size int64) io.Reader {
	return io.MultiReader(
		strings.NewReader("A1 APPEND INBOX (\\Seen) {"+strconv.FormatInt(size, 10)+"+}\r\n"),
		&filler{n: size},
		strings.NewReader("\r\nA2 NOOP\r\n"))
}

// streamCommand reads the APPEND and copies its message to w.
func streamCommand(tb testing.TB, in io.Reader, w io.Writer) int64 {
	r := NewCommandReader(bufio.NewReaderSize(in, 64<<10), &Options{MaxLiteral: -1})
	p, err := r.Next()
	if err != nil || p.Literal == nil {
		tb.Fatalf("Next() = %+v, %v, want a literal", p, err)
	}
	n, err := io.Copy(w, p.Literal.Body)
	if err != nil {
		tb.Fatal(err)
	}
	for _, want := range []string{"", "A2 NOOP"} {
		if p, err := r.Next(); err != nil || string(p.Line) != want {
			tb.Fatalf("Next() = %q, %v, want %q", p.Line, err, want)
		}
	}
	return n
}

// BenchmarkLiteralStream streams a 50 MB literal; its B/op and allocs/op
// are those of the Reader and its buffers, not of the literal.
func BenchmarkLiteralStream(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(streamSize)
	for b.Loop() {
		if n := streamCommand(b, appendCommand(streamSize), io.Discard); n != streamSize {
			b.Fatalf("streamed %d octets, want %d", n, streamSize)
		}
	}
}

// TestLiteralStreamMemory: streaming 50 MB allocates no more than
// streaming 1 KB, give or take the runtime's noise.
func TestLiteralStreamMemory(t *testing.T) {
	allocated := func(size int64) uint64 {
		in := appendCommand(size)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		streamCommand(t, in, io.Discard)
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	small, large := allocated(1<<10), allocated(streamSize)
	if large > small+64<<10 {
		t.Errorf("streaming %d octets allocated %d bytes, %d for 1 KiB", streamSize, large, small)
	}
}
