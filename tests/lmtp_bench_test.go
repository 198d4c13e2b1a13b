package tests

import (
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/textproto"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// startLoopbackBackend starts a backend on an address of its own in
// 127/8 with IMAP, LMTP and POP3 on their standard ports and that address
// as its server name, as a murder's backends are named by host: Cyrus's
// frontend, which finds a backend's lmtpd by the service name, and
// roost-frontend without a --backend-map both reach it. The standard
// ports need root.
func startLoopbackBackend(tb testing.TB, name, mupdateAddr string, extra ...string) *cyrus {
	tb.Helper()
	if os.Getuid() != 0 {
		tb.Skip("a backend on the standard ports needs root")
	}
	for range 100 {
		ip := fmt.Sprintf("127.%d.%d.%d", 100+rand.IntN(100), rand.IntN(250), 1+rand.IntN(250))
		free := true
		for _, port := range []string{"143", "24", "110"} {
			l, err := net.Listen("tcp", net.JoinHostPort(ip, port))
			if err != nil {
				free = false
				break
			}
			l.Close()
		}
		if free {
			c := &cyrus{name: name, role: "backend", servername: ip,
				imapAddr: ip + ":143", lmtpAddr: ip + ":24", pop3Addr: ip + ":110"}
			return launchCyrus(tb, c, mupdateAddr, extra)
		}
	}
	tb.Fatal("no free loopback address")
	return nil
}

// lmtpSender delivers over kept LMTP connections: one to a frontend, or
// one per backend, each recipient sent to the backend route names.
type lmtpSender struct {
	tb      testing.TB
	clients map[string]*smtp.Client
	route   func(rcpt string) string
}

// dialSender connects to each address, logging in as the Cyrus admin
// where the server asks for AUTH (Cyrus's lmtpd over TCP does).
func dialSender(tb testing.TB, addrs map[string]string, route func(string) string) *lmtpSender {
	tb.Helper()
	s := &lmtpSender{tb: tb, clients: map[string]*smtp.Client{}, route: route}
	for name, addr := range addrs {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			tb.Fatal(err)
		}
		c := smtp.NewClientLMTP(conn)
		if err := c.Hello("bench.example.org"); err != nil {
			tb.Fatalf("LHLO to %s: %v", addr, err)
		}
		if ok, _ := c.Extension("AUTH"); ok {
			if err := c.Auth(sasl.NewPlainClient("", cyrusAdmin, cyrusPassword)); err != nil {
				tb.Fatalf("AUTH to %s: %v", addr, err)
			}
		}
		tb.Cleanup(func() { c.Close() })
		s.clients[name] = c
	}
	return s
}

// send delivers msg to rcpts, one transaction per connection involved,
// and fails unless every recipient got 250.
func (s *lmtpSender) send(rcpts []string, msg string) {
	for name, group := range byRoute(rcpts, s.route) {
		c := s.clients[name]
		if err := c.Mail("bench@example.org", nil); err != nil {
			s.tb.Fatalf("MAIL: %v", err)
		}
		for _, r := range group {
			if err := c.Rcpt(r, nil); err != nil {
				s.tb.Fatalf("RCPT %s: %v", r, err)
			}
		}
		w, err := c.Data()
		if err != nil {
			s.tb.Fatalf("DATA: %v", err)
		}
		io.WriteString(w, msg)
		if _, err := w.CloseWithLMTPResponse(); err != nil {
			s.tb.Fatalf("delivery to %v: %v", group, err)
		}
	}
}

