package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"runtime"
	"strings"
	"testing"
)

// TestUsage: the usage names every command roostctl has, asking for it
// is not an error, and a command line roostctl cannot run (no or an
// unknown command, an unknown flag, wrong arguments) is a usage error
// (exit status 2), not a failed command.
func TestUsage(t *testing.T) {
	for name := range commands() {
		if !strings.Contains(usage, "\n"+name) {
			t.Errorf("the usage does not list %q", name)
		}
	}
	for _, tt := range []struct {
		args []string
		want error
		// Else the error itself says what is wrong (main prints it).
		printsUsage bool
	}{
		{[]string{"--help"}, flag.ErrHelp, true},
		{[]string{"mailbox", "list", "-h"}, flag.ErrHelp, true},
		{nil, errUsage, true},
		{[]string{"mailbox"}, errUsage, true},
		{[]string{"mailbox", "rename", "a", "b"}, errUsage, true},
		{[]string{"--bogus", "cluster", "status"}, errUsage, true},
		{[]string{"mailbox", "get", "--bogus", "user.jane"}, errUsage, true},
		{[]string{"mailbox", "get"}, errUsage, false},
		{[]string{"-o", "yaml", "mailbox", "get", "user.jane"}, errUsage, false},
		{[]string{"mailbox", "list", "--local", "--consistent"}, errUsage, false},
		{[]string{"cluster", "join", "n4", "127.0.0.1:4037", "--nonvoter", "--now"}, errUsage, false},
	} {
		var stderr bytes.Buffer
		err := run(context.Background(), tt.args, strings.NewReader(""), &bytes.Buffer{}, &stderr)
		if !errors.Is(err, tt.want) {
			t.Errorf("roostctl %q: %v, want %v", tt.args, err, tt.want)
		}
		if printed := strings.Contains(strings.ToLower(stderr.String()), "usage"); printed != tt.printsUsage {
			t.Errorf("roostctl %q printed usage %v, want %v: %q", tt.args, printed, tt.printsUsage, stderr.String())
		}
	}
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"--version"}, strings.NewReader(""), &out, io.Discard); err != nil {
		t.Fatalf("roostctl --version: %v", err)
	}
	if got := out.String(); !strings.HasPrefix(got, "roostctl ") || !strings.Contains(got, runtime.Version()) {
		t.Errorf("roostctl --version printed %q", got)
	}
}
