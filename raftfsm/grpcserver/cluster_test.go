package grpcserver

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
)

func randomBytes(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func TestChunkWriter(t *testing.T) {
	sizes := []int{0, 1, 1000, snapshotChunk - 1, snapshotChunk, snapshotChunk + 1, 3*snapshotChunk + 17}
	writes := []int{1, 7, 4096, snapshotChunk - 1, snapshotChunk, snapshotChunk + 5, 1 << 30}
	for _, size := range sizes {
		for _, w := range writes {
			t.Run(fmt.Sprintf("%d bytes in writes of %d", size, w), func(t *testing.T) {
				in := randomBytes(size, uint64(size))
				var chunks [][]byte
				cw := &chunkWriter{send: func(b []byte) error {
					// The writer reuses its buffer; a stream encodes
					// before Send returns, and so does this copy.
					chunks = append(chunks, bytes.Clone(b))
					return nil
				}}
				for rest := in; len(rest) > 0; {
					k := min(w, len(rest))
					if n, err := cw.Write(rest[:k]); n != k || err != nil {
						t.Fatalf("Write(%d bytes) = %d, %v, want %d, nil", k, n, err, k)
					}
					rest = rest[k:]
				}
				if err := cw.flush(); err != nil {
					t.Fatalf("flush() = %v, want nil", err)
				}
				for i, c := range chunks {
					if len(c) == 0 || len(c) > snapshotChunk {
						t.Errorf("chunk %d has %d bytes, want 1 to %d", i, len(c), snapshotChunk)
					}
					if i < len(chunks)-1 && len(c) != snapshotChunk {
						t.Errorf("chunk %d of %d has %d bytes, want full chunks but the last", i, len(chunks), len(c))
					}
				}
				if want := (size + snapshotChunk - 1) / snapshotChunk; len(chunks) != want {
					t.Errorf("sent %d chunks, want %d", len(chunks), want)
				}
				if got := bytes.Join(chunks, nil); !bytes.Equal(got, in) {
					t.Errorf("concatenated chunks = %d bytes, want the %d bytes written", len(got), len(in))
				}
			})
		}
	}
}

func TestChunkWriterSendError(t *testing.T) {
	errSend := errors.New("stream broken")
	cw := &chunkWriter{send: func([]byte) error { return errSend }}
	if _, err := cw.Write(make([]byte, 10)); err != nil {
		t.Fatalf("Write(10 bytes) = %v, want nil (nothing sent yet)", err)
	}
	if _, err := cw.Write(make([]byte, snapshotChunk)); !errors.Is(err, errSend) {
		t.Errorf("Write(a chunk) = %v, want %v", err, errSend)
	}
	cw = &chunkWriter{send: func([]byte) error { return errSend }}
	cw.Write([]byte("tail"))
	if err := cw.flush(); !errors.Is(err, errSend) {
		t.Errorf("flush() = %v, want %v", err, errSend)
	}
}

// chunkStream returns a recv function that yields chunks, then err.
func chunkStream(chunks [][]byte, err error) func() (*roostv1.RestoreSnapshotRequest, error) {
	return func() (*roostv1.RestoreSnapshotRequest, error) {
		if len(chunks) == 0 {
			return nil, err
		}
		c := chunks[0]
		chunks = chunks[1:]
		return &roostv1.RestoreSnapshotRequest{Chunk: c}, nil
	}
}

func TestStreamReader(t *testing.T) {
	in := randomBytes(3*snapshotChunk+100, 1)
	split := func(sizes ...int) [][]byte {
		var out [][]byte
		rest := in
		for i := 0; len(rest) > 0; i++ {
			k := min(sizes[i%len(sizes)], len(rest))
			out = append(out, rest[:k])
			rest = rest[k:]
		}
		return out
	}
	tests := []struct {
		name   string
		chunks [][]byte
	}{
		{"one chunk", [][]byte{in}},
		{"full chunks", split(snapshotChunk)},
		{"small chunks", split(1, 1000, 3)},
		{"empty chunks between", append(append([][]byte{{}, nil}, split(snapshotChunk/2+1, 0)...), []byte{}, nil)},
	}
	for _, tt := range tests {
		for _, bufSize := range []int{1, 333, snapshotChunk, 4 * snapshotChunk} {
			t.Run(fmt.Sprintf("%s, reads of %d", tt.name, bufSize), func(t *testing.T) {
				r := &streamReader{recv: chunkStream(tt.chunks, io.EOF)}
				var got []byte
				buf := make([]byte, bufSize)
				for range len(in) + 10 {
					n, err := r.Read(buf)
					got = append(got, buf[:n]...)
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatalf("Read() = %d, %v, want nil error or io.EOF", n, err)
					}
				}
				if !bytes.Equal(got, in) {
					t.Errorf("read %d bytes, want the %d bytes sent", len(got), len(in))
				}
				if n, err := r.Read(buf); n != 0 || err != io.EOF {
					t.Errorf("Read() at the end = %d, %v, want 0, io.EOF", n, err)
				}
			})
		}
	}
}

func TestStreamReaderEmpty(t *testing.T) {
	r := &streamReader{recv: chunkStream([][]byte{{}, {}}, io.EOF)}
	if got, err := io.ReadAll(r); err != nil || len(got) != 0 {
		t.Errorf("io.ReadAll(empty stream) = %q, %v, want empty, nil", got, err)
	}
}

func TestStreamReaderError(t *testing.T) {
	errRecv := errors.New("rpc error: client went away")
	r := &streamReader{recv: chunkStream([][]byte{[]byte("abc"), {}, []byte("de")}, errRecv)}
	got, err := io.ReadAll(r)
	if !errors.Is(err, errRecv) {
		t.Errorf("io.ReadAll() error = %v, want %v", err, errRecv)
	}
	if string(got) != "abcde" {
		t.Errorf("io.ReadAll() = %q, want %q before the error", got, "abcde")
	}
	// A wrapped EOF still ends the stream cleanly.
	r = &streamReader{recv: chunkStream([][]byte{[]byte("abc")}, fmt.Errorf("recv: %w", io.EOF))}
	if got, err := io.ReadAll(r); err != nil || string(got) != "abc" {
		t.Errorf("io.ReadAll(stream ending in wrapped EOF) = %q, %v, want %q, nil", got, err, "abc")
	}
}
