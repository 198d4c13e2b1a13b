package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/roost-mail/roost/raftfsm/auth"
	"github.com/roost-mail/roost/raftfsm/certs"
)

// Files of a CA made by roostctl cert ca, in its directory.
const (
	caCertFile = "ca.crt"
	caKeyFile  = "ca.key"
)

// certCA makes a cluster CA in a new directory's ca.crt and ca.key.
func certCA(_ context.Context, c *cli, args []string) error {
	fs := c.flagSet("cert ca")
	dir := fs.String("dir", "", "directory for ca.crt and ca.key")
	name := fs.String("name", "Roost cluster CA", "the CA's common name")
	days := fs.Int("days", 3650, "days the CA is valid")
	if _, err := c.parse(fs, args, 0, 0); err != nil {
		return err
	}
	if *dir == "" || *days < 1 {
		return fmt.Errorf("%w: cert ca needs --dir, and --days of at least 1", errUsage)
	}
	// A second CA over the first would orphan every certificate it
	// signed.
	if _, err := os.Stat(filepath.Join(*dir, caKeyFile)); err == nil {
		return fmt.Errorf("%s already holds a CA; remove it first to make a new one", *dir)
	}
	ca, err := certs.NewCA(*name, time.Duration(*days)*24*time.Hour)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(*dir, caKeyFile), ca.KeyPEM, 0o600); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(*dir, caCertFile), ca.CertPEM, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "%s\n%s\n", filepath.Join(*dir, caCertFile), filepath.Join(*dir, caKeyFile))
	return nil
}

// certIssue issues NAME.crt and NAME.key, signed by the CA in --dir.
func certIssue(_ context.Context, c *cli, args []string) error {
	fs := c.flagSet("cert issue")
	dir := fs.String("dir", "", "directory of the CA (from cert ca); the certificate and key are written there")
	name := fs.String("name", "", "identity: a node's ID, a backend's server name, a user")
	roleName := fs.String("role", "", "node, admin, backend or frontend")
	hosts := fs.String("host", "", "comma-separated DNS names and IP addresses a node is dialled at (node certificates)")
	days := fs.Int("days", 365, "days the certificate is valid")
	if _, err := c.parse(fs, args, 0, 0); err != nil {
		return err
	}
	role, ok := auth.ParseRole(*roleName)
	if *dir == "" || *name == "" || !ok || *days < 1 {
		return fmt.Errorf("%w: cert issue needs --dir, --name, --role node|admin|backend|frontend, and --days of at least 1", errUsage)
	}
	if strings.ContainsAny(*name, "/\\") || *name == "ca" || strings.HasPrefix(*name, ".") {
		return fmt.Errorf("%w: --name %q: it names the files too: no slashes, no leading dot, and not ca (the CA's own)", errUsage, *name)
	}
	var hostList []string
	for h := range strings.SplitSeq(*hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hostList = append(hostList, h)
		}
	}
	ca, err := certs.LoadCA(filepath.Join(*dir, caCertFile), filepath.Join(*dir, caKeyFile))
	if err != nil {
		return err
	}
	certPEM, keyPEM, err := ca.Issue(certs.Request{Name: *name, Role: role, Hosts: hostList, ValidFor: time.Duration(*days) * 24 * time.Hour})
	if err != nil {
		return err
	}
	certPath, keyPath := filepath.Join(*dir, *name+".crt"), filepath.Join(*dir, *name+".key")
	// The key first: a node that reloads between the two writes must
	// not pair a new certificate with the old key (it would refuse the
	// pair and keep the old one until the next change anyway).
	if err := writeFile(keyPath, keyPEM, 0o600); err != nil {
		return err
	}
	if err := writeFile(certPath, certPEM, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "%s\n%s\n", certPath, keyPath)
	return nil
}

// writeFile replaces path at once, through a rename, so that a node
// reading it meanwhile sees the old file or the new one, never half.
func writeFile(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr, os.Chmod(tmp.Name(), perm)); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}
