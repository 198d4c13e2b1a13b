package servermap

import (
	"errors"
	"fmt"
	"net"
	"strings"
)

// Protocol is one of the services a backend offers the frontend.
type Protocol int

// The protocols, with the standard ports a server without an entry is
// dialled on.
const (
	IMAP Protocol = iota
	LMTP
	POP3
)

var protocols = [...]struct {
	name, port string
}{IMAP: {"imap", "143"}, LMTP: {"lmtp", "24"}, POP3: {"pop3", "110"}}

func (p Protocol) String() string { return protocols[p].name }

// Addrs are one server's service addresses; an empty one means the
// protocol's standard port on the server's host.
type Addrs [len(protocols)]string

// Map maps a location's server name to its addresses. A nil Map dials every
// server by its name.
type Map map[string]Addrs

// ErrSyntax is an entry Set cannot read.
var ErrSyntax = errors.New("servermap: want NAME=HOST:PORT or NAME=imap=HOST:PORT,lmtp=HOST:PORT,pop3=HOST:PORT")

// Set adds one --backend-map entry: NAME=HOST:PORT (the IMAP address), or
// NAME=PROTO=ADDR,... with PROTO one of imap, lmtp and pop3. An LMTP
// address may also be a Unix socket path. Entries for the same name merge,
// so one flag per protocol works too.
func (m Map) Set(entry string) error {
	name, rest, ok := strings.Cut(entry, "=")
	if !ok || name == "" || rest == "" {
		return fmt.Errorf("%w: %q", ErrSyntax, entry)
	}
	a := m[name]
	if !strings.Contains(rest, "=") {
		if err := checkAddr(IMAP, rest); err != nil {
			return fmt.Errorf("--backend-map %s: %w", entry, err)
		}
		a[IMAP] = rest
		m[name] = a
		return nil
	}
	for _, part := range strings.Split(rest, ",") {
		proto, addr, ok := strings.Cut(strings.TrimSpace(part), "=")
		p, known := parseProtocol(proto)
		if !ok || !known {
			return fmt.Errorf("%w: %q", ErrSyntax, entry)
		}
		if err := checkAddr(p, addr); err != nil {
			return fmt.Errorf("--backend-map %s: %w", entry, err)
		}
		a[p] = addr
	}
	m[name] = a
	return nil
}

func parseProtocol(s string) (Protocol, bool) {
	for p, x := range protocols {
		if strings.EqualFold(s, x.name) {
			return Protocol(p), true
		}
	}
	return 0, false
}

func checkAddr(p Protocol, addr string) error {
	if p == LMTP && strings.HasPrefix(addr, "/") {
		return nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || port == "" {
		return fmt.Errorf("%s address %q is not HOST:PORT", p, addr)
	}
	return nil
}

// Addr returns where to dial server's service p: the mapped address, or
// the server's name as host[:port] for IMAP (as Cyrus frontends dial it),
// or its host on the standard port of LMTP and POP3.
func (m Map) Addr(server string, p Protocol) string {
	if addr := m[server][p]; addr != "" {
		return addr
	}
	host, port, err := net.SplitHostPort(server)
	if err != nil {
		host, port = server, ""
	}
	if p != IMAP || port == "" {
		port = protocols[p].port
	}
	return net.JoinHostPort(host, port)
}

// Network returns the network to dial an address from Addr on: "unix" for
// a socket path, else "tcp".
func Network(addr string) string {
	if strings.HasPrefix(addr, "/") {
		return "unix"
	}
	return "tcp"
}

// String lists the entries as --backend-map flags would give them.
func (m Map) String() string {
	var out []string
	for name, a := range m {
		var parts []string
		for p, addr := range a {
			if addr != "" {
				parts = append(parts, Protocol(p).String()+"="+addr)
			}
		}
		out = append(out, name+"="+strings.Join(parts, ","))
	}
	return strings.Join(out, " ")
}
