package grpcserver

import (
	"context"
	"errors"
	"io"

	"github.com/hashicorp/raft"
	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// GetStatus implements roost.v1.ClusterService.
func (s *Server) GetStatus(ctx context.Context, _ *roostv1.GetStatusRequest) (*roostv1.GetStatusResponse, error) {
	st, err := s.store.Status()
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &roostv1.GetStatusResponse{
		NodeId:            st.NodeID,
		Role:              roleOf(st.State),
		LeaderId:          st.LeaderID,
		LeaderRaftAddress: st.LeaderAddr,
		LeaderGrpcAddress: st.LeaderGRPC,
		Term:              st.Term,
		AppliedIndex:      st.AppliedIndex,
		CommitIndex:       st.CommitIndex,
		LastLogIndex:      st.LastLogIndex,
		LastContact:       durationpb.New(st.LastContact),
		Revision:          st.Revision,
		Mailboxes:         uint64(st.Mailboxes),
	}
	for _, m := range st.Servers {
		suf := roostv1.Suffrage_SUFFRAGE_NONVOTER
		if m.Voter {
			suf = roostv1.Suffrage_SUFFRAGE_VOTER
		}
		pm := &roostv1.Member{Id: m.ID, RaftAddress: m.RaftAddr,
			GrpcAddress: m.GRPCAddr, Suffrage: suf, Leader: m.Leader, LogFormat: m.LogFormat, PromotionPending: m.Promote}
		if s.health != nil {
			if h, ok := s.health(m.ID); ok {
				pm.HealthKnown, pm.Healthy, pm.Behind = true, h.Healthy, h.Behind
				if h.Answered {
					pm.SinceAnswer, pm.LastContact = durationpb.New(h.SinceAnswer), durationpb.New(h.LastContact)
				}
			}
		}
		resp.Members = append(resp.Members, pm)
	}
	return resp, nil
}

func roleOf(s raft.RaftState) roostv1.Role {
	switch s {
	case raft.Follower:
		return roostv1.Role_ROLE_FOLLOWER
	case raft.Candidate:
		return roostv1.Role_ROLE_CANDIDATE
	case raft.Leader:
		return roostv1.Role_ROLE_LEADER
	case raft.Shutdown:
		return roostv1.Role_ROLE_SHUTDOWN
	}
	return roostv1.Role_ROLE_UNSPECIFIED
}

// leaderOnly runs fn here if this call was forwarded (refusing if this
// node no longer leads), else through the Forwarder.
func (s *Server) leaderOnly(ctx context.Context, local func(context.Context) error,
	remote func(context.Context, roostv1.ClusterServiceClient) error) error {
	if isForwarded(ctx) {
		return toStatus(local(ctx))
	}
	return toStatus(s.fwd.call(ctx, local, remote))
}

// Join implements roost.v1.ClusterService.
func (s *Server) Join(ctx context.Context, req *roostv1.JoinRequest) (*roostv1.JoinResponse, error) {
	err := s.leaderOnly(ctx, func(ctx context.Context) error {
		return s.store.Join(ctx, req.Id, req.RaftAddress, req.GrpcAddress, req.LogFormat, !req.Nonvoter, req.VoterNow)
	}, func(ctx context.Context, c roostv1.ClusterServiceClient) error {
		_, err := c.Join(ctx, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &roostv1.JoinResponse{}, nil
}

// Remove implements roost.v1.ClusterService.
func (s *Server) Remove(ctx context.Context, req *roostv1.RemoveRequest) (*roostv1.RemoveResponse, error) {
	err := s.leaderOnly(ctx, func(ctx context.Context) error {
		return s.store.Remove(ctx, req.Id)
	}, func(ctx context.Context, c roostv1.ClusterServiceClient) error {
		_, err := c.Remove(ctx, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &roostv1.RemoveResponse{}, nil
}

// TransferLeadership implements roost.v1.ClusterService.
func (s *Server) TransferLeadership(ctx context.Context, req *roostv1.TransferLeadershipRequest) (*roostv1.TransferLeadershipResponse, error) {
	var leader string
	err := s.leaderOnly(ctx, func(ctx context.Context) error {
		var err error
		leader, err = s.store.TransferLeadership(ctx, req.Id)
		return err
	}, func(ctx context.Context, c roostv1.ClusterServiceClient) error {
		resp, err := c.TransferLeadership(ctx, req)
		leader = resp.GetLeaderId()
		return err
	})
	if err != nil {
		return nil, err
	}
	return &roostv1.TransferLeadershipResponse{LeaderId: leader}, nil
}

// ReadIndex implements roost.v1.ClusterService. It is only answered by the
// leader, for followers serving consistent reads.
func (s *Server) ReadIndex(ctx context.Context, _ *roostv1.ReadIndexRequest) (*roostv1.ReadIndexResponse, error) {
	idx, err := s.store.ReadIndex(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return &roostv1.ReadIndexResponse{CommitIndex: idx}, nil
}

// snapshotChunk is the size of SaveSnapshot messages.
const snapshotChunk = 256 << 10

// SaveSnapshot implements roost.v1.ClusterService: it streams this node's
// state at one revision, once it holds everything the leader had
// committed when the call arrived.
func (s *Server) SaveSnapshot(_ *roostv1.SaveSnapshotRequest, stream grpc.ServerStreamingServer[roostv1.SaveSnapshotResponse]) error {
	// Catch up with the leader first, so that a lagging follower does not
	// hand out an old state.
	if err := s.fwd.ReadIndex(stream.Context()); err != nil {
		return toStatus(err)
	}
	v := s.store.FSM().View()
	w := &chunkWriter{send: func(b []byte) error {
		return stream.Send(&roostv1.SaveSnapshotResponse{Chunk: b})
	}}
	if err := v.WriteSnapshot(w); err != nil {
		return toStatus(err)
	}
	return w.flush()
}

// chunkWriter cuts a byte stream into messages of at most snapshotChunk.
type chunkWriter struct {
	buf  []byte
	send func([]byte) error
}

func (w *chunkWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), snapshotChunk-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		if len(w.buf) == snapshotChunk {
			if err := w.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (w *chunkWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	err := w.send(w.buf)
	w.buf = w.buf[:0]
	return err
}

// RestoreSnapshot implements roost.v1.ClusterService. It must reach the
// leader (clients find it with GetStatus); the snapshot is checked in full
// before anything changes.
func (s *Server) RestoreSnapshot(stream grpc.ClientStreamingServer[roostv1.RestoreSnapshotRequest, roostv1.RestoreSnapshotResponse]) error {
	if !s.store.IsLeader() {
		id, _ := s.store.Leader()
		addr, _ := s.store.FSM().Member(id)
		return status.Errorf(codes.Unavailable, "restore must be sent to the leader (%s at %s)", id, addr)
	}
	v, err := s.store.RestoreSnapshot(stream.Context(), &streamReader{recv: stream.Recv})
	if err != nil {
		return toStatus(err)
	}
	return stream.SendAndClose(&roostv1.RestoreSnapshotResponse{Revision: v.Revision(), Mailboxes: uint64(v.Len())})
}

// streamReader reads a client stream of chunks as bytes.
type streamReader struct {
	recv func() (*roostv1.RestoreSnapshotRequest, error)
	buf  []byte
}

func (r *streamReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		msg, err := r.recv()
		if errors.Is(err, io.EOF) {
			return 0, io.EOF
		}
		if err != nil {
			return 0, err
		}
		r.buf = msg.Chunk
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}
