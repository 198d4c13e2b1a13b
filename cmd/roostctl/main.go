// Command roostctl administers a Roost cluster over its gRPC API: cluster
// membership and leadership, mailbox entries, change streams and
// snapshots.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/roost-mail/roost/raftfsm/buildinfo"
)

const usage = `usage: roostctl --version
       roostctl [--endpoints HOST:PORT[,...]] [-o text|json]
                [--cacert F [--cert F --key F | --user U --password-file F]] COMMAND

cluster status
cluster join ID RAFTADDR [--nonvoter|--now]
cluster remove ID
cluster transfer-leader [ID]
mailbox get NAME [--local]
mailbox list [PATTERN] [--prefix P] [--location-prefix L] [--byte-order] [--local]
mailbox reserve NAME LOCATION
mailbox activate NAME LOCATION [ACL]
mailbox deactivate NAME LOCATION
mailbox delete NAME
mailbox watch [--from REV] [--prefix P] [--listing] [--local]
snapshot save FILE
snapshot restore FILE
passwd < FILE
cert ca --dir D
cert issue --dir D --name N --role node|admin|backend|frontend [--host H[,H...]]
import --from HOST:PORT --from-user U --from-password-file F [--follow|--dry-run]

--endpoints defaults to $ROOST_ENDPOINTS, else 127.0.0.1:3906; --cacert,
--cert, --key, --user and --password-file to $ROOST_CACERT, $ROOST_CERT,
$ROOST_KEY, $ROOST_USER and $ROOST_PASSWORD_FILE. With --cacert roostctl
speaks TLS and proves who it is with a certificate or a password.
Reads confirm with the leader first, so they show every acknowledged
write through any node; --local reads a node's own, possibly stale, copy.
Names, locations and ACLs are Cyrus's own bytes: an ACL is
"id<TAB>rights<TAB>..." (in bash: $'anyone\tlrs\t').
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp): // -h: the usage was asked for
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "roostctl:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "roostctl:", err)
		os.Exit(1)
	}
}

// errUsage marks a command line roostctl cannot run: no or an unknown
// command, an unknown flag, the wrong number of arguments. Exit status 2,
// against 1 for a command that failed.
var errUsage = errors.New("usage")

// usageError marks a flag parsing error as a usage error; -h stays
// flag.ErrHelp.
func usageError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return fmt.Errorf("%w: %w", errUsage, err)
}

// command is one verb: it parses its own flags and runs.
type command func(ctx context.Context, c *cli, args []string) error

// commands returns the verbs by "group verb".
func commands() map[string]command {
	return map[string]command{
		"cluster status":          clusterStatus,
		"cluster join":            clusterJoin,
		"cluster remove":          clusterRemove,
		"cluster transfer-leader": clusterTransfer,
		"mailbox get":             mailboxGet,
		"mailbox list":            mailboxList,
		"mailbox reserve":         mailboxReserve,
		"mailbox activate":        mailboxActivate,
		"mailbox deactivate":      mailboxDeactivate,
		"mailbox delete":          mailboxDelete,
		"mailbox watch":           mailboxWatch,
		"snapshot save":           snapshotSave,
		"snapshot restore":        snapshotRestore,
		"passwd":                  passwd,
		"cert ca":                 certCA,
		"cert issue":              certIssue,
		"import":                  importMaster,
	}
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr}
	fs := c.flagSet("roostctl")
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	version := fs.Bool("version", false, "print the build and exit")
	if err := fs.Parse(args); err != nil {
		return usageError(err)
	}
	if *version {
		_, err := fmt.Fprintln(stdout, "roostctl", buildinfo.Read())
		return err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return fmt.Errorf("%w: no command", errUsage)
	}
	table := commands()
	name, args := rest[0], rest[1:]
	if _, ok := table[name]; !ok && len(rest) >= 2 {
		name, args = rest[0]+" "+rest[1], rest[2:]
	}
	cmd, ok := table[name]
	if !ok {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: unknown command %q", errUsage, name)
	}
	defer c.close()
	return cmd(ctx, c, args)
}
