// Package store keeps a party's model shares on disk: it receives share files uploaded by the
// model owner (checking order, size, checksum, model, role and protocol before a file is
// accepted), lists them, and loads them for sessions, keeping each model's shares in memory once
// loaded.
//
// # Layout
//
// A party's share directory holds one subdirectory per model, named by the model id (the digest
// infer.ShareModel gives a model), and in it the party's share file and a small manifest:
//
//	<share_dir>/<model id>/<protocol>.<role>.shares       the share file (infer's format)
//	<share_dir>/<model id>/<protocol>.<role>.shares.json  its Manifest (size, SHA-256, when)
//
// `client provision --out DIR` writes the same layout under DIR/<role>/, so files moved by other
// means (offline transfer) are copied into share_dir as they are. A share file without a manifest
// is verified in full and gets one the first time the party lists or loads it.
package store

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/privinfer/mpcache/infer"
	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/parties/role"
)

// DefaultMaxSize bounds an uploaded share file unless Options.MaxSize says otherwise.
const DefaultMaxSize int64 = 64 << 30

// FileName is the name of role's share file in a deployment of protocol p.
func FileName(p role.Protocol, r role.Role) string { return string(p) + "." + string(r) + ".shares" }

// ManifestName is the name of the manifest of a share file.
func ManifestName(file string) string { return file + ".json" }

// ValidModelID checks that id can name a model directory: 1 to 64 characters of a-z, 0-9, '-',
// '_' and '.', not starting with '.'.
func ValidModelID(id string) error {
	if id == "" || len(id) > 64 {
		return fmt.Errorf("model id %q must have 1 to 64 characters", id)
	}
	for i, c := range id {
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || (c == '.' && i > 0)
		if !ok {
			return fmt.Errorf("model id %q may hold only a-z, 0-9, '-', '_' and '.'", id)
		}
	}
	return nil
}

// Manifest describes one stored share file.
type Manifest struct {
	ModelID  string    `json:"model_id"`
	Role     string    `json:"role"`
	Protocol string    `json:"protocol"`
	FileName string    `json:"file_name"`
	Size     int64     `json:"size"`
	SHA256   string    `json:"sha256"` // hex
	Stored   time.Time `json:"stored"`
}

// WriteManifest writes m next to the share file it describes, in dir.
func WriteManifest(dir string, m Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, ManifestName(m.FileName)), append(b, '\n'))
}

func readManifest(path string) (Manifest, error) {
	var m Manifest
	b, err := os.ReadFile(path)
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("store: manifest %s: %w", path, err)
	}
	return m, nil
}

// Options configures a Store.
type Options struct {
	// MaxSize bounds an uploaded share file (default DefaultMaxSize).
	MaxSize int64
	// Logger receives the store's logs; nil means slog.Default().
	Logger *slog.Logger
}

// Store is one party's share directory.
type Store struct {
	dir   string
	proto role.Protocol
	role  role.Role
	party int
	max   int64
	log   *slog.Logger

	mu     sync.Mutex
	loaded map[string]*entry
}

type entry struct {
	ready  chan struct{}
	shares *infer.ModelShares
	err    error
}

// Open opens (creating it if needed, mode 0700) the share directory dir of party r in a
// deployment of protocol p.
func Open(dir string, p role.Protocol, r role.Role, o Options) (*Store, error) {
	party, err := p.Party(r)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: share directory: %w", err)
	}
	if o.MaxSize <= 0 {
		o.MaxSize = DefaultMaxSize
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Store{dir: dir, proto: p, role: r, party: party, max: o.MaxSize, log: o.Logger, loaded: map[string]*entry{}}, nil
}

// Dir is the share directory.
func (s *Store) Dir() string { return s.dir }

// Path is where the share file of model id lives.
func (s *Store) Path(id string) string { return filepath.Join(s.dir, id, FileName(s.proto, s.role)) }

// ErrUnknownModel is returned (wrapped) by Load for a model this party holds no shares of.
var ErrUnknownModel = errors.New("unknown model")

