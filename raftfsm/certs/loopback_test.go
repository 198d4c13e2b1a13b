package certs

import "testing"

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:3906": true,
		"127.0.0.2:3906": true,
		"[::1]:3906":     true,
		"localhost:3906": true,
		"0.0.0.0:3906":   false,
		":3906":          false,
		"[::]:3906":      false,
		"192.0.2.1:3906": false,
		"127.0.0.1":      false, // no port: not an address a listener takes
	} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}
