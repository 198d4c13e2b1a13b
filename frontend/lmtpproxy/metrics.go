package lmtpproxy

import "github.com/prometheus/client_golang/prometheus"

// metrics are the proxy's Prometheus series; nil when not asked for.
type metrics struct {
	conns      prometheus.Gauge
	deliveries *prometheus.CounterVec
	recipients *prometheus.CounterVec
	bytes      prometheus.Counter
	tempfails  *prometheus.CounterVec
	backend    *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		return nil
	}
	m := &metrics{
		conns: prometheus.NewGauge(prometheus.GaugeOpts{Name: "roost_frontend_lmtp_connections",
			Help: "LMTP client connections open now."}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "roost_frontend_lmtp_deliveries_total",
			Help: "Messages received (DATA or BDAT), by how many backends they went to: 1, or several."}, []string{"backends"}),
		recipients: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "roost_frontend_lmtp_recipients_total",
			Help: "Final statuses given to recipients, at RCPT or after the message, by class: 2xx, 4xx, 5xx."}, []string{"class"}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "roost_frontend_lmtp_received_bytes_total",
			Help: "Message bytes received from LMTP clients."}),
		tempfails: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "roost_frontend_lmtp_temporary_failures_total",
			Help: "Recipients given a temporary failure by the proxy, by cause."}, []string{"cause"}),
		backend: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "roost_frontend_lmtp_backend_transactions_total",
			Help: "LMTP transactions run on backends, by server and result: ok (the message went), refused (no recipient taken), failed (the connection could not be made or broke)."}, []string{"server", "result"}),
	}
	reg.MustRegister(m.conns, m.deliveries, m.recipients, m.bytes, m.tempfails, m.backend)
	return m
}

// The helpers below do nothing without metrics.

func (m *metrics) connOpened() {
	if m != nil {
		m.conns.Inc()
	}
}

func (m *metrics) connClosed() {
	if m != nil {
		m.conns.Dec()
	}
}

func (m *metrics) delivery(backends int, size int64) {
	if m == nil {
		return
	}
	label := "1"
	if backends > 1 {
		label = "several"
	}
	m.deliveries.WithLabelValues(label).Inc()
	m.bytes.Add(float64(size))
}

func (m *metrics) status(code int) {
	if m != nil {
		m.recipients.WithLabelValues([]string{"2xx", "2xx", "2xx", "2xx", "4xx", "5xx"}[min(code/100, 5)]).Inc()
	}
}

func (m *metrics) tempfail(cause string) {
	if m != nil {
		m.tempfails.WithLabelValues(cause).Inc()
	}
}

func (m *metrics) transaction(server, result string) {
	if m != nil {
		m.backend.WithLabelValues(server, result).Inc()
	}
}
