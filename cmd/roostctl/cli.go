package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
	"github.com/roost-mail/roost/raftfsm/certs"
	"github.com/roost-mail/roost/raftfsm/grpcserver"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
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
	dial           []grpc.DialOption // made from sec at the first connection
	conns          map[string]*grpc.ClientConn
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

func (c *cli) conn(addr string) (*grpc.ClientConn, error) {
	if cc, ok := c.conns[addr]; ok {
		return cc, nil
	}
	if c.dial == nil {
		opts, err := c.sec.dialOptions()
		if err != nil {
			return nil, err
		}
		c.dial = append(opts, grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(grpcserver.MaxMsgSize)))
	}
	cc, err := grpc.NewClient(addr, c.dial...)
	if err != nil {
		return nil, err
	}
	if c.conns == nil {
		c.conns = map[string]*grpc.ClientConn{}
	}
	c.conns[addr] = cc
	return cc, nil
}

// dialOptions are the transport and credentials the flags ask for:
// plaintext with none, TLS with --cacert, plus a client certificate or a
// user name and password.
func (s security) dialOptions() ([]grpc.DialOption, error) {
	if s.cacert == "" {
		if s.cert != "" || s.key != "" || s.user != "" {
			return nil, fmt.Errorf("%w: --cert, --key and --user need TLS: give --cacert too", errUsage)
		}
		return []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, nil
	}
	if (s.cert == "") != (s.key == "") {
		return nil, fmt.Errorf("%w: --cert and --key go together", errUsage)
	}
	if (s.user == "") != (s.passwordFile == "") {
		return nil, fmt.Errorf("%w: --user and --password-file go together", errUsage)
	}
	pem, err := os.ReadFile(s.cacert)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--cacert %s holds no PEM certificate", s.cacert)
	}
	// A node's certificate names the node role: no other holder of a
	// certificate from the CA gets roostctl's password or requests.
	conf := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, VerifyConnection: certs.RequireNode}
	if s.cert != "" {
		pair, err := tls.LoadX509KeyPair(s.cert, s.key)
		if err != nil {
			return nil, err
		}
		conf.Certificates = []tls.Certificate{pair}
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(conf))}
	if s.user != "" {
		pw, err := readPassword(s.passwordFile)
		if err != nil {
			return nil, err
		}
		opts = append(opts, grpc.WithPerRPCCredentials(grpcserver.NewBasicAuth(s.user, pw)))
	}
	return opts, nil
}

func (c *cli) close() {
	for _, cc := range c.conns {
		cc.Close()
	}
}

// each calls fn against each endpoint in turn until one is reachable:
// a node that is down or has no leader (Unavailable) hands over to the
// next one. Any other answer, success or refusal, is final.
func (c *cli) each(ctx context.Context, fn func(context.Context, *grpc.ClientConn) error) error {
	var err error
	for _, addr := range strings.Split(c.endpoints, ",") {
		addr = strings.TrimSpace(addr)
		cc, cerr := c.conn(addr)
		if cerr != nil {
			err = cerr
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, c.timeout)
		err = fn(cctx, cc)
		cancel()
		if status.Code(err) != codes.Unavailable {
			return describe(err)
		}
	}
	return describe(err)
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
