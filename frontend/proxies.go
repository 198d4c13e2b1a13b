package frontend

import (
	"context"
	"crypto/tls"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/roost-mail/roost/frontend/lmtpproxy"
	"github.com/roost-mail/roost/frontend/locator"
	"github.com/roost-mail/roost/frontend/namespace"
	"github.com/roost-mail/roost/frontend/pop3proxy"
	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
	"github.com/roost-mail/roost/raftfsm/client"
)

// proxyInputs are what the proxies share, read and built once at start.
type proxyInputs struct {
	ns            *namespace.Namespace
	tls           *tls.Config // nil without --tls-cert
	proxyPassword string
	locator       clusterLocator
}

func (f *Frontend) proxyInputs() (*proxyInputs, error) {
	cfg := &f.cfg
	p := &proxyInputs{locator: clusterLocator{Cache: f.cache, api: f.api}}
	var err error
	if p.ns, err = namespace.New(&cfg.Namespace); err != nil {
		return nil, fmt.Errorf("frontend: %w", err)
	}
	if p.tls, err = cfg.clientTLS(); err != nil {
		return nil, err
	}
	if cfg.ProxyPasswordFile != "" {
		if p.proxyPassword, err = client.ReadPassword(cfg.ProxyPasswordFile); err != nil {
			return nil, fmt.Errorf("frontend: --proxy-password-file: %w", err)
		}
	}
	return p, nil
}

// clusterLocator is the location cache, and the cluster itself for a name
// the cache does not have: a mailbox created a moment ago may not have
// reached the cache, and LMTP and POP3 must not refuse it for that.
type clusterLocator struct {
	*locator.Cache
	api *client.Client
}

// Find returns name's entry from the cache or, when the cache lacks it,
// from the cluster with a linearizable read; found is false when the
// cluster has no such mailbox either, err set when it could not be asked.
func (l clusterLocator) Find(ctx context.Context, name string) (e locator.Entry, found bool, err error) {
	if e, ok := l.Lookup(name); ok {
		return e, true, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var m *roostv1.Mailbox
	err = l.api.Mailboxes(ctx, func(ctx context.Context, mc roostv1.MailboxServiceClient) error {
		resp, err := mc.GetMailbox(ctx, &roostv1.GetMailboxRequest{Name: []byte(name), Consistent: true})
		if err == nil {
			m = resp.Mailbox
		}
		return err
	})
	switch {
	case status.Code(err) == codes.NotFound:
		return locator.Entry{}, false, nil
	case err != nil:
		return locator.Entry{}, false, err
	case m == nil:
		return locator.Entry{}, false, nil
	}
	return locator.EntryOf(m), true, nil
}

var (
	_ lmtpproxy.Locator = clusterLocator{}
	_ pop3proxy.Locator = clusterLocator{}
)
