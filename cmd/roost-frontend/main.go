// Command roost-frontend is the user-facing half of a murder on Roost: IMAP,
// POP3 and LMTP proxies that follow the cluster's mailbox locations into a
// local cache and route each client's commands, and each recipient of a
// delivery, to the backends holding their mailboxes.
//
// With no flags at all it follows a roostd on 127.0.0.1:3906, serves
// IMAP on 127.0.0.1:1143 and metrics on 127.0.0.1:3909, with its cache in
// ./roost-frontend-data.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/roost-mail/roost/frontend"
	"github.com/roost-mail/roost/frontend/namespace"
	"github.com/roost-mail/roost/frontend/servermap"
	"github.com/roost-mail/roost/raftfsm/buildinfo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	var usage usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.As(err, &usage):
		fmt.Fprintln(os.Stderr, "roost-frontend:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "roost-frontend:", err)
		os.Exit(1)
	}
}

// usageError is a command line roost-frontend cannot run with: status 2.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

var errVersion = errors.New("--version")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, errVersion) {
		_, err = fmt.Fprintln(stdout, "roost-frontend", buildinfo.Read())
		return err
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	f, err := frontend.Start(cfg)
	if err != nil {
		return err
	}
	<-ctx.Done()
	return f.Close()
}

func parseFlags(args []string, stderr io.Writer) (frontend.Config, error) {
	fs := flag.NewFlagSet("roost-frontend", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := frontend.Config{BackendMap: servermap.Map{}, Namespace: namespace.DefaultConfig()}
	endpoints := fs.String("endpoints", frontend.DefaultEndpoint, "comma-separated gRPC addresses of cluster nodes")
	fs.StringVar(&cfg.ClusterCA, "cluster-cacert", "", "PEM CA of the cluster: TLS to it")
	fs.StringVar(&cfg.ClusterCert, "cluster-cert", "", "PEM client certificate (OU=frontend) for the cluster")
	fs.StringVar(&cfg.ClusterKey, "cluster-key", "", "its key")
	fs.StringVar(&cfg.ClusterUser, "cluster-user", "", "user name for the cluster instead of a certificate")
	fs.StringVar(&cfg.ClusterPasswordFile, "cluster-password-file", "", "file holding --cluster-user's password")
	fs.StringVar(&cfg.DataDir, "data-dir", frontend.DefaultDataDir, "directory of the location cache")
	fs.StringVar(&cfg.IMAPAddr, "imap-addr", frontend.DefaultIMAPAddr, "IMAP listener (STARTTLS with --tls-cert); empty: none")
	fs.StringVar(&cfg.IMAPSAddr, "imaps-addr", "", "IMAP listener with TLS from the first byte")
	fs.StringVar(&cfg.POP3Addr, "pop3-addr", "", "POP3 listener (STLS with --tls-cert); empty: none")
	fs.StringVar(&cfg.POP3SAddr, "pop3s-addr", "", "POP3 listener with TLS from the first byte")
	fs.StringVar(&cfg.LMTPAddr, "lmtp-addr", "", "LMTP listener, HOST:PORT or a Unix socket path; empty: none")
	fs.DurationVar(&cfg.MaxStaleness, "max-staleness", 5*time.Minute, "LMTP recipients get 451 once the cache has not heard from the cluster for this long")
	fs.StringVar(&cfg.Recipients.PostUser, "postuser", "", "the backends' postuser: the local part of shared-folder addresses")
	downcase := fs.Bool("lmtp-downcase-rcpt", true, "the backends' lmtp_downcase_rcpt")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "PEM certificate for clients")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "its key")
	fs.BoolVar(&cfg.RequireTLS, "require-tls", false, "no LOGIN or AUTHENTICATE before TLS")
	fs.BoolVar(&cfg.Insecure, "insecure", false, "serve IMAP beyond loopback without TLS")
	fs.StringVar(&cfg.HTTPAddr, "http-addr", frontend.DefaultHTTPAddr, "/metrics, /healthz, /readyz; empty: none")
	fs.BoolVar(&cfg.Pprof, "pprof", false, "also serve Go's profiles on --http-addr, at /debug/pprof/")
	fs.StringVar(&cfg.ProxyUser, "proxy-user", "", "identity backends accept in proxyservers; empty: log in to backends as the client")
	fs.StringVar(&cfg.ProxyPasswordFile, "proxy-password-file", "", "file holding --proxy-user's password")
	fs.Var(cfg.BackendMap, "backend-map", "NAME=HOST:PORT (its IMAP) or NAME=imap=H:P,lmtp=H:P,pop3=H:P: where to reach the server of that name (repeatable)")
	fs.StringVar(&cfg.DefaultBackend, "default-backend", "", "server for new top-level and user mailboxes; empty: the one with the fewest")
	admins := fs.String("admins", "", "comma-separated Cyrus admins (imapd.conf admins)")
	fs.BoolVar(&cfg.NoUnixGroups, "no-unix-groups", false, "rights come from no system group (the backends' unix_group_enable: no)")
	ns := &cfg.Namespace
	fs.BoolVar(&ns.UnixHierarchySep, "unixhierarchysep", ns.UnixHierarchySep, "the backends' unixhierarchysep")
	fs.BoolVar(&ns.AltNamespace, "altnamespace", ns.AltNamespace, "the backends' altnamespace")
	virt := fs.String("virtdomains", "off", "the backends' virtdomains: off, userid or on")
	fs.StringVar(&ns.DefaultDomain, "defaultdomain", ns.DefaultDomain, "the backends' defaultdomain")
	fs.BoolVar(&ns.CrossDomains, "crossdomains", ns.CrossDomains, "the backends' crossdomains")
	fs.StringVar(&ns.UserPrefix, "userprefix", ns.UserPrefix, "the backends' userprefix")
	fs.StringVar(&ns.SharedPrefix, "sharedprefix", ns.SharedPrefix, "the backends' sharedprefix")
	fs.StringVar(&ns.AltPrefix, "altprefix", ns.AltPrefix, "the backends' altprefix")
	version := fs.Bool("version", false, "print the build and exit")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if *version {
		return cfg, errVersion
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	switch *virt {
	case "off":
		ns.VirtDomains = namespace.VirtDomainsOff
	case "userid":
		ns.VirtDomains = namespace.VirtDomainsUserID
	case "on":
		ns.VirtDomains = namespace.VirtDomainsOn
	default:
		return cfg, fmt.Errorf("--virtdomains must be off, userid or on")
	}
	cfg.Recipients.KeepCase = !*downcase
	cfg.Endpoints = splitList(*endpoints)
	cfg.Admins = splitList(*admins)
	return cfg, cfg.Check()
}

func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}
