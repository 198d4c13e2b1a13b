package locator

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Registerer is where the cache's metrics go: a *prometheus.Registry.
type Registerer = prometheus.Registerer

type metrics struct {
	listings      prometheus.Counter
	interruptions prometheus.Counter
}

// newMetrics registers the cache's figures: what it holds and how far it
// may be behind the cluster.
func newMetrics(c *Cache, reg Registerer) *metrics {
	m := &metrics{
		listings: prometheus.NewCounter(prometheus.CounterOpts{Name: "roost_frontend_cache_listings_total",
			Help: "Full listings the location cache started (the first sync, and each time the cluster's history no longer reached its revision)."}),
		interruptions: prometheus.NewCounter(prometheus.CounterOpts{Name: "roost_frontend_cache_watch_interruptions_total",
			Help: "Times the watch stream broke and the cache resumed on another endpoint."}),
	}
	since := func(ns int64) float64 {
		if ns == 0 {
			return -1
		}
		return time.Since(time.Unix(0, ns)).Seconds()
	}
	reg.MustRegister(m.listings, m.interruptions,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "roost_frontend_cache_revision",
			Help: "Revision the location cache is whole at."}, func() float64 { return float64(c.Revision()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "roost_frontend_cache_mailboxes",
			Help: "Mailboxes in the location cache."}, func() float64 { return float64(c.Len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "roost_frontend_cache_ready",
			Help: "1 once the location cache holds a whole database (its first sync completed)."}, func() float64 {
			if c.Ready() {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "roost_frontend_cache_behind_revisions",
			Help: "Revisions the node the cache follows had applied beyond the cache, at its last message."},
			func() float64 { return float64(c.behind.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "roost_frontend_cache_behind_seconds",
			Help: "Seconds since the cache last held everything the node it follows had; -1 before the first time."},
			func() float64 { return since(c.inSyncAt.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "roost_frontend_cache_last_contact_seconds",
			Help: "Seconds since the cache last heard from the cluster; -1 before the first time."},
			func() float64 { return since(c.lastContact.Load()) }),
	)
	return m
}
