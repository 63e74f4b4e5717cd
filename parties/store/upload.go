package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/privinfer/mpcache/parties/role"
	"github.com/privinfer/mpcache/proto/partypb"
)

// MaxChunk is the largest data message of an upload.
const MaxChunk = 4 << 20

// CheckHeader checks an upload's header against what party r of protocol p stores, with files of
// at most max bytes.
func CheckHeader(h *partypb.ShareHeader, p role.Protocol, r role.Role, max int64) error {
	if h == nil {
		return errors.New("store: upload: the first message must be the share header")
	}
	if err := ValidModelID(h.ModelId); err != nil {
		return fmt.Errorf("store: upload: %w", err)
	}
	if h.Role != string(r) {
		return fmt.Errorf("store: upload: the share file belongs to %q, but this party is %s", h.Role, r)
	}
	if got := ProtocolName(h.Protocol); got != string(p) {
		return fmt.Errorf("store: upload: the share file is for protocol %s, but this party runs %s", got, p)
	}
	if want := FileName(p, r); h.FileName != want {
		return fmt.Errorf("store: upload: file name %q is not the one %s of %s stores (%q)", h.FileName, r, p, want)
	}
	if h.Size == 0 || h.Size > uint64(max) {
		return fmt.Errorf("store: upload: file size %d is not between 1 and %d bytes", h.Size, max)
	}
	if len(h.Sha256) != sha256.Size {
		return fmt.Errorf("store: upload: the header's SHA-256 has %d bytes, not %d", len(h.Sha256), sha256.Size)
	}
	return nil
}

// ProtocolName maps the protocol enum of the party API to "2pc" or "3pc" ("unspecified" else).
func ProtocolName(p partypb.Protocol) string {
	switch p {
	case partypb.Protocol_PROTOCOL_2PC:
		return string(role.TwoPC)
	case partypb.Protocol_PROTOCOL_3PC:
		return string(role.ThreePC)
	}
	return "unspecified"
}

// ProtocolEnum maps "2pc" or "3pc" to the enum of the party API.
func ProtocolEnum(p role.Protocol) partypb.Protocol {
	switch p {
	case role.TwoPC:
		return partypb.Protocol_PROTOCOL_2PC
	case role.ThreePC:
		return partypb.Protocol_PROTOCOL_3PC
	}
	return partypb.Protocol_PROTOCOL_UNSPECIFIED
}

// Assembler reassembles one uploaded share file from the messages of an Upload call: a header
// (checked with CheckHeader beforehand), then data chunks in order, each at the offset where the
// previous one ended, adding up to exactly the announced size with the announced SHA-256.
type Assembler struct {
	hdr *partypb.ShareHeader
	w   io.Writer
	n   uint64
	h   hash.Hash
}

// NewAssembler writes the data of the upload described by hdr to w.
func NewAssembler(hdr *partypb.ShareHeader, w io.Writer) *Assembler {
	return &Assembler{hdr: hdr, w: w, h: sha256.New()}
}

// Add takes the next message after the header.
func (a *Assembler) Add(req *partypb.UploadRequest) error {
	if req.GetHeader() != nil {
		return errors.New("store: upload: a second header arrived; one upload carries one file")
	}
	d := req.GetData()
	switch {
	case d == nil:
		return errors.New("store: upload: a message with neither header nor data")
	case d.Offset != a.n:
		return fmt.Errorf("store: upload: data at offset %d, expected %d (chunks must come in order)", d.Offset, a.n)
	case len(d.Data) == 0:
		return fmt.Errorf("store: upload: empty chunk at offset %d", d.Offset)
	case len(d.Data) > MaxChunk:
		return fmt.Errorf("store: upload: chunk of %d bytes exceeds %d", len(d.Data), MaxChunk)
	case uint64(len(d.Data)) > a.hdr.Size-a.n:
		return fmt.Errorf("store: upload: chunk at offset %d overruns the announced size of %d bytes", d.Offset, a.hdr.Size)
	}
	if _, err := a.w.Write(d.Data); err != nil {
		return fmt.Errorf("store: upload: %w", err)
	}
	a.h.Write(d.Data)
	a.n += uint64(len(d.Data))
	return nil
}

