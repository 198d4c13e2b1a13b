package imapproxy

import "github.com/prometheus/client_golang/prometheus"

// metrics are the proxy's Prometheus series; nil when not asked for.
type metrics struct {
	conns        prometheus.Gauge
	accepted     *prometheus.CounterVec
	logins       *prometheus.CounterVec
	commands     *prometheus.CounterVec
	crossCopies  *prometheus.CounterVec
	backendError *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		conns: prometheus.NewGauge(prometheus.GaugeOpts{Name: "roost_frontend_imap_connections",
			Help: "IMAP client connections open now."}),
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "roost_frontend_imap_connections_total",
			Help: "IMAP client connections, by outcome: accepted, or refused (too many from one address)."}, []string{"outcome"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "roost_frontend_imap_logins_total",
			Help: "IMAP logins, by result: ok, failed (a wrong password, or no INBOX), unavailable (the INBOX's backend unreachable)."}, []string{"result"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "roost_frontend_imap_commands_total",
			Help: "Client commands sent on to a backend, by backend server."}, []string{"server"}),
		crossCopies: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "roost_frontend_imap_cross_backend_copies_total",
			Help: "COPY and MOVE commands carried out across two backends, by command."}, []string{"command"}),
		backendError: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "roost_frontend_imap_backend_errors_total",
			Help: "Backend connections that could not be made or broke, by backend server."}, []string{"server"}),
	}
	reg.MustRegister(m.conns, m.accepted, m.logins, m.commands, m.crossCopies, m.backendError)
	return m
}

// The helpers below do nothing without metrics.

func (m *metrics) connOpened() {
	if m != nil {
		m.conns.Inc()
		m.accepted.WithLabelValues("accepted").Inc()
	}
}

func (m *metrics) connClosed() {
	if m != nil {
		m.conns.Dec()
	}
}

func (m *metrics) connRefused() {
	if m != nil {
		m.accepted.WithLabelValues("refused").Inc()
	}
}

func (m *metrics) login(result string) {
	if m != nil {
		m.logins.WithLabelValues(result).Inc()
	}
}

func (m *metrics) command(server string) {
	if m != nil {
		m.commands.WithLabelValues(server).Inc()
	}
}

func (m *metrics) crossCopy(command string) {
	if m != nil {
		m.crossCopies.WithLabelValues(command).Inc()
	}
}

func (m *metrics) backendFailed(server string) {
	if m != nil {
		m.backendError.WithLabelValues(server).Inc()
	}
}
