package frontend

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/roost-mail/roost/frontend/locator"
	"github.com/roost-mail/roost/raftfsm/client"
)

// Frontend is one running roost-frontend.
type Frontend struct {
	cfg    Config       // immutable
	logger *slog.Logger // immutable
	cache  *locator.Cache
	api    *client.Client
	reg    *prometheus.Registry

	httpLis net.Listener
	http    *http.Server
	imap    *listeners // may be nil
	lmtp    *lmtpListener
	pop3    *listeners // may be nil

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Start checks cfg, opens the cache, starts following the cluster and
// serves. It returns once every listener is bound: the cache may still be
// syncing (Ready says when it is done).
func Start(cfg Config) (_ *Frontend, err error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	f := &Frontend{cfg: cfg, logger: logger, reg: prometheus.NewRegistry()}
	f.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	clientCfg, err := cfg.clusterClient()
	if err != nil {
		return nil, err
	}
	clientCfg.Logger = logger
	if f.api, err = client.New(clientCfg); err != nil {
		return nil, fmt.Errorf("frontend: %w", err)
	}
	if f.cache, err = locator.Open(cfg.DataDir, &locator.Options{Logger: logger, Metrics: f.reg}); err != nil {
		return nil, fmt.Errorf("frontend: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		if err := f.cache.Run(ctx, f.api); err != nil && !errors.Is(err, context.Canceled) {
			logger.Error("the location cache stopped following the cluster", "err", err)
		}
	}()
	inputs, err := f.proxyInputs()
	if err != nil {
		return nil, err
	}
	if cfg.IMAPAddr != "" || cfg.IMAPSAddr != "" {
		if f.imap, err = f.startIMAP(inputs); err != nil {
			return nil, err
		}
	}
	if cfg.LMTPAddr != "" {
		if f.lmtp, err = f.startLMTP(inputs); err != nil {
			return nil, err
		}
	}
	if cfg.POP3Addr != "" || cfg.POP3SAddr != "" {
		if f.pop3, err = f.startPOP3(inputs); err != nil {
			return nil, err
		}
	}
	if cfg.HTTPAddr != "" {
		if f.httpLis, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			return nil, fmt.Errorf("frontend: --http-addr: %w", err)
		}
		f.startHTTP()
	}
	logger.Info("roost-frontend started", "endpoints", cfg.Endpoints, "imap_addr", f.IMAPAddr(), "lmtp_addr", f.LMTPAddr(), "pop3_addr", f.POP3Addr(),
		"cache_revision", f.cache.Revision(), "cache_mailboxes", f.cache.Len())
	return f, nil
}

// Ready reports whether the frontend can route: its cache holds a whole
// database.
func (f *Frontend) Ready() bool { return f.cache != nil && f.cache.Ready() }

// Cache returns the location cache.
func (f *Frontend) Cache() *locator.Cache { return f.cache }

// HTTPAddr returns the address /metrics and /readyz are served on, or ""
// when there is none.
func (f *Frontend) HTTPAddr() string {
	if f.httpLis == nil {
		return ""
	}
	return f.httpLis.Addr().String()
}

func (f *Frontend) startHTTP() {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(f.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !f.Ready() {
			http.Error(w, "not ready: the location cache has not completed its first sync", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	// Profiles show the process's memory and command line, and cost
	// while they run: served only when asked for. net/http/pprof puts
	// its handlers on the default mux.
	if f.cfg.Pprof {
		mux.Handle("/debug/pprof/", http.DefaultServeMux)
	}
	f.http = &http.Server{Handler: mux}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		if err := f.http.Serve(f.httpLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			f.logger.Error("HTTP server stopped", "err", err)
		}
	}()
}

// Close stops serving, stops following the cluster and closes the cache.
func (f *Frontend) Close() error {
	f.imap.close()
	if f.lmtp != nil {
		f.lmtp.close()
	}
	f.pop3.close()
	if f.http != nil {
		f.http.Close()
	} else if f.httpLis != nil {
		f.httpLis.Close()
	}
	if f.cancel != nil {
		f.cancel()
	}
	f.wg.Wait()
	var err error
	if f.cache != nil {
		err = f.cache.Close()
	}
	if f.api != nil {
		f.api.Close()
	}
	return err
}