// BenchmarkLMTP measures LMTP deliveries per second of 10 KB messages,
// with 1 recipient and with 10 on two real Cyrus 3.6 backends: straight
// to the backends' lmtpd (one kept connection to each, the recipients of
// each backend in one transaction, the backends one after the other),
// through roost-frontend running as its own process, and through Cyrus's
// own frontend (lmtpd in proxy mode), each over one kept connection,
// interleaved in the same run (the median of nine rounds); a command at a
// time and pipelined; with every process on the same CPUs, then with the
// frontends on a CPU of their own:
//
//	go test -run XXX -bench LMTP -benchtime 1x ./tests/
func BenchmarkLMTP(b *testing.B) {
	nodes := startThree(b, "lb", false)
	be1 := startLoopbackBackend(b, "backend1", nodes[1].mupdateAddr)
	be2 := startLoopbackBackend(b, "backend2", nodes[2].mupdateAddr)
	one := []string{"john@example.com"}
	var ten []string
	home := map[string]string{"john@example.com": "be1"}
	be1.imapOK(b, "CREATE user.john")
	var want []string
	for i := range 10 {
		be, server := be1, "be1"
		if i >= 5 {
			be, server = be2, "be2"
		}
		be.imapOK(b, fmt.Sprintf("CREATE user.r%d", i))
		want = append(want, fmt.Sprintf("user.r%d", i))
		ten = append(ten, fmt.Sprintf("r%d@example.com", i))
		home[ten[i]] = server
	}
	want = append(want, "user.john")
	waitFor(b, "the cluster to hold every mailbox", 30*time.Second, func() error {
		return sameNames(names(nodes[0]), want)
	})
	m := &murder{nodes: nodes, be1: be1, be2: be2}
	fe := startFrontendProcess(b, m)
	cyrusFE := m.cyrusFrontend(b)

	direct := map[string]string{"be1": be1.lmtpAddr, "be2": be2.lmtpAddr}
	byHome := func(r string) string { return home[r] }
	toFrontend := func(string) string { return "" }
	// The two ways MTAs deliver: a command at a time, as go-smtp's client
	// does, and pipelined, as Postfix's does.
	senders := map[string][]interface{ send([]string, string) }{
		"": {dialSender(b, direct, byHome),
			dialSender(b, map[string]string{"": fe.lmtpAddr}, toFrontend),
			dialSender(b, map[string]string{"": cyrusFE.lmtpAddr}, toFrontend)},
		"-pipelined": {dialPipeSender(b, direct, byHome),
			dialPipeSender(b, map[string]string{"": fe.lmtpAddr}, toFrontend),
			dialPipeSender(b, map[string]string{"": cyrusFE.lmtpAddr}, toFrontend)},
	}
	body := benchMessage(0, 10<<10)
	seq := 0
	message := func() string {
		seq++
		return fmt.Sprintf("Message-ID: <bench.%d.%d@example.org>\r\n%s", seq, time.Now().UnixNano(), body)
	}
	for _, ss := range senders { // warm up: connections, caches
		for _, s := range ss {
			s.send(ten, message())
		}
	}
	// Rounds of a second a target, the targets in turn, each round
	// starting at another: the machine's own ups and downs fall on all
	// three alike.
	const rounds, window = 9, time.Second
	// A frontend has a machine of its own in a murder, and takes no CPU
	// from the backends: the last rounds give both frontends a CPU the
	// backends and the client do not use.
	ownCPU := func() {
		pinTree(b, os.Getpid(), "0") // the client and the cluster
		pinTree(b, be1.masterPID(b), "0")
		pinTree(b, be2.masterPID(b), "0")
		pinTree(b, fe.cmd.Process.Pid, "1")
		pinTree(b, cyrusFE.masterPID(b), "1")
	}
	modes := []string{"", "-pipelined"}
	if runtime.NumCPU() >= 2 {
		modes = append(modes, "-owncpu", "-owncpu-pipelined")
	}
	for b.Loop() {
		for _, mode := range modes {
			if mode == "-owncpu" {
				ownCPU()
			}
			for _, c := range []struct {
				name  string
				rcpts []string
			}{{"1rcpt", one}, {"10rcpt", ten}} {
				name := c.name + mode
				ss := senders[strings.TrimPrefix(mode, "-owncpu")]
				var perMsg [3][]time.Duration // a round's time a message
				var feCPU time.Duration
				feMsgs := 0
				for round := range rounds {
					for i := range ss {
						k := (i + round) % len(ss)
						cpu := fe.cpuTime(b)
						start := time.Now()
						n := 0
						for ; n < 5 || time.Since(start) < window; n++ {
							ss[k].send(c.rcpts, message())
						}
						perMsg[k] = append(perMsg[k], time.Since(start)/time.Duration(n))
						if k == 1 {
							feCPU += fe.cpuTime(b) - cpu
							feMsgs += n
						}
					}
				}
				b.ReportMetric(float64(feCPU.Microseconds())/float64(feMsgs), "us-cpu/msg-"+name+"-frontend")
				for k, target := range []string{"direct", "frontend", "cyrus"} {
					b.ReportMetric(1/median(perMsg[k]).Seconds(), "msg/s-"+name+"-"+target)
				}
				b.ReportMetric(float64(median(perMsg[0]))/float64(median(perMsg[1])), "x-"+name+"-frontend")
				b.ReportMetric(float64(median(perMsg[0]))/float64(median(perMsg[2])), "x-"+name+"-cyrus")
			}
		}
	}
}

