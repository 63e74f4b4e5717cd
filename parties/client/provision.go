package client

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/privinfer/mpcache/infer"
	"github.com/privinfer/mpcache/model"
	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/parties/role"
	"github.com/privinfer/mpcache/parties/store"
	"github.com/privinfer/mpcache/proto/partypb"
)

// UploadChunk is the data size of one upload message.
const UploadChunk = 1 << 20

// ShareFile is one party's share file of a model, on disk.
type ShareFile struct {
	Role   role.Role
	Path   string
	Header *partypb.ShareHeader
}

// WriteShares is the model owner's step: it encodes m in fixed point with frac fractional bits,
// splits it into one share file per party of protocol p (randomness from crypto/rand), and
// writes them with their manifests in the layout of a party's share directory under
// dir/<role>/, ready to be uploaded or copied into each party's share_dir. It returns the
// model's id and the files.
func WriteShares(m *model.Model, p role.Protocol, frac uint, dir string) (string, []ShareFile, error) {
	shares, err := infer.ShareModel(m, mpc.Protocol(p), frac)
	if err != nil {
		return "", nil, err
	}
	id := shares[0].ModelID
	var files []ShareFile
	for i, r := range p.Roles() {
		name := store.FileName(p, r)
		mdir := filepath.Join(dir, string(r), id)
		if err := os.MkdirAll(mdir, 0o700); err != nil {
			return "", nil, fmt.Errorf("client: %w", err)
		}
		path := filepath.Join(mdir, name)
		size, sum, err := saveShares(shares[i], path)
		if err != nil {
			return "", nil, err
		}
		shares[i] = nil // let the shares go as soon as they are written
		if err := store.WriteManifest(mdir, store.Manifest{ModelID: id, Role: string(r), Protocol: string(p), FileName: name,
			Size: size, SHA256: hex.EncodeToString(sum), Stored: time.Now().UTC()}); err != nil {
			return "", nil, err
		}
		files = append(files, ShareFile{Role: r, Path: path, Header: &partypb.ShareHeader{
			ModelId: id, Role: string(r), Protocol: store.ProtocolEnum(p), FileName: name, Size: uint64(size), Sha256: sum}})
	}
	return id, files, nil
}

func saveShares(w *infer.ModelShares, path string) (int64, []byte, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, nil, fmt.Errorf("client: %w", err)
	}
	h := sha256.New()
	cw := &counter{w: io.MultiWriter(f, h)}
	bw := bufio.NewWriterSize(cw, 1<<20)
	err = w.Save(bw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, nil, fmt.Errorf("client: writing %s: %w", path, err)
	}
	return cw.n, h.Sum(nil), nil
}

type counter struct {
	w io.Writer
	n int64
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Upload sends every party its share file over TLS, in parallel, and checks the size and
// checksum each party reports back. files holds one file per party role of the deployment.
func (c *Client) Upload(ctx context.Context, files []ShareFile) error {
	byRole := map[role.Role]ShareFile{}
	for _, f := range files {
		byRole[f.Role] = f
	}
	for _, r := range c.roles {
		if _, ok := byRole[r]; !ok {
			return fmt.Errorf("client: no share file for %s", r)
		}
	}
	c.wake()
	errs := c.each(c.all(), func(i int) error {
		f := byRole[c.roles[i]]
		if err := c.upload(ctx, i, f); err != nil {
			return c.fail(i, "upload "+filepath.Base(f.Path), err)
		}
		return nil
	})
	return errors.Join(errs...)
}

func (c *Client) upload(ctx context.Context, i int, f ShareFile) error {
	in, err := os.Open(f.Path)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := c.prov[i].Upload(ctx)
	if err != nil {
		return err
	}
	send := func(r *partypb.UploadRequest) error {
		if err := st.Send(r); err != nil {
			if err == io.EOF {
				_, err = st.CloseAndRecv() // the party's reason
			}
			return err
		}
		return nil
	}
	if err := send(&partypb.UploadRequest{Part: &partypb.UploadRequest_Header{Header: f.Header}}); err != nil {
		return err
	}
	buf := make([]byte, UploadChunk)
	var off uint64
	for {
		n, rerr := io.ReadFull(in, buf)
		if n > 0 {
			if err := send(&partypb.UploadRequest{Part: &partypb.UploadRequest_Data{Data: &partypb.ShareData{Offset: off, Data: buf[:n]}}}); err != nil {
				return err
			}
			off += uint64(n)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return rerr
		}
	}
	res, err := st.CloseAndRecv()
	if err != nil {
		return err
	}
	if res.BytesWritten != f.Header.Size || !bytes.Equal(res.Sha256, f.Header.Sha256) {
		return fmt.Errorf("the party stored %d bytes with SHA-256 %x; sent %d bytes with %x", res.BytesWritten, res.Sha256, f.Header.Size, f.Header.Sha256)
	}
	return nil
}

// List returns, by party, the share files each party holds.
func (c *Client) List(ctx context.Context) ([][]*partypb.ShareHeader, error) {
	c.wake()
	out := make([][]*partypb.ShareHeader, len(c.roles))
	errs := c.each(c.all(), func(i int) error {
		res, err := c.prov[i].List(ctx, &partypb.ListRequest{})
		if err != nil {
			return c.fail(i, "list", err)
		}
		out[i] = res.Shares
		return nil
	})
	return out, errors.Join(errs...)
}

// Roles returns the deployment's party roles, by party number.
func (c *Client) Roles() []role.Role { return c.roles }
