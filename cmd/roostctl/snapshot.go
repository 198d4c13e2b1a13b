package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
	"google.golang.org/grpc"
)

// snapshotSave writes a consistent snapshot to FILE, via a temporary file
// so that FILE is either complete or untouched.
func snapshotSave(ctx context.Context, c *cli, args []string) error {
	pos, err := c.parse(c.flagSet("snapshot save"), args, 1, 1)
	if err != nil {
		return err
	}
	path := pos[0]
	var n int64
	err = c.cluster(ctx, func(ctx context.Context, cc roostv1.ClusterServiceClient) error {
		tmp, err := os.CreateTemp(filepath.Dir(path), ".roost-snapshot-*")
		if err != nil {
			return err
		}
		defer os.Remove(tmp.Name())
		defer tmp.Close()
		stream, err := cc.SaveSnapshot(ctx, &roostv1.SaveSnapshotRequest{})
		if err != nil {
			return err
		}
		for n = 0; ; {
			msg, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			k, err := tmp.Write(msg.Chunk)
			n += int64(k)
			if err != nil {
				return err
			}
		}
		if err := tmp.Sync(); err != nil {
			return err
		}
		return os.Rename(tmp.Name(), path)
	})
	if err == nil {
		err = c.println("saved", n, "bytes to", path)
	}
	return err
}

// snapshotRestore replaces the cluster's whole database with FILE. It
// finds the leader and streams the file there.
func snapshotRestore(ctx context.Context, c *cli, args []string) error {
	pos, err := c.parse(c.flagSet("snapshot restore"), args, 1, 1)
	if err != nil {
		return err
	}
	var leader string
	err = c.cluster(ctx, func(ctx context.Context, cc roostv1.ClusterServiceClient) error {
		st, err := cc.GetStatus(ctx, &roostv1.GetStatusRequest{})
		leader = st.GetLeaderGrpcAddress()
		return err
	})
	if err != nil {
		return err
	}
	if leader == "" {
		return errors.New("the cluster has no leader with a known address")
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return err
	}
	defer f.Close()
	var resp *roostv1.RestoreSnapshotResponse
	err = c.at(ctx, leader, 0, func(ctx context.Context, cc *grpc.ClientConn) error {
		resp, err = restoreTo(ctx, roostv1.NewClusterServiceClient(cc), f)
		return err
	})
	if err != nil {
		return err
	}
	return c.println(fmt.Sprintf("restored %d mailboxes; cluster revision now %d", resp.Mailboxes, resp.Revision))
}

func restoreTo(ctx context.Context, cc roostv1.ClusterServiceClient, r io.Reader) (*roostv1.RestoreSnapshotResponse, error) {
	stream, err := cc.RestoreSnapshot(ctx)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, 256<<10)
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			if err := stream.Send(&roostv1.RestoreSnapshotRequest{Chunk: buf[:n]}); err != nil {
				return stream.CloseAndRecv() // the server's reason
			}
		}
		if errors.Is(rerr, io.EOF) {
			return stream.CloseAndRecv()
		}
		if rerr != nil {
			return nil, rerr
		}
	}
}
