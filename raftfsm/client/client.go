package client

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// MaxMsgSize is the largest gRPC message Roost's servers and clients
// accept: a snapshot chunk, a page of a listing, a Batch.
const MaxMsgSize = 64 << 20

// Config says where a cluster is and who the caller is.
type Config struct {
	// Endpoints are gRPC addresses (host:port) of cluster nodes, tried in
	// order. At least one is required.
	Endpoints []string
	// TLS, when set, is used on every connection; its RootCAs should be
	// the cluster's CA and Certificates the caller's own. Nil means
	// plaintext, which nodes accept on loopback only.
	TLS *tls.Config
	// TransportCredentials, when set, replaces TLS: credentials that, for
	// example, reload their certificate as it rotates.
	TransportCredentials credentials.TransportCredentials
	// User and Password, when User is set, are sent with every call as the
	// caller's identity (a users-file entry on the nodes). They need TLS.
	User, Password string
	// AttemptTimeout bounds one attempt of a unary call on one endpoint;
	// zero means only the caller's context bounds it.
	AttemptTimeout time.Duration
	// Logger receives reconnections and failovers; nil discards them.
	Logger *slog.Logger
}

// Client is a connection to every endpoint of a cluster. It is safe for
// concurrent use.
type Client struct {
	endpoints []string           // immutable
	conns     []*grpc.ClientConn // immutable; one per endpoint
	timeout   time.Duration      // immutable
	logger    *slog.Logger       // immutable

	mu        sync.Mutex
	preferred int // protected by mu: the endpoint that answered last
}

// New returns a client for cfg. Connections are made lazily, so New
// succeeds while every node is down.
func New(cfg Config) (*Client, error) {
	var endpoints []string
	for _, e := range cfg.Endpoints {
		if e = strings.TrimSpace(e); e != "" {
			endpoints = append(endpoints, e)
		}
	}
	if len(endpoints) == 0 {
		return nil, ErrNoEndpoints
	}
	creds := cfg.TransportCredentials
	if creds == nil && cfg.TLS != nil {
		creds = credentials.NewTLS(cfg.TLS)
	}
	if creds == nil {
		if cfg.User != "" {
			return nil, ErrPasswordNeedsTLS
		}
		creds = insecure.NewCredentials()
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMsgSize), grpc.MaxCallSendMsgSize(MaxMsgSize)),
	}
	if cfg.User != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(NewBasicAuth(cfg.User, cfg.Password)))
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Client{endpoints: endpoints, timeout: cfg.AttemptTimeout, logger: logger.With("component", "client")}
	for _, e := range endpoints {
		cc, err := grpc.NewClient(e, opts...)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("client: endpoint %q: %w", e, err)
		}
		c.conns = append(c.conns, cc)
	}
	return c, nil
}

// Close closes every connection. Calls in progress fail.
func (c *Client) Close() error {
	for _, cc := range c.conns {
		cc.Close()
	}
	return nil
}

// Endpoints returns the endpoints in the order they are tried.
func (c *Client) Endpoints() []string { return append([]string(nil), c.endpoints...) }

// Do calls fn with each endpoint's connection in turn, starting with the
// one that answered last, until one gives an answer other than
// Unavailable (a node that is down, shutting down, or without a leader).
// That answer, success or refusal, is returned; if every endpoint is
// unavailable, the last error is.
func (c *Client) Do(ctx context.Context, fn func(context.Context, *grpc.ClientConn) error) error {
	start := c.start()
	var err error
	for i := range c.conns {
		k := (start + i) % len(c.conns)
		err = c.attempt(ctx, k, fn)
		if status.Code(err) != codes.Unavailable {
			c.prefer(k)
			return err
		}
		if ctx.Err() != nil {
			return err
		}
		c.logger.Debug("endpoint unavailable", "endpoint", c.endpoints[k], "err", err)
	}
	return err
}

func (c *Client) attempt(ctx context.Context, k int, fn func(context.Context, *grpc.ClientConn) error) error {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	return fn(ctx, c.conns[k])
}

func (c *Client) start() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.preferred
}

func (c *Client) prefer(k int) {
	c.mu.Lock()
	c.preferred = k
	c.mu.Unlock()
}

// Mailboxes is Do with the MailboxService.
func (c *Client) Mailboxes(ctx context.Context, fn func(context.Context, roostv1.MailboxServiceClient) error) error {
	return c.Do(ctx, func(ctx context.Context, cc *grpc.ClientConn) error {
		return fn(ctx, roostv1.NewMailboxServiceClient(cc))
	})
}

// Cluster is Do with the ClusterService.
func (c *Client) Cluster(ctx context.Context, fn func(context.Context, roostv1.ClusterServiceClient) error) error {
	return c.Do(ctx, func(ctx context.Context, cc *grpc.ClientConn) error {
		return fn(ctx, roostv1.NewClusterServiceClient(cc))
	})
}

// BasicAuth is gRPC per-call credentials carrying a user name and
// password in the authorization metadata, as a node's users file checks
// them. They are sent only over TLS.
type BasicAuth struct {
	value string
}

// NewBasicAuth returns credentials for name and password.
func NewBasicAuth(name, password string) BasicAuth {
	return BasicAuth{value: "Basic " + base64.StdEncoding.EncodeToString([]byte(name+":"+password))}
}

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (b BasicAuth) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": b.value}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials.
func (BasicAuth) RequireTransportSecurity() bool { return true }
