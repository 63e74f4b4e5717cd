package infer

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"slices"

	"github.com/privinfer/mpcache/model"
	"github.com/privinfer/mpcache/mpc"
)

// A share file holds one party's ModelShares:
//
//	magic "MPCSHR1\n" | header length (uint32 LE) | header (JSON) |
//	every tensor in slot order: Own, then Next (3pc), as little-endian uint64 |
//	SHA-256 of everything before it
//
// The header names the format version, protocol, party, fractional bits, model id and the
// public model config; tensor shapes follow from the config, so a file cannot announce sizes of
// its own.
const (
	fileMagic   = "MPCSHR1\n"
	fileVersion = 1
	maxHeader   = 1 << 20
)

type fileHeader struct {
	Version  int          `json:"version"`
	Protocol mpc.Protocol `json:"protocol"`
	Party    int          `json:"party"`
	Frac     uint         `json:"frac"`
	ModelID  string       `json:"model_id"`
	Config   model.Config `json:"config"`
}

// modelID is the hex SHA-256 of the config and the weights (the owner's fixed-point inputs).
func modelID(c model.Config, vals [][]float64) string {
	h := sha256.New()
	cj, _ := json.Marshal(c)
	h.Write(cj)
	var b [8]byte
	for _, v := range vals {
		for _, x := range v {
			binary.LittleEndian.PutUint64(b[:], math.Float64bits(x))
			h.Write(b[:])
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// Save writes w as a share file.
func (w *ModelShares) Save(out io.Writer) error {
	if err := w.check(); err != nil {
		return err
	}
	hdr, err := json.Marshal(fileHeader{fileVersion, w.Protocol, w.Party, w.Frac, w.ModelID, w.Config})
	if err != nil {
		return err
	}
	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(out, h), 1<<20)
	bw.WriteString(fileMagic)
	binary.Write(bw, binary.LittleEndian, uint32(len(hdr)))
	bw.Write(hdr)
	var b [8]byte
	for _, s := range w.slots() {
		for _, part := range [][]uint64{(*s.ptr).Own, (*s.ptr).Next} {
			for _, v := range part {
				binary.LittleEndian.PutUint64(b[:], v)
				bw.Write(b[:])
			}
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("infer: writing share file: %w", err)
	}
	if _, err := out.Write(h.Sum(nil)); err != nil {
		return fmt.Errorf("infer: writing share file: %w", err)
	}
	return nil
}

// Expect states what a loaded share file must be; zero fields are not checked.
type Expect struct {
	Protocol mpc.Protocol
	Party    int // checked when CheckParty
	ModelID  string
	// CheckParty enables the Party check (party 0 is a valid value).
	CheckParty bool
}

// LoadShares reads a share file written by Save, verifying its checksum, and checks it against
// want. Errors name what is wrong: a truncated or corrupt file, another format version, or
// shares of another protocol, party or model.
func LoadShares(r io.Reader, want Expect) (*ModelShares, error) {
	h := sha256.New()
	br := bufio.NewReaderSize(r, 1<<20)
	tr := io.TeeReader(br, h)
	head := make([]byte, len(fileMagic)+4)
	if _, err := io.ReadFull(tr, head); err != nil {
		return nil, fmt.Errorf("infer: share file: reading header: %w", truncated(err))
	}
	if string(head[:len(fileMagic)]) != fileMagic {
		return nil, errors.New("infer: not a share file (bad magic)")
	}
	n := binary.LittleEndian.Uint32(head[len(fileMagic):])
	if n == 0 || n > maxHeader {
		return nil, fmt.Errorf("infer: share file: header of %d bytes is out of range", n)
	}
	hb := make([]byte, n)
	if _, err := io.ReadFull(tr, hb); err != nil {
		return nil, fmt.Errorf("infer: share file: reading header: %w", truncated(err))
	}
	var fh fileHeader
	dec := json.NewDecoder(bytes.NewReader(hb))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fh); err != nil {
		return nil, fmt.Errorf("infer: share file: header: %w", err)
	}
	if fh.Version != fileVersion {
		return nil, fmt.Errorf("infer: share file has format version %d, this build reads %d", fh.Version, fileVersion)
	}
	if _, err := mpc.ParseProtocol(string(fh.Protocol)); err != nil {
		return nil, fmt.Errorf("infer: share file: %w", err)
	}
	if fh.Party < 0 || fh.Party > 2 || fh.Frac == 0 || fh.Frac > 30 {
		return nil, fmt.Errorf("infer: share file: party %d or fractional bits %d out of range", fh.Party, fh.Frac)
	}
	if err := fh.Config.Validate(); err != nil {
		return nil, fmt.Errorf("infer: share file: %w", err)
	}
	switch {
	case want.Protocol != "" && fh.Protocol != want.Protocol:
		return nil, fmt.Errorf("infer: share file is for protocol %s, this deployment runs %s", fh.Protocol, want.Protocol)
	case want.CheckParty && fh.Party != want.Party:
		return nil, fmt.Errorf("infer: share file belongs to party %d, this is party %d", fh.Party, want.Party)
	case want.ModelID != "" && fh.ModelID != want.ModelID:
		return nil, fmt.Errorf("infer: share file is of model %s, want model %s", fh.ModelID, want.ModelID)
	}
	w := &ModelShares{Config: fh.Config, Protocol: fh.Protocol, Party: fh.Party, Frac: fh.Frac, ModelID: fh.ModelID}
	phantom := fh.Protocol == mpc.TwoPC && fh.Party == mpc.Dealer
	buf := make([]byte, 1<<16)
	read := func(name string, n int) ([]uint64, error) {
		out := make([]uint64, 0, min(n, 1<<20))
		for len(out) < n {
			k := min(n-len(out), len(buf)/8)
			if _, err := io.ReadFull(tr, buf[:8*k]); err != nil {
				return nil, fmt.Errorf("infer: share file: tensor %s: %w", name, truncated(err))
			}
			for i := 0; i < k; i++ {
				out = append(out, binary.LittleEndian.Uint64(buf[8*i:]))
			}
		}
		return out, nil
	}
	for _, s := range w.slots() {
		sh := &mpc.Share{Shape: slices.Clone(s.shape)}
		if !phantom {
			var err error
			if sh.Own, err = read(s.name, mpc.Numel(s.shape)); err != nil {
				return nil, err
			}
			if fh.Protocol == mpc.ThreePC {
				if sh.Next, err = read(s.name, mpc.Numel(s.shape)); err != nil {
					return nil, err
				}
			}
		}
		*s.ptr = sh
	}
	return w, verifySum(br, h)
}

// verifySum reads the trailing checksum and compares it with the hash of what came before.
func verifySum(r io.Reader, h hash.Hash) error {
	want := h.Sum(nil)
	got := make([]byte, len(want))
	if _, err := io.ReadFull(r, got); err != nil {
		return fmt.Errorf("infer: share file: checksum: %w", truncated(err))
	}
	if !bytes.Equal(got, want) {
		return errors.New("infer: share file is corrupt (checksum mismatch)")
	}
	if n, _ := r.Read(make([]byte, 1)); n > 0 {
		return errors.New("infer: share file has trailing bytes after its checksum")
	}
	return nil
}

func truncated(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("file is truncated")
	}
	return err
}
