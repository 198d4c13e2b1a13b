package grpcserver

import (
	"context"
	"encoding/base64"
	"strings"

	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
	"github.com/roost-mail/roost/raftfsm/auth"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// Authenticator identifies the caller of every call and checks its role
// before the handler runs: a call it refuses reaches no handler and
// changes nothing. Install it with its interceptors (ServerOptions).
type Authenticator struct {
	// TLS says the server speaks TLS, verifying client certificates
	// against the cluster's CA. Without it every caller is trusted as
	// auth.Admin: a plaintext node listens on loopback only, unless its
	// operator says --insecure.
	TLS bool
	// Users verifies callers who send a user name and a password
	// (Basic, in the authorization metadata) instead of a certificate;
	// nil admits certificates only.
	Users auth.Verifier
}

// permission is what a method needs.
type permission uint8

const (
	permRead  permission = iota // any identity
	permWrite                   // backend (confined to its servers), admin, node
	permAdmin                   // admin, node
	permNone                    // no identity at all: health checks
)

// methods maps every method of the node's services to what it needs.
// Methods not listed need an admin.
var methods = map[string]permission{
	roostv1.MailboxService_GetMailbox_FullMethodName:                 permRead,
	roostv1.MailboxService_ListMailboxes_FullMethodName:              permRead,
	roostv1.MailboxService_Watch_FullMethodName:                      permRead,
	roostv1.MailboxService_Reserve_FullMethodName:                    permWrite,
	roostv1.MailboxService_Activate_FullMethodName:                   permWrite,
	roostv1.MailboxService_Deactivate_FullMethodName:                 permWrite,
	roostv1.MailboxService_Delete_FullMethodName:                     permWrite,
	roostv1.MailboxService_Batch_FullMethodName:                      permWrite,
	roostv1.MailboxService_Write_FullMethodName:                      permWrite,
	roostv1.ClusterService_GetStatus_FullMethodName:                  permRead,
	roostv1.ClusterService_ReadIndex_FullMethodName:                  permRead,
	roostv1.ClusterService_Join_FullMethodName:                       permAdmin,
	roostv1.ClusterService_Remove_FullMethodName:                     permAdmin,
	roostv1.ClusterService_TransferLeadership_FullMethodName:         permAdmin,
	roostv1.ClusterService_SaveSnapshot_FullMethodName:               permAdmin,
	roostv1.ClusterService_RestoreSnapshot_FullMethodName:            permAdmin,
	"/grpc.health.v1.Health/Check":                                   permNone,
	"/grpc.health.v1.Health/Watch":                                   permNone,
	"/grpc.health.v1.Health/List":                                    permNone,
	"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo":      permRead,
	"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": permRead,
}

// ServerOptions returns the interceptors that authenticate and authorize
// every call, to be given to grpc.NewServer before any other.
func (a *Authenticator) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			ctx, err := a.admit(ctx, info.FullMethod)
			if err != nil {
				return nil, err
			}
			return h(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			ctx, err := a.admit(ss.Context(), info.FullMethod)
			if err != nil {
				return err
			}
			return h(srv, &identifiedStream{ServerStream: ss, ctx: ctx})
		}),
	}
}

type identifiedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *identifiedStream) Context() context.Context { return s.ctx }

// admit identifies the caller, checks that its role may call method, and
// returns ctx carrying the identity.
func (a *Authenticator) admit(ctx context.Context, method string) (context.Context, error) {
	need, ok := methods[method]
	if !ok {
		need = permAdmin
	}
	if need == permNone {
		return ctx, nil
	}
	id, err := a.identify(ctx)
	if err != nil {
		return nil, err
	}
	allowed := false
	switch need {
	case permRead:
		allowed = id.Role != 0
	case permWrite:
		allowed = id.Role == auth.RoleBackend || id.Role == auth.RoleAdmin || id.Role == auth.RoleNode
	case permAdmin:
		allowed = id.Role == auth.RoleAdmin || id.Role == auth.RoleNode
	}
	if !allowed {
		return nil, status.Errorf(codes.PermissionDenied, "%s %q may not call %s", id.Role, id.Name, method)
	}
	return auth.NewContext(ctx, id), nil
}

// identify finds who is calling: the subject of a verified client
// certificate, else the user of a verified name and password.
func (a *Authenticator) identify(ctx context.Context) (auth.Identity, error) {
	if !a.TLS {
		return auth.Admin, nil
	}
	if p, ok := peer.FromContext(ctx); ok {
		if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(ti.State.VerifiedChains) > 0 {
			id, err := auth.FromCertificate(ti.State.VerifiedChains[0][0])
			if err != nil {
				return auth.Identity{}, status.Error(codes.Unauthenticated, err.Error())
			}
			return id, nil
		}
	}
	vals := metadata.ValueFromIncomingContext(ctx, "authorization")
	if len(vals) == 0 {
		return auth.Identity{}, status.Error(codes.Unauthenticated,
			"this node needs a client certificate or a user name and password (roostctl --cert and --key, or --user and --password-file)")
	}
	name, password, ok := parseBasic(vals[0])
	if !ok {
		return auth.Identity{}, status.Error(codes.Unauthenticated, "malformed authorization: want Basic and base64 of user:password")
	}
	if a.Users != nil {
		if id, ok := a.Users.Verify(name, password); ok {
			return id, nil
		}
	}
	// The name may be a mistyped password: it stays out of the answer.
	return auth.Identity{}, status.Error(codes.Unauthenticated, "wrong user name or password")
}

// parseBasic parses an HTTP Basic authorization value.
func parseBasic(v string) (name, password string, ok bool) {
	scheme, enc, found := strings.Cut(v, " ")
	if !found || !strings.EqualFold(scheme, "Basic") {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
	if err != nil {
		return "", "", false
	}
	return strings.Cut(string(raw), ":")
}
