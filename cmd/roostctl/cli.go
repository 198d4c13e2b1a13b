package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
	"github.com/roost-mail/roost/raftfsm/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// cli holds what every command shares: where the cluster is, how to print
// and the connections made so far.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	endpoints      string
	output         string
	timeout        time.Duration
	sec            security
	clients        map[string]*client.Client // made from sec at first use, by endpoints
}

// security is how roostctl proves who it is: etcdctl's flag names, each
// also from an environment variable.
type security struct {
	cacert, cert, key  string
	user, passwordFile string
}

// flagSet returns a flag set with the global flags, so they may also be
// given after the command.
func (c *cli) flagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	if c.endpoints == "" {
		c.endpoints, c.output, c.timeout = cmp.Or(os.Getenv("ROOST_ENDPOINTS"), "127.0.0.1:3906"), "text", 30*time.Second
		c.sec = security{cacert: os.Getenv("ROOST_CACERT"), cert: os.Getenv("ROOST_CERT"), key: os.Getenv("ROOST_KEY"),
			user: os.Getenv("ROOST_USER"), passwordFile: os.Getenv("ROOST_PASSWORD_FILE")}
	}
	fs.StringVar(&c.endpoints, "endpoints", c.endpoints, "comma-separated gRPC addresses of cluster nodes, tried in turn (default $ROOST_ENDPOINTS or 127.0.0.1:3906)")
	fs.StringVar(&c.sec.cacert, "cacert", c.sec.cacert, "PEM CA certificate to verify nodes with; turns TLS on ($ROOST_CACERT)")
	fs.StringVar(&c.sec.cert, "cert", c.sec.cert, "PEM client certificate, whose CN and OU name the identity and role ($ROOST_CERT)")
	fs.StringVar(&c.sec.key, "key", c.sec.key, "PEM key for --cert ($ROOST_KEY)")
	fs.StringVar(&c.sec.user, "user", c.sec.user, "user name from the nodes' users file, instead of a certificate ($ROOST_USER)")
	fs.StringVar(&c.sec.passwordFile, "password-file", c.sec.passwordFile, "file holding --user's password ($ROOST_PASSWORD_FILE)")
	fs.StringVar(&c.output, "o", c.output, "output: text or json")
	fs.DurationVar(&c.timeout, "timeout", c.timeout, "deadline for one request")
	return fs
}

// parse parses a command's flags, which may come before, between or after
// its arguments, and checks the number of arguments. What it refuses is
// a usage error (errUsage).
func (c *cli) parse(fs *flag.FlagSet, args []string, minArgs, maxArgs int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usageError(err)
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) < minArgs || len(pos) > maxArgs {
		return nil, fmt.Errorf("%w: %s: wrong number of arguments (see roostctl -h)", errUsage, fs.Name())
	}
	if c.output != "text" && c.output != "json" {
		return nil, fmt.Errorf("%w: -o must be text or json", errUsage)
	}
	return pos, nil
}

// api returns the client for endpoints (comma-separated), made from the
// security flags at first use; each attempt on one endpoint is bounded by
// timeout (zero: by ctx only).
func (c *cli) api(endpoints string, timeout time.Duration) (*client.Client, error) {
	key := fmt.Sprint(endpoints, "|", timeout)
	if cl, ok := c.clients[key]; ok {
		return cl, nil
	}
	conf, err := c.sec.clientConfig()
	if err != nil {
		return nil, err
	}
	conf.Endpoints, conf.AttemptTimeout = strings.Split(endpoints, ","), timeout
	cl, err := client.New(conf)
	if err != nil {
		return nil, err
	}
	if c.clients == nil {
		c.clients = map[string]*client.Client{}
	}
	c.clients[key] = cl
	return cl, nil
}

// clientConfig is the transport and identity the flags ask for:
// plaintext with none, TLS with --cacert, plus a client certificate or a
// user name and password.
func (s security) clientConfig() (client.Config, error) {
	if s.cacert == "" {
		if s.cert != "" || s.key != "" || s.user != "" {
			return client.Config{}, fmt.Errorf("%w: --cert, --key and --user need TLS: give --cacert too", errUsage)
		}
		return client.Config{}, nil
	}
	if (s.cert == "") != (s.key == "") {
		return client.Config{}, fmt.Errorf("%w: --cert and --key go together", errUsage)
	}
	if (s.user == "") != (s.passwordFile == "") {
		return client.Config{}, fmt.Errorf("%w: --user and --password-file go together", errUsage)
	}
	return client.Files{CA: s.cacert, Cert: s.cert, Key: s.key, User: s.user, PasswordFile: s.passwordFile}.Config()
}

func (c *cli) close() {
	for _, cl := range c.clients {
		cl.Close()
	}
}

// at calls fn against the endpoints (comma-separated) in turn until one
// is reachable: a node that is down or has no leader (Unavailable) hands
// over to the next one. Any other answer, success or refusal, is final.
func (c *cli) at(ctx context.Context, endpoints string, timeout time.Duration, fn func(context.Context, *grpc.ClientConn) error) error {
	cl, err := c.api(endpoints, timeout)
	if err != nil {
		return err
	}
	return describe(cl.Do(ctx, fn))
}

// each is at with the --endpoints and --timeout flags.
func (c *cli) each(ctx context.Context, fn func(context.Context, *grpc.ClientConn) error) error {
	return c.at(ctx, c.endpoints, c.timeout, fn)
}

func (c *cli) mailboxes(ctx context.Context, fn func(context.Context, roostv1.MailboxServiceClient) error) error {
	return c.each(ctx, func(ctx context.Context, cc *grpc.ClientConn) error {
		return fn(ctx, roostv1.NewMailboxServiceClient(cc))
	})
}

func (c *cli) cluster(ctx context.Context, fn func(context.Context, roostv1.ClusterServiceClient) error) error {
	return c.each(ctx, func(ctx context.Context, cc *grpc.ClientConn) error {
		return fn(ctx, roostv1.NewClusterServiceClient(cc))
	})
}

// describe turns a gRPC status into a plain error message.
func describe(err error) error {
	if st, ok := status.FromError(err); ok && err != nil {
		return fmt.Errorf("%s: %s", words(st.Code().String()), st.Message())
	}
	return err
}

// words turns "AlreadyExists" into "already exists".
func words(camel string) string {
	var b strings.Builder
	for i, r := range camel {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return strings.ToLower(b.String())
}
