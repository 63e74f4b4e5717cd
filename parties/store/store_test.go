package store

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/privinfer/mpcache/infer"
	"github.com/privinfer/mpcache/model"
	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/parties/role"
	"github.com/privinfer/mpcache/proto/partypb"
)

var quiet = Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}

var testFiles struct {
	once sync.Once
	id   string
	data map[role.Protocol][][]byte // share files by party
	err  error
}

// files returns the share files of a small random model for both protocols.
func files(t *testing.T) (string, map[role.Protocol][][]byte) {
	t.Helper()
	testFiles.once.Do(func() {
		m, err := model.RandomModel("llama-test", 3)
		if err != nil {
			testFiles.err = err
			return
		}
		testFiles.data = map[role.Protocol][][]byte{}
		for _, p := range []role.Protocol{role.TwoPC, role.ThreePC} {
			shares, err := infer.ShareModel(m, mpc.Protocol(p), 16)
			if err != nil {
				testFiles.err = err
				return
			}
			testFiles.id = shares[0].ModelID
			for _, s := range shares {
				var b bytes.Buffer
				if err := s.Save(&b); err != nil {
					testFiles.err = err
					return
				}
				testFiles.data[p] = append(testFiles.data[p], b.Bytes())
			}
		}
	})
	if testFiles.err != nil {
		t.Fatal(testFiles.err)
	}
	return testFiles.id, testFiles.data
}

func header(id string, p role.Protocol, r role.Role, data []byte) *partypb.ShareHeader {
	sum := sha256.Sum256(data)
	return &partypb.ShareHeader{ModelId: id, Role: string(r), Protocol: ProtocolEnum(p), FileName: FileName(p, r),
		Size: uint64(len(data)), Sha256: sum[:]}
}

// upload sends data in chunks of 1000 bytes.
func upload(s *Store, h *partypb.ShareHeader, data []byte) (Manifest, error) {
	u, err := s.BeginUpload(h)
	if err != nil {
		return Manifest{}, err
	}
	defer u.Abort()
	for off := 0; off < len(data); off += 1000 {
		end := min(off+1000, len(data))
		if err := u.Add(&partypb.UploadRequest{Part: &partypb.UploadRequest_Data{Data: &partypb.ShareData{Offset: uint64(off), Data: data[off:end]}}}); err != nil {
			return Manifest{}, err
		}
	}
	return u.Commit()
}

func TestUploadListLoad(t *testing.T) {
	id, all := files(t)
	for _, p := range []role.Protocol{role.TwoPC, role.ThreePC} {
		for party, r := range p.Roles() {
			t.Run(string(p)+"/"+string(r), func(t *testing.T) {
				s, err := Open(t.TempDir(), p, r, quiet)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := s.Load(id); !errors.Is(err, ErrUnknownModel) {
					t.Fatalf("loading before the upload: %v", err)
				}
				data := all[p][party]
				m, err := upload(s, header(id, p, r, data), data)
				if err != nil {
					t.Fatal(err)
				}
				if m.Size != int64(len(data)) || m.ModelID != id {
					t.Fatalf("manifest %+v", m)
				}
				list, err := s.List()
				if err != nil || len(list) != 1 || list[0].ModelID != id || list[0].SHA256 != m.SHA256 {
					t.Fatalf("List: %v %+v", err, list)
				}
				w, err := s.Load(id)
				if err != nil {
					t.Fatal(err)
				}
				if w.Party != party || string(w.Protocol) != string(p) {
					t.Fatalf("loaded the shares of party %d %s", w.Party, w.Protocol)
				}
				// A file copied in without its manifest gets one when listed.
				os.Remove(filepath.Join(s.Dir(), id, ManifestName(FileName(p, r))))
				s2, _ := Open(s.Dir(), p, r, quiet)
				if list, err := s2.List(); err != nil || len(list) != 1 || list[0].SHA256 != m.SHA256 {
					t.Fatalf("List without a manifest: %v %+v", err, list)
				}
			})
		}
	}
}