// Load returns this party's shares of model id, reading and verifying the share file on first
// use and keeping the result for later sessions. Concurrent calls for one model share one read.
func (s *Store) Load(id string) (*infer.ModelShares, error) {
	if err := ValidModelID(id); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	s.mu.Lock()
	e, ok := s.loaded[id]
	if !ok {
		e = &entry{ready: make(chan struct{})}
		s.loaded[id] = e
		s.mu.Unlock()
		e.shares, e.err = s.read(id)
		close(e.ready)
		if e.err != nil {
			s.mu.Lock()
			if s.loaded[id] == e {
				delete(s.loaded, id) // a fixed or newly uploaded file is read again
			}
			s.mu.Unlock()
		}
		return e.shares, e.err
	}
	s.mu.Unlock()
	<-e.ready
	return e.shares, e.err
}

func (s *Store) read(id string) (*infer.ModelShares, error) {
	path := s.Path(id)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		have, _ := s.List()
		ids := make([]string, len(have))
		for i, m := range have {
			ids[i] = m.ModelID
		}
		return nil, fmt.Errorf("store: %w %s: %s holds no shares of it (it holds: %v; provision the model with `client provision`)", ErrUnknownModel, id, s.role, ids)
	}
	if err != nil {
		return nil, fmt.Errorf("store: model %s: %w", id, err)
	}
	defer f.Close()
	start := time.Now()
	w, err := infer.LoadShares(f, infer.Expect{Protocol: mpc.Protocol(s.proto), Party: s.party, CheckParty: true, ModelID: id})
	if err != nil {
		return nil, fmt.Errorf("store: model %s: share file %s: %w", id, path, err)
	}
	s.log.Info("store: loaded model shares", "model", id, "file", path, "seconds", time.Since(start).Seconds())
	return w, nil
}

// List returns the manifests of the share files this party holds, sorted by model id. A share
// file found without a manifest is verified and gets one; a file that fails verification is
// logged and left out.
func (s *Store) List() ([]Manifest, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	var out []Manifest
	for _, d := range ents {
		if !d.IsDir() || ValidModelID(d.Name()) != nil {
			continue
		}
		dir := filepath.Join(s.dir, d.Name())
		name := FileName(s.proto, s.role)
		m, err := readManifest(filepath.Join(dir, ManifestName(name)))
		if errors.Is(err, os.ErrNotExist) {
			if m, err = s.describe(d.Name()); err != nil {
				if !errors.Is(err, os.ErrNotExist) {
					s.log.Warn("store: skipping a share file that does not verify", "model", d.Name(), "err", err)
				}
				continue
			}
		} else if err != nil {
			s.log.Warn("store: skipping a model with an unreadable manifest", "model", d.Name(), "err", err)
			continue
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ModelID < out[j].ModelID })
	return out, nil
}

// describe verifies a share file that has no manifest and writes one.
func (s *Store) describe(id string) (Manifest, error) {
	path := s.Path(id)
	f, err := os.Open(path)
	if err != nil {
		return Manifest{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return Manifest{}, err
	}
	if _, err := s.Load(id); err != nil {
		return Manifest{}, err
	}
	m := Manifest{ModelID: id, Role: string(s.role), Protocol: string(s.proto), FileName: FileName(s.proto, s.role),
		Size: n, SHA256: hex.EncodeToString(h.Sum(nil)), Stored: time.Now().UTC()}
	if err := WriteManifest(filepath.Dir(path), m); err != nil {
		s.log.Warn("store: could not write a manifest", "model", id, "err", err)
	}
	return m, nil
}

// forget drops model id's loaded shares (after a new upload replaced its file).
func (s *Store) forget(id string) {
	s.mu.Lock()
	delete(s.loaded, id)
	s.mu.Unlock()
}

// writeAtomic writes data to path through a temporary file and a rename.
func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o600)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("store: writing %s: %w", path, err)
	}
	return nil
}

// verify reads an uploaded share file in full with infer's checks: format, checksum, and that it
// is this party's share of model id under this protocol.
func (s *Store) verify(r io.Reader, id string) error {
	_, err := infer.LoadShares(r, infer.Expect{Protocol: mpc.Protocol(s.proto), Party: s.party, CheckParty: true, ModelID: id})
	if err != nil {
		return fmt.Errorf("store: upload of model %s for %s refused: %w", id, s.role, err)
	}
	return nil
}