// Finish checks that the whole file arrived intact and returns its SHA-256.
func (a *Assembler) Finish() ([]byte, error) {
	if a.n != a.hdr.Size {
		return nil, fmt.Errorf("store: upload: the upload ended after %d of %d bytes", a.n, a.hdr.Size)
	}
	sum := a.h.Sum(nil)
	if !bytes.Equal(sum, a.hdr.Sha256) {
		return nil, fmt.Errorf("store: upload: SHA-256 mismatch: got %x, the header announced %x (the file was corrupted)", sum, a.hdr.Sha256)
	}
	return sum, nil
}

// Received is the number of data bytes received so far.
func (a *Assembler) Received() uint64 { return a.n }

// Upload is one share file being received into the store.
type Upload struct {
	s   *Store
	hdr *partypb.ShareHeader
	f   *os.File
	asm *Assembler
}

// BeginUpload checks hdr and starts receiving its file into a temporary file of the model's
// directory.
func (s *Store) BeginUpload(hdr *partypb.ShareHeader) (*Upload, error) {
	if err := CheckHeader(hdr, s.proto, s.role, s.max); err != nil {
		return nil, err
	}
	dir := filepath.Join(s.dir, hdr.ModelId)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	f, err := os.CreateTemp(dir, ".upload-*")
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return &Upload{s: s, hdr: hdr, f: f, asm: NewAssembler(hdr, f)}, nil
}

// Add takes the next message of the upload.
func (u *Upload) Add(req *partypb.UploadRequest) error { return u.asm.Add(req) }

// Received is the number of data bytes received so far.
func (u *Upload) Received() uint64 { return u.asm.Received() }

// Commit checks the file (size, checksum, then infer's own verification: format, checksum,
// model, party and protocol) and moves it into place, replacing an earlier upload of the same
// model. On error the upload is discarded.
func (u *Upload) Commit() (Manifest, error) {
	defer u.Abort()
	sum, err := u.asm.Finish()
	if err != nil {
		return Manifest{}, err
	}
	if err := u.f.Sync(); err != nil {
		return Manifest{}, fmt.Errorf("store: upload: %w", err)
	}
	if _, err := u.f.Seek(0, io.SeekStart); err != nil {
		return Manifest{}, fmt.Errorf("store: upload: %w", err)
	}
	if err := u.s.verify(u.f, u.hdr.ModelId); err != nil {
		return Manifest{}, err
	}
	final := u.s.Path(u.hdr.ModelId)
	if err := os.Rename(u.f.Name(), final); err != nil {
		return Manifest{}, fmt.Errorf("store: upload: %w", err)
	}
	m := Manifest{ModelID: u.hdr.ModelId, Role: u.hdr.Role, Protocol: string(u.s.proto), FileName: u.hdr.FileName,
		Size: int64(u.hdr.Size), SHA256: hex.EncodeToString(sum), Stored: time.Now().UTC()}
	if err := WriteManifest(filepath.Dir(final), m); err != nil {
		return Manifest{}, err
	}
	u.s.forget(u.hdr.ModelId)
	u.s.log.Info("store: stored a share file", "model", m.ModelID, "file", final, "bytes", m.Size)
	return m, nil
}

// Abort discards the upload (a no-op after Commit).
func (u *Upload) Abort() {
	if u.f == nil {
		return
	}
	name := u.f.Name()
	u.f.Close()
	u.f = nil
	if _, err := os.Stat(name); err == nil {
		os.Remove(name)
	}
	os.Remove(filepath.Dir(name)) // the model's directory, if the upload left it empty
}
