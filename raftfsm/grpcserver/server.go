package grpcserver

import (
	"log/slog"
	"sync"
	"time"

	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
	"github.com/roost-mail/roost/raftfsm"
	"google.golang.org/grpc"
)

// Server implements roost.v1 MailboxService and ClusterService over a
// store. Reads are served locally; writes go through the Forwarder.
type Server struct {
	roostv1.UnimplementedMailboxServiceServer
	roostv1.UnimplementedClusterServiceServer

	store  *raftfsm.Store // immutable
	fwd    *Forwarder     // immutable
	logger *slog.Logger   // immutable

	// health, if set, is the leader's view of each member's health.
	health func(id string) (MemberHealth, bool)

	// closing ends the Watch and Write streams when closed by Close.
	closing   chan struct{}
	closeOnce sync.Once
}

var (
	_ roostv1.MailboxServiceServer = (*Server)(nil)
	_ roostv1.ClusterServiceServer = (*Server)(nil)
)

// New returns a server for store that forwards through fwd. A nil logger
// discards.
func New(store *raftfsm.Store, fwd *Forwarder, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Server{store: store, fwd: fwd, logger: logger.With("component", "grpc"), closing: make(chan struct{})}
}

// MemberHealth is what the leader has learnt of a member by asking it.
type MemberHealth struct {
	Healthy     bool
	Answered    bool          // it has answered at least once
	SinceAnswer time.Duration // since its last answer
	Behind      uint64        // entries, at its last answer
	LastContact time.Duration // its own, with the leader, at its last answer
}

// SetMemberHealth makes GetStatus report members' health from fn, which
// answers false where it knows nothing (on a follower). Call it before
// serving.
func (s *Server) SetMemberHealth(fn func(id string) (MemberHealth, bool)) { s.health = fn }

// Close ends every Watch stream, and every Write stream once the requests
// it has read are answered, so that a graceful stop of the gRPC server
// does not wait on clients that keep them open.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closing) })
}

// Register registers both services on g.
func (s *Server) Register(g grpc.ServiceRegistrar) {
	roostv1.RegisterMailboxServiceServer(g, s)
	roostv1.RegisterClusterServiceServer(g, s)
}
