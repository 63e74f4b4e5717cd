package service

import (
	"context"
	"encoding/hex"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/privinfer/mpcache/parties/role"
	"github.com/privinfer/mpcache/parties/store"
	"github.com/privinfer/mpcache/proto/partypb"
)

// Provision is the Provision service over a share store.
type Provision struct {
	partypb.UnimplementedProvisionServer
	st    *store.Store
	proto role.Protocol
	auth  Authorizer
}

// NewProvision returns the Provision service of st (party of protocol p); auth admits callers
// (nil admits all, for tests).
func NewProvision(st *store.Store, p role.Protocol, auth Authorizer) *Provision {
	return &Provision{st: st, proto: p, auth: auth}
}

// Register adds the service to s.
func (p *Provision) Register(s interface {
	Register(desc *grpc.ServiceDesc, impl any)
}) {
	s.Register(&partypb.Provision_ServiceDesc, p)
}

// Upload receives one share file and stores it once it verifies.
func (p *Provision) Upload(stream grpc.ClientStreamingServer[partypb.UploadRequest, partypb.UploadResponse]) error {
	if err := authorize(p.auth, stream.Context()); err != nil {
		return err
	}
	r := newReceiver(stream.Recv)
	defer r.close()
	first, err := r.next(ChunkTimeout, nil, "share header")
	if err == io.EOF {
		return errorf(codes.InvalidArgument, "the upload carried no message")
	}
	if err != nil {
		return err
	}
	up, err := p.st.BeginUpload(first.GetHeader())
	if err != nil {
		return errorf(codes.InvalidArgument, "%v", err)
	}
	defer up.Abort()
	for {
		req, err := r.next(ChunkTimeout, nil, "share data")
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if err := up.Add(req); err != nil {
			return errorf(codes.InvalidArgument, "%v", err)
		}
	}
	m, err := up.Commit()
	if err != nil {
		return errorf(codes.InvalidArgument, "%v", err)
	}
	sum, _ := hex.DecodeString(m.SHA256)
	return stream.SendAndClose(&partypb.UploadResponse{ModelId: m.ModelID, FileName: m.FileName, BytesWritten: uint64(m.Size), Sha256: sum})
}

// List reports the share files this party holds.
func (p *Provision) List(ctx context.Context, _ *partypb.ListRequest) (*partypb.ListResponse, error) {
	if err := authorize(p.auth, ctx); err != nil {
		return nil, err
	}
	ms, err := p.st.List()
	if err != nil {
		return nil, errorf(codes.Internal, "%v", err)
	}
	out := &partypb.ListResponse{}
	for _, m := range ms {
		sum, _ := hex.DecodeString(m.SHA256)
		out.Shares = append(out.Shares, &partypb.ShareHeader{
			ModelId: m.ModelID, Role: m.Role, Protocol: store.ProtocolEnum(role.Protocol(m.Protocol)),
			FileName: m.FileName, Size: uint64(m.Size), Sha256: sum,
		})
	}
	return out, nil
}