func TestUploadRefused(t *testing.T) {
	id, all := files(t)
	p0 := all[role.TwoPC][0]
	p1 := all[role.TwoPC][1]
	corrupt := slices.Clone(p0)
	corrupt[len(corrupt)/2] ^= 1
	cases := []struct {
		name string
		hdr  *partypb.ShareHeader
		data []byte
		want string
	}{
		{"no header", nil, p0, "first message must be the share header"},
		{"bad model id", header("../etc", role.TwoPC, role.P0, p0), p0, "model id"},
		{"other role", header(id, role.TwoPC, role.P1, p0), p0, `belongs to "p1"`},
		{"other protocol", header(id, role.ThreePC, role.P0, p0), p0, "for protocol 3pc"},
		{"file name", func() *partypb.ShareHeader { h := header(id, role.TwoPC, role.P0, p0); h.FileName = "../x"; return h }(), p0, "file name"},
		{"empty", header(id, role.TwoPC, role.P0, nil), nil, "file size 0"},
		{"short checksum", func() *partypb.ShareHeader {
			h := header(id, role.TwoPC, role.P0, p0)
			h.Sha256 = h.Sha256[:5]
			return h
		}(), p0, "SHA-256 has 5 bytes"},
		{"corrupted in transit", header(id, role.TwoPC, role.P0, p0), corrupt, "SHA-256 mismatch"},
		{"truncated upload", header(id, role.TwoPC, role.P0, p0), p0[:len(p0)-10], "ended after"},
		{"corrupt file", header(id, role.TwoPC, role.P0, corrupt), corrupt, "corrupt (checksum mismatch)"},
		{"another party's file", header(id, role.TwoPC, role.P0, p1), p1, "belongs to party 1"},
		{"another model", header("0123456789abcdef", role.TwoPC, role.P0, p0), p0, "want model 0123456789abcdef"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := Open(t.TempDir(), role.TwoPC, role.P0, quiet)
			if err != nil {
				t.Fatal(err)
			}
			_, err = upload(s, c.hdr, c.data)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error about %q", err, c.want)
			}
			if list, _ := s.List(); len(list) != 0 {
				t.Fatalf("a refused upload is listed: %+v", list)
			}
			ents, _ := os.ReadDir(filepath.Join(s.Dir(), c.hdr.GetModelId()))
			for _, e := range ents {
				t.Errorf("a refused upload left %s behind", e.Name())
			}
		})
	}
}

func TestAssemblerOrder(t *testing.T) {
	data := []byte("0123456789")
	sum := sha256.Sum256(data)
	hdr := &partypb.ShareHeader{Size: 10, Sha256: sum[:]}
	msg := func(off int, d string) *partypb.UploadRequest {
		return &partypb.UploadRequest{Part: &partypb.UploadRequest_Data{Data: &partypb.ShareData{Offset: uint64(off), Data: []byte(d)}}}
	}
	cases := []struct {
		name string
		msgs []*partypb.UploadRequest
		want string
	}{
		{"in order", []*partypb.UploadRequest{msg(0, "0123"), msg(4, "456789")}, ""},
		{"gap", []*partypb.UploadRequest{msg(0, "0123"), msg(5, "56789")}, "expected 4"},
		{"overlap", []*partypb.UploadRequest{msg(0, "0123"), msg(3, "3456789")}, "expected 4"},
		{"overrun", []*partypb.UploadRequest{msg(0, "0123456789X")}, "overruns"},
		{"second header", []*partypb.UploadRequest{{Part: &partypb.UploadRequest_Header{Header: hdr}}}, "second header"},
		{"empty", []*partypb.UploadRequest{{}}, "neither header nor data"},
		{"empty chunk", []*partypb.UploadRequest{msg(0, "")}, "empty chunk"},
	}
	for _, c := range cases {
		var out bytes.Buffer
		a := NewAssembler(hdr, &out)
		var err error
		for _, m := range c.msgs {
			if err = a.Add(m); err != nil {
				break
			}
		}
		if err == nil {
			_, err = a.Finish()
		}
		switch {
		case c.want == "" && (err != nil || out.String() != string(data)):
			t.Errorf("%s: %v, data %q", c.name, err, out.String())
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: got %v, want an error about %q", c.name, err, c.want)
		}
	}
}

func TestValidModelID(t *testing.T) {
	for id, ok := range map[string]bool{
		"513db9f00f32a0cebee9152c7d40cc9c": true, "my-model_v1.2": true, "": false, ".hidden": false,
		"a/b": false, "..": false, "UPPER": false, strings.Repeat("a", 65): false,
	} {
		if err := ValidModelID(id); (err == nil) != ok {
			t.Errorf("ValidModelID(%q) = %v", id, err)
		}
	}
}
