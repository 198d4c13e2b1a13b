package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"github.com/roost-mail/roost/raftfsm/client"
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

// readPassword reads a password file as every Roost tool does.
func readPassword(path string) (string, error) { return client.ReadPassword(path) }
