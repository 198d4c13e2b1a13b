package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
	"google.golang.org/grpc"
)

func clusterStatus(ctx context.Context, c *cli, args []string) error {
	if _, err := c.parse(c.flagSet("cluster status"), args, 0, 0); err != nil {
		return err
	}
	return c.cluster(ctx, func(ctx context.Context, cc roostv1.ClusterServiceClient) error {
		st, err := cc.GetStatus(ctx, &roostv1.GetStatusRequest{})
		if err != nil {
			return err
		}
		// Only the leader knows its members' health: take its table.
		if st.Role != roostv1.Role_ROLE_LEADER && st.LeaderGrpcAddress != "" {
			c.at(ctx, st.LeaderGrpcAddress, c.timeout, func(ctx context.Context, lc *grpc.ClientConn) error {
				ls, err := roostv1.NewClusterServiceClient(lc).GetStatus(ctx, &roostv1.GetStatusRequest{})
				if err == nil {
					st.Members = ls.Members
				}
				return err
			})
		}
		return c.printStatus(st)
	})
}

// health describes what the leader knows of a member's health.
func health(m *roostv1.Member) string {
	switch {
	case !m.HealthKnown:
		return "unknown"
	case m.Healthy:
		return "healthy"
	case m.SinceAnswer == nil:
		return "unhealthy: never answered"
	case m.SinceAnswer.AsDuration() >= 3*time.Second:
		return fmt.Sprintf("unhealthy: no answer for %v", m.SinceAnswer.AsDuration().Round(time.Second))
	case m.LastContact.AsDuration() >= 3*time.Second:
		return fmt.Sprintf("unhealthy: no word from the leader for %v", m.LastContact.AsDuration().Round(time.Second))
	}
	return fmt.Sprintf("unhealthy: %d entries behind", m.Behind)
}

func (c *cli) printStatus(st *roostv1.GetStatusResponse) error {
	if c.output == "json" {
		type member struct {
			ID          string  `json:"id"`
			RaftAddress string  `json:"raft_address"`
			GRPCAddress string  `json:"grpc_address"`
			Voter       bool    `json:"voter"`
			Leader      bool    `json:"leader"`
			LogFormat   uint32  `json:"log_format"`
			Promotion   bool    `json:"promotion_pending"`
			Health      string  `json:"health"`
			Behind      uint64  `json:"behind"`
			SinceAnswer float64 `json:"since_answer_seconds"`
		}
		out := map[string]any{
			"node_id": st.NodeId, "role": role(st.Role), "leader_id": st.LeaderId,
			"leader_grpc_address": st.LeaderGrpcAddress, "term": st.Term,
			"applied_index": st.AppliedIndex, "commit_index": st.CommitIndex,
			"last_log_index": st.LastLogIndex, "last_contact_seconds": st.LastContact.AsDuration().Seconds(),
			"revision": st.Revision, "mailboxes": st.Mailboxes,
		}
		var ms []member
		for _, m := range st.Members {
			ms = append(ms, member{m.Id, m.RaftAddress, m.GrpcAddress, m.Suffrage == roostv1.Suffrage_SUFFRAGE_VOTER, m.Leader, m.LogFormat,
				m.PromotionPending, health(m), m.Behind, m.SinceAnswer.AsDuration().Seconds()})
		}
		out["members"] = ms
		return c.printJSON(out)
	}
	fmt.Fprintf(c.stdout, "node %s is %s; leader %s (%s); term %d\n", st.NodeId, role(st.Role), st.LeaderId, st.LeaderGrpcAddress, st.Term)
	fmt.Fprintf(c.stdout, "applied %d, commit %d, last log %d, last contact %v; revision %d, %d mailboxes\n\n",
		st.AppliedIndex, st.CommitIndex, st.LastLogIndex, st.LastContact.AsDuration(), st.Revision, st.Mailboxes)
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tRAFT ADDRESS\tGRPC ADDRESS\tSUFFRAGE\tROLE\tLOG FORMAT\tHEALTH\tBEHIND")
	for _, m := range st.Members {
		suffrage, r := "voter", "follower"
		switch {
		case m.Suffrage == roostv1.Suffrage_SUFFRAGE_VOTER:
		case m.PromotionPending:
			suffrage = "nonvoter, to be promoted once caught up"
		default:
			suffrage = "nonvoter"
		}
		if m.Leader {
			r = "leader"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%d\n", m.Id, m.RaftAddress, m.GrpcAddress, suffrage, r, m.LogFormat, health(m), m.Behind)
	}
	return tw.Flush()
}

func role(r roostv1.Role) string { return strings.ToLower(strings.TrimPrefix(r.String(), "ROLE_")) }

func clusterJoin(ctx context.Context, c *cli, args []string) error {
	fs := c.flagSet("cluster join")
	nonvoter := fs.Bool("nonvoter", false, "add without a vote (promote later by joining again without it)")
	now := fs.Bool("now", false, "make it a voter at once, before it has caught up (by default it joins as a non-voter and the leader promotes it once it has)")
	pos, err := c.parse(fs, args, 2, 2)
	if err != nil {
		return err
	}
	if *nonvoter && *now {
		return fmt.Errorf("%w: --nonvoter and --now exclude each other", errUsage)
	}
	err = c.cluster(ctx, func(ctx context.Context, cc roostv1.ClusterServiceClient) error {
		_, err := cc.Join(ctx, &roostv1.JoinRequest{Id: pos[0], RaftAddress: pos[1], Nonvoter: *nonvoter, VoterNow: *now})
		return err
	})
	if err == nil {
		err = c.println("joined", pos[0])
	}
	return err
}

func clusterRemove(ctx context.Context, c *cli, args []string) error {
	pos, err := c.parse(c.flagSet("cluster remove"), args, 1, 1)
	if err != nil {
		return err
	}
	err = c.cluster(ctx, func(ctx context.Context, cc roostv1.ClusterServiceClient) error {
		_, err := cc.Remove(ctx, &roostv1.RemoveRequest{Id: pos[0]})
		return err
	})
	if err == nil {
		err = c.println("removed", pos[0])
	}
	return err
}

func clusterTransfer(ctx context.Context, c *cli, args []string) error {
	pos, err := c.parse(c.flagSet("cluster transfer-leader"), args, 0, 1)
	if err != nil {
		return err
	}
	req := &roostv1.TransferLeadershipRequest{}
	if len(pos) == 1 {
		req.Id = pos[0]
	}
	return c.cluster(ctx, func(ctx context.Context, cc roostv1.ClusterServiceClient) error {
		resp, err := cc.TransferLeadership(ctx, req)
		if err != nil {
			return err
		}
		return c.println("leader is now", resp.LeaderId)
	})
}
