package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
	"github.com/roost-mail/roost/raftfsm/grpcserver"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
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
	conns          map[string]*grpc.ClientConn
}

// flagSet returns a flag set with the global flags, so they may also be
// given after the command.
func (c *cli) flagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	if c.endpoints == "" {
		c.endpoints, c.output, c.timeout = "127.0.0.1:3906", "text", 30*time.Second
		if env := os.Getenv("ROOST_ENDPOINTS"); env != "" {
			c.endpoints = env
		}
	}
	fs.StringVar(&c.endpoints, "endpoints", c.endpoints, "comma-separated gRPC addresses of cluster nodes, tried in turn (default $ROOST_ENDPOINTS or 127.0.0.1:3906)")
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
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(grpcserver.MaxMsgSize)))
	if err != nil {
		return nil, err
	}
	if c.conns == nil {
		c.conns = map[string]*grpc.ClientConn{}
	}
	c.conns[addr] = cc
	return cc, nil
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
