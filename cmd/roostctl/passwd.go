package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/roost-mail/roost/raftfsm/auth"
)

// passwd prints a users-file secret ({BLF-CRYPT}bcrypt) for a password
// read from standard input, so it never shows in the process list or the
// shell history.
func passwd(_ context.Context, c *cli, args []string) error {
	if _, err := c.parse(c.flagSet("passwd"), args, 0, 0); err != nil {
		return err
	}
	line, err := bufio.NewReader(c.stdin).ReadString('\n')
	if err != nil && line == "" {
		return errors.New("passwd: give the password on standard input")
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return errors.New("passwd: empty password")
	}
	hash, err := auth.HashPassword(pw)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(c.stdout, hash)
	return err
}

// readPassword reads a password file: its first line, without the line
// break editors add.
func readPassword(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	pw, _, _ := strings.Cut(string(b), "\n")
	pw = strings.TrimSuffix(pw, "\r")
	if pw == "" {
		return "", fmt.Errorf("%s: empty password", path)
	}
	return pw, nil
}
