package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"testing"
)

// TestUsage: the usage names every command roostctl has, asking for it
// is not an error, and a command line without a known command is a
// usage error (exit status 2), not a failed command.
func TestUsage(t *testing.T) {
	for name := range commands() {
		if !strings.Contains(usage, "\n"+name) {
			t.Errorf("the usage does not list %q", name)
		}
	}
	for _, tt := range []struct {
		args []string
		want error
	}{
		{[]string{"--help"}, flag.ErrHelp},
		{[]string{"mailbox", "list", "-h"}, flag.ErrHelp},
		{nil, errUsage},
		{[]string{"mailbox"}, errUsage},
		{[]string{"mailbox", "rename", "a", "b"}, errUsage},
	} {
		var stderr bytes.Buffer
		err := run(context.Background(), tt.args, strings.NewReader(""), &bytes.Buffer{}, &stderr)
		if !errors.Is(err, tt.want) {
			t.Errorf("roostctl %q: %v, want %v", tt.args, err, tt.want)
		}
		if !strings.Contains(stderr.String(), "usage") && !strings.Contains(stderr.String(), "Usage") {
			t.Errorf("roostctl %q printed no usage: %q", tt.args, stderr.String())
		}
	}
}