// byRoute are rcpts by the connection route names.
func byRoute(rcpts []string, route func(string) string) map[string][]string {
	groups := map[string][]string{}
	for _, r := range rcpts {
		groups[route(r)] = append(groups[route(r)], r)
	}
	return groups
}

// pipeSender delivers as an MTA with PIPELINING does (Postfix's LMTP
// client among them): MAIL, every RCPT and DATA in one write, then the
// message, over kept connections, one per route as lmtpSender.
type pipeSender struct {
	tb    testing.TB
	conns map[string]*textproto.Conn
	route func(rcpt string) string
}

func dialPipeSender(tb testing.TB, addrs map[string]string, route func(string) string) *pipeSender {
	tb.Helper()
	s := &pipeSender{tb: tb, conns: map[string]*textproto.Conn{}, route: route}
	for name, addr := range addrs {
		c, err := textproto.Dial("tcp", addr)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { c.Close() })
		if _, _, err := c.ReadResponse(220); err != nil {
			tb.Fatalf("greeting from %s: %v", addr, err)
		}
		c.PrintfLine("LHLO bench.example.org")
		_, caps, err := c.ReadResponse(250)
		if err != nil {
			tb.Fatalf("LHLO to %s: %v", addr, err)
		}
		if strings.Contains(caps, "AUTH") {
			c.PrintfLine("AUTH PLAIN %s", base64.StdEncoding.EncodeToString([]byte("\x00"+cyrusAdmin+"\x00"+cyrusPassword)))
			if _, _, err := c.ReadResponse(235); err != nil {
				tb.Fatalf("AUTH to %s: %v", addr, err)
			}
		}
		s.conns[name] = c
	}
	return s
}

// send delivers msg to rcpts, one pipelined transaction per connection
// involved, and fails unless every recipient got 250.
func (s *pipeSender) send(rcpts []string, msg string) {
	for name, group := range byRoute(rcpts, s.route) {
		c := s.conns[name]
		var b strings.Builder
		b.WriteString("MAIL FROM:<bench@example.org>\r\n")
		for _, r := range group {
			fmt.Fprintf(&b, "RCPT TO:<%s>\r\n", r)
		}
		b.WriteString("DATA\r\n")
		c.W.WriteString(b.String())
		c.W.Flush()
		for range len(group) + 1 {
			if _, _, err := c.ReadResponse(250); err != nil {
				s.tb.Fatalf("MAIL or RCPT: %v", err)
			}
		}
		if _, _, err := c.ReadResponse(354); err != nil {
			s.tb.Fatalf("DATA: %v", err)
		}
		w := c.DotWriter()
		io.WriteString(w, msg)
		w.Close()
		for _, r := range group {
			if _, _, err := c.ReadResponse(250); err != nil {
				s.tb.Fatalf("delivery to %s: %v", r, err)
			}
		}
	}
}
