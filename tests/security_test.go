package tests

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
	"github.com/roost-mail/roost/raftfsm/auth"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// TestSecureCluster tries, against a three-node cluster with mutual TLS,
// every way in that should be closed: plaintext gRPC and Raft, a node of
// another CA, a client with no identity, and each role beyond its rights.
// After each refusal the database and the membership are as they were.
func TestSecureCluster(t *testing.T) {
	ctx := context.Background()
	pki := newPKI(t)
	nodes := startThreeWith(t, "s", func(tn *testNode) {
		tn.pki = pki
		tn.users = "be2:{PLAIN}pw2:backend\nfe:{PLAIN}pwf:frontend\n"
	})
	leader := leaderOf(nodes)
	f := followersOf(nodes)[0]
	// Through a follower, which forwards to the leader as node f.
	admin := roostv1.NewMailboxServiceClient(pki.dial(t, f.grpcAddr, "root", auth.RoleAdmin))
	for _, m := range []struct{ name, loc string }{{"user.one", "be1!default"}, {"user.two", "be2!default"}} {
		if _, err := admin.Activate(ctx, &roostv1.ActivateRequest{Name: []byte(m.name), Location: []byte(m.loc), Acl: []byte("anyone\tlrs\t")}); err != nil {
			t.Fatalf("admin Activate(%s): %v", m.name, err)
		}
	}
	catchUp(t, nodes, leader)
	before, members := listing(t, leader), memberIDs(t, leader)
	unchanged := func(after string) {
		t.Helper()
		catchUp(t, nodes, leader)
		if got := listing(t, leader); !slices.Equal(got, before) {
			t.Fatalf("after %s the database changed:\n got %q\nwant %q", after, got, before)
		}
		if got := memberIDs(t, leader); !slices.Equal(got, members) {
			t.Fatalf("after %s the members are %v, want %v", after, got, members)
		}
	}

	t.Run("plaintext gRPC", func(t *testing.T) {
		cc, err := grpc.NewClient(f.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err = roostv1.NewMailboxServiceClient(cc).Activate(cctx, &roostv1.ActivateRequest{Name: []byte("user.plain"), Location: []byte("be1!default")})
		if err == nil {
			t.Fatal("a plaintext Activate succeeded")
		}
		unchanged("a plaintext call")
	})

	t.Run("plaintext Raft", func(t *testing.T) {
		// A vote request for a far future term would depose the leader
		// if it reached Raft.
		term := leader.n.Store().Raft().CurrentTerm()
		tr, err := raft.NewTCPTransport("127.0.0.1:0", nil, 1, 2*time.Second, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		err = tr.RequestVote(raft.ServerID(leader.id), raft.ServerAddress(leader.raftAddr),
			&raft.RequestVoteRequest{RPCHeader: raft.RPCHeader{ID: []byte("intruder"), Addr: []byte(tr.LocalAddr())},
				Term: term + 100, LastLogIndex: 1 << 40, LastLogTerm: term + 99}, &raft.RequestVoteResponse{})
		if err == nil {
			t.Fatal("a plaintext RequestVote got an answer")
		}
		if got := leader.n.Store().Raft().CurrentTerm(); got != term || !leader.n.Store().IsLeader() {
			t.Fatalf("after a plaintext RequestVote: term %d (was %d), leader %v", got, term, leader.n.Store().IsLeader())
		}
		unchanged("a plaintext RequestVote")
	})

	t.Run("another CA", func(t *testing.T) {
		other := newPKI(t)
		// Its own node certificate, trusting our CA: the server refuses
		// the certificate.
		conf := other.tlsConfig(t, "s9", auth.RoleNode)
		conf.RootCAs = pki.tlsConfig(t, "", 0).RootCAs
		cc := dialTLS(t, f.grpcAddr, conf)
		_, err := roostv1.NewClusterServiceClient(cc).Join(ctx, &roostv1.JoinRequest{Id: "s9", RaftAddress: "127.0.0.1:1", GrpcAddress: "127.0.0.1:1"})
		if err == nil {
			t.Fatal("a node of another CA joined")
		}
		// Raft: a TLS transport with the other CA's node certificate.
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", leader.raftAddr, conf)
		if err == nil {
			// TLS 1.3: the server's verdict on the certificate comes
			// with the first read.
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			_, err = conn.Read(make([]byte, 1))
			conn.Close()
		}
		if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("a node of another CA reached Raft: %v", err)
		}
		unchanged("a node of another CA")
	})

	t.Run("no identity", func(t *testing.T) {
		cc := pki.dial(t, f.grpcAddr, "", 0)
		_, err := roostv1.NewClusterServiceClient(cc).GetStatus(ctx, &roostv1.GetStatusRequest{})
		wantCode(t, "GetStatus without a certificate or password", err, codes.Unauthenticated)
		_, err = roostv1.NewMailboxServiceClient(cc).Activate(ctx, &roostv1.ActivateRequest{Name: []byte("user.anon"), Location: []byte("be1!default")})
		wantCode(t, "Activate without a certificate or password", err, codes.Unauthenticated)
		wrong := pki.dial(t, f.grpcAddr, "be2", 0, "not-pw2")
		_, err = roostv1.NewMailboxServiceClient(wrong).GetMailbox(ctx, &roostv1.GetMailboxRequest{Name: []byte("user.one")})
		wantCode(t, "GetMailbox with a wrong password", err, codes.Unauthenticated)
		unchanged("calls without an identity")
	})

	t.Run("frontend", func(t *testing.T) {
		for name, cc := range map[string]*grpc.ClientConn{
			"certificate": pki.dial(t, f.grpcAddr, "fe-cert", auth.RoleFrontend),
			"password":    pki.dial(t, f.grpcAddr, "fe", 0, "pwf"),
		} {
			mc := roostv1.NewMailboxServiceClient(cc)
			got, err := mc.GetMailbox(ctx, &roostv1.GetMailboxRequest{Name: []byte("user.one")})
			if err != nil || got.Mailbox == nil {
				t.Fatalf("frontend (%s) GetMailbox = %v, %v", name, got, err)
			}
			_, err = mc.Activate(ctx, &roostv1.ActivateRequest{Name: []byte("user.fe"), Location: []byte("be1!default")})
			wantCode(t, "frontend ("+name+") Activate", err, codes.PermissionDenied)
			_, err = mc.Delete(ctx, &roostv1.DeleteRequest{Name: []byte("user.one")})
			wantCode(t, "frontend ("+name+") Delete", err, codes.PermissionDenied)
		}
		unchanged("a frontend's writes")
	})

	t.Run("backend", func(t *testing.T) {
		for name, cc := range map[string]*grpc.ClientConn{
			"certificate be1": pki.dial(t, f.grpcAddr, "be1", auth.RoleBackend),
			"password be2":    pki.dial(t, f.grpcAddr, "be2", 0, "pw2"),
		} {
			own, other := "be1", "be2"
			if strings.HasSuffix(name, "be2") {
				own, other = "be2", "be1"
			}
			mc, cl := roostv1.NewMailboxServiceClient(cc), roostv1.NewClusterServiceClient(cc)
			_, err := mc.Activate(ctx, &roostv1.ActivateRequest{Name: []byte("user.new"), Location: []byte(other + "!default")})
			wantCode(t, name+" Activate on "+other, err, codes.PermissionDenied)
			theirs := "user.two"
			if other == "be1" {
				theirs = "user.one"
			}
			_, err = mc.Delete(ctx, &roostv1.DeleteRequest{Name: []byte(theirs)})
			wantCode(t, name+" Delete of "+other+"'s mailbox", err, codes.PermissionDenied)
			// Moving another server's mailbox to itself.
			_, err = mc.Activate(ctx, &roostv1.ActivateRequest{Name: []byte(theirs), Location: []byte(own + "!default")})
			wantCode(t, name+" Activate of "+other+"'s mailbox on "+own, err, codes.PermissionDenied)
			_, err = mc.Batch(ctx, &roostv1.BatchRequest{Operations: []*roostv1.Operation{
				{Op: &roostv1.Operation_Activate{Activate: &roostv1.ActivateRequest{Name: []byte("user.b1"), Location: []byte(own + "!default")}}},
				{Op: &roostv1.Operation_Activate{Activate: &roostv1.ActivateRequest{Name: []byte("user.b2"), Location: []byte(other + "!default")}}},
			}})
			wantCode(t, name+" Batch with one operation on "+other, err, codes.PermissionDenied)
			_, err = cl.Join(ctx, &roostv1.JoinRequest{Id: "s9", RaftAddress: "127.0.0.1:1", GrpcAddress: "127.0.0.1:1"})
			wantCode(t, name+" Join", err, codes.PermissionDenied)
			_, err = cl.Remove(ctx, &roostv1.RemoveRequest{Id: leader.id})
			wantCode(t, name+" Remove", err, codes.PermissionDenied)
			_, err = cl.TransferLeadership(ctx, &roostv1.TransferLeadershipRequest{})
			wantCode(t, name+" TransferLeadership", err, codes.PermissionDenied)
			save, err := cl.SaveSnapshot(ctx, &roostv1.SaveSnapshotRequest{})
			if err == nil {
				_, err = save.Recv()
			}
			wantCode(t, name+" SaveSnapshot", err, codes.PermissionDenied)
			restore, err := cl.RestoreSnapshot(ctx)
			if err == nil {
				restore.Send(&roostv1.RestoreSnapshotRequest{Chunk: []byte("x")})
				_, err = restore.CloseAndRecv()
			}
			wantCode(t, name+" RestoreSnapshot", err, codes.PermissionDenied)
			unchanged(name + "'s refused calls")

			// What it may do: its own server's mailboxes, and reads.
			mine := "user.mine-" + own
			if _, err := mc.Activate(ctx, &roostv1.ActivateRequest{Name: []byte(mine), Location: []byte(own + "!default")}); err != nil {
				t.Fatalf("%s Activate of its own mailbox: %v", name, err)
			}
			if _, err := mc.Delete(ctx, &roostv1.DeleteRequest{Name: []byte(mine)}); err != nil {
				t.Fatalf("%s Delete of its own mailbox: %v", name, err)
			}
			if _, err := mc.GetMailbox(ctx, &roostv1.GetMailboxRequest{Name: []byte(theirs)}); err != nil {
				t.Fatalf("%s GetMailbox: %v", name, err)
			}
			// The create and delete leave the listing as it was but
			// not the revisions, which the next comparison starts from.
			catchUp(t, nodes, leader)
			before = listing(t, leader)
		}
	})

	t.Run("admin", func(t *testing.T) {
		cc := pki.dial(t, f.grpcAddr, "root", auth.RoleAdmin)
		cl := roostv1.NewClusterServiceClient(cc)
		save, err := cl.SaveSnapshot(ctx, &roostv1.SaveSnapshotRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var snap bytes.Buffer
		for {
			m, err := save.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("admin SaveSnapshot: %v", err)
			}
			snap.Write(m.Chunk)
		}
		if _, err := roostv1.NewMailboxServiceClient(cc).Delete(ctx, &roostv1.DeleteRequest{Name: []byte("user.two")}); err != nil {
			t.Fatalf("admin Delete of be2's mailbox: %v", err)
		}
		// A restore goes to the leader itself.
		lc := roostv1.NewClusterServiceClient(pki.dial(t, leader.grpcAddr, "root", auth.RoleAdmin))
		restore, err := lc.RestoreSnapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := restore.Send(&roostv1.RestoreSnapshotRequest{Chunk: snap.Bytes()}); err != nil {
			t.Fatal(err)
		}
		if _, err := restore.CloseAndRecv(); err != nil {
			t.Fatalf("admin RestoreSnapshot: %v", err)
		}
		// A fourth node with its own certificate joins, and the admin
		// removes it.
		n4 := &testNode{id: "s4", pki: pki}
		startNode(t, n4, []string{f.grpcAddr}, true)
		all := append(slices.Clone(nodes), n4)
		waitMembers(t, all, map[string]bool{"s1": true, "s2": true, "s3": true, "s4": false})
		if _, err := cl.Remove(ctx, &roostv1.RemoveRequest{Id: "s4"}); err != nil {
			t.Fatalf("admin Remove: %v", err)
		}
		n4.stop(t)
		waitMembers(t, nodes, map[string]bool{"s1": true, "s2": true, "s3": true})
		waitFor(t, "the restored snapshot on every node", 10*time.Second, func() error {
			for _, tn := range nodes {
				if m, _ := tn.n.Store().FSM().Get("user.two"); m == nil {
					return fmt.Errorf("%s lacks user.two", tn.id)
				}
			}
			return nil
		})
	})
}

// dialTLS connects to a gRPC address with conf.
func dialTLS(t *testing.T, addr string, conf *tls.Config) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(conf)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func wantCode(t *testing.T, what string, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Fatalf("%s: %v (%v), want %v", what, got, err, want)
	}
}

// memberIDs returns a node's view of the members, sorted.
func memberIDs(t *testing.T, tn *testNode) []string {
	t.Helper()
	servers, err := tn.n.Store().Servers()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range servers {
		out = append(out, fmt.Sprintf("%s %s %v", s.ID, s.RaftAddr, s.Voter))
	}
	slices.Sort(out)
	return out
}
