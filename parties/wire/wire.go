// Package wire holds the byte encodings that travel between the client and the parties, and
// between the parties before a session's engine starts: a party's share of a tensor (the
// client's input share, the parties' token shares), the reassembly of an input share sent in
// chunks, and the public parameters the parties compare before they compute.
//
// A share is its ring elements as little-endian uint64s: in 2pc the party's additive share
// (8 bytes an element); in 3pc the replicated pair, every Own element first and then every Next
// element (16 bytes an element). The 2pc dealer holds no share of data (0 bytes).
//
// Every decoder here reads bytes from the network: it checks lengths before allocating, and
// returns an error rather than panicking on any input (see the fuzz tests).
package wire

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"slices"
	"sort"
	"strings"

	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/proto/partypb"
)

// Width is the number of ring elements a party of protocol p holds per element of a shared
// tensor: 1 in 2pc, 2 in 3pc, 0 for the 2pc dealer (party 2).
func Width(p mpc.Protocol, party int) int {
	switch {
	case p == mpc.TwoPC && party == mpc.Dealer:
		return 0
	case p == mpc.TwoPC:
		return 1
	case p == mpc.ThreePC:
		return 2
	}
	return 0
}

// ShareSize is the length in bytes of party's encoded share of a tensor of shape.
func ShareSize(p mpc.Protocol, party int, shape []int) int {
	return 8 * Width(p, party) * mpc.Numel(shape)
}

// EncodeShare encodes s: its Own elements, then its Next elements when it has them.
func EncodeShare(s *mpc.Share) []byte {
	out := make([]byte, 0, 8*(len(s.Own)+len(s.Next)))
	for _, part := range [][]uint64{s.Own, s.Next} {
		for _, v := range part {
			out = binary.LittleEndian.AppendUint64(out, v)
		}
	}
	return out
}

// DecodeShare decodes party's share of a tensor of shape under protocol p, as EncodeShare
// wrote it. The length must be exactly ShareSize.
func DecodeShare(b []byte, p mpc.Protocol, party int, shape []int) (*mpc.Share, error) {
	n := mpc.Numel(shape)
	for _, d := range shape {
		if d <= 0 {
			return nil, fmt.Errorf("wire: share of shape %v: dimensions must be positive", shape)
		}
	}
	w := Width(p, party)
	if p != mpc.TwoPC && p != mpc.ThreePC {
		return nil, fmt.Errorf("wire: unknown protocol %q", p)
	}
	if len(b) != 8*w*n {
		return nil, fmt.Errorf("wire: %s share of party %d of shape %v must have %d bytes, got %d", p, party, shape, 8*w*n, len(b))
	}
	var own, next []uint64
	if w > 0 {
		own = words(b[:8*n])
	}
	if w > 1 {
		next = words(b[8*n:])
	}
	s, err := mpc.NewShare(shape, own, next)
	if err != nil {
		return nil, fmt.Errorf("wire: %w", err)
	}
	return s, nil
}

func words(b []byte) []uint64 {
	out := make([]uint64, len(b)/8)
	for i := range out {
		out[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	return out
}

// DefaultChunk is the data size of one InputChunk the client sends.
const DefaultChunk = 1 << 20

// MaxChunk is the largest InputChunk data a party accepts.
const MaxChunk = 4 << 20

// InputChunks cuts an encoded input share into the chunks of a SubmitInput call, the last one
// carrying the SHA-256 of the whole share. chunk ≤ 0 means DefaultChunk.
func InputChunks(session []byte, data []byte, chunk int) []*partypb.InputChunk {
	if chunk <= 0 {
		chunk = DefaultChunk
	}
	sum := sha256.Sum256(data)
	var out []*partypb.InputChunk
	for off := 0; ; off += chunk {
		end := min(off+chunk, len(data))
		c := &partypb.InputChunk{SessionId: session, Offset: uint64(off), TotalSize: uint64(len(data)), Data: data[off:end]}
		out = append(out, c)
		if end == len(data) {
			c.Sha256 = sum[:]
			return out
		}
	}
}

// InputAssembler reassembles an input share from the chunks of one SubmitInput call: chunks
// must come in order, name the session, repeat the expected total size, and the last must carry
// the share's SHA-256.
type InputAssembler struct {
	session []byte
	size    uint64
	buf     []byte
	h       hash.Hash
	done    bool
}

// NewInputAssembler expects size bytes for session.
func NewInputAssembler(session []byte, size int) *InputAssembler {
	return &InputAssembler{session: slices.Clone(session), size: uint64(size), buf: make([]byte, 0, size), h: sha256.New()}
}

// Add takes the next chunk and reports whether the share is complete.
func (a *InputAssembler) Add(c *partypb.InputChunk) (bool, error) {
	got := uint64(len(a.buf))
	switch {
	case c == nil:
		return false, errors.New("wire: input: empty message")
	case a.done:
		return false, errors.New("wire: input: a chunk arrived after the share was complete")
	case !bytes.Equal(c.SessionId, a.session):
		return false, fmt.Errorf("wire: input: chunk for session %x in the upload for session %x", c.SessionId, a.session)
	case c.TotalSize != a.size:
		return false, fmt.Errorf("wire: input: the share has %d bytes, but this session's input has %d (prompt length × vocabulary × share width)", c.TotalSize, a.size)
	case c.Offset != got:
		return false, fmt.Errorf("wire: input: chunk at offset %d, expected %d (chunks must come in order)", c.Offset, got)
	case len(c.Data) > MaxChunk:
		return false, fmt.Errorf("wire: input: chunk of %d bytes exceeds %d", len(c.Data), MaxChunk)
	case uint64(len(c.Data)) > a.size-got:
		return false, fmt.Errorf("wire: input: chunk of %d bytes at offset %d overruns the share's %d bytes", len(c.Data), got, a.size)
	}
	a.buf = append(a.buf, c.Data...)
	a.h.Write(c.Data)
	if uint64(len(a.buf)) < a.size {
		if len(c.Sha256) > 0 {
			return false, fmt.Errorf("wire: input: checksum sent at offset %d, before the end of the share", len(a.buf))
		}
		if len(c.Data) == 0 {
			return false, errors.New("wire: input: empty chunk before the end of the share")
		}
		return false, nil
	}
	if len(c.Sha256) == 0 {
		return false, errors.New("wire: input: the last chunk carries no SHA-256")
	}
	if !bytes.Equal(c.Sha256, a.h.Sum(nil)) {
		return false, errors.New("wire: input: SHA-256 mismatch: the share was corrupted in transit")
	}
	a.done = true
	return true, nil
}

// Bytes returns the share received so far (the whole share once Add reported completion).
func (a *InputAssembler) Bytes() []byte { return a.buf }

// Received is the number of bytes received so far.
func (a *InputAssembler) Received() int { return len(a.buf) }

// Wipe overwrites the received bytes, so that the share does not linger in memory.
func (a *InputAssembler) Wipe() {
	clear(a.buf[:cap(a.buf)])
	a.buf = a.buf[:0]
}

// PreprocessingHeader is the gRPC metadata key in which a client's OpenSession names the
// preprocessing of its deployment ("dealer-free"; absent or "dealer" for a dealer), so that a
// party configured otherwise refuses the session with the difference named (the protobuf
// request predates the setting).
const PreprocessingHeader = "mpcache-preprocessing"

// Version names the session set-up the parties speak; it changes with the session protocol.
const Version = "mpcache-session/1"

// Params are the public parameters of one session. Before their engines start, the parties of
// a session send each other their Params and refuse to compute when they differ, so a client
// (or an operator) that configured the parties differently gets an error naming the difference
// instead of garbage.
type Params struct {
	Version  string `json:"version"`
	Protocol string `json:"protocol"`
	// Preprocessing is "dealer-free" in a dealer-free 2pc session (empty with a dealer), and
	// Precompute whether its material is produced ahead (both parties must do the same).
	Preprocessing string `json:"preprocessing,omitempty"`
	Precompute    bool   `json:"precompute,omitempty"`
	ModelID       string `json:"model_id"`
	Frac          uint   `json:"frac"`
	Comparison    string `json:"comparison"`
	// Network is the network the protocols plan for (mpc.Network's name); empty for the
	// default, the WAN.
	Network      string            `json:"network,omitempty"`
	Policy       string            `json:"policy"`
	PolicyParams map[string]string `json:"policy_params,omitempty"`
	PromptLen    int               `json:"prompt_len"`
	MaxNewTokens int               `json:"max_new_tokens"`
	// Temperature and TopP are the top-p sampling parameters; both zero (and absent from the
	// encoding, as before the fields existed) for greedy decoding.
	Temperature float64 `json:"temperature,omitempty"`
	TopP        float64 `json:"top_p,omitempty"`
}

// MaxParams bounds an encoded Params.
const MaxParams = 64 << 10

// Encode returns p as JSON.
func (p Params) Encode() []byte {
	b, _ := json.Marshal(p) // maps and strings always marshal
	return b
}

// DecodeParams decodes Params sent by a peer.
func DecodeParams(b []byte) (Params, error) {
	var p Params
	if len(b) > MaxParams {
		return p, fmt.Errorf("wire: session parameters of %d bytes exceed %d", len(b), MaxParams)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, fmt.Errorf("wire: session parameters: %w", err)
	}
	if dec.More() {
		return p, errors.New("wire: session parameters: trailing data")
	}
	if p.Version != Version {
		return p, fmt.Errorf("wire: the peer speaks %q, this party %q", p.Version, Version)
	}
	return p, nil
}

// Diff lists the fields in which p and q differ, as "name: a vs b", or "" when they agree.
func (p Params) Diff(q Params) string {
	var d []string
	add := func(name string, a, b any) {
		if fmt.Sprint(a) != fmt.Sprint(b) {
			d = append(d, fmt.Sprintf("%s: %v vs %v", name, a, b))
		}
	}
	add("version", p.Version, q.Version)
	add("protocol", p.Protocol, q.Protocol)
	add("preprocessing", orDealer(p.Preprocessing), orDealer(q.Preprocessing))
	add("precompute", p.Precompute, q.Precompute)
	add("model", p.ModelID, q.ModelID)
	add("fractional bits", p.Frac, q.Frac)
	add("comparison", p.Comparison, q.Comparison)
	add("planned network", orWAN(p.Network), orWAN(q.Network))
	add("policy", p.Policy, q.Policy)
	add("policy parameters", sortedMap(p.PolicyParams), sortedMap(q.PolicyParams))
	add("prompt length", p.PromptLen, q.PromptLen)
	add("new tokens", p.MaxNewTokens, q.MaxNewTokens)
	add("sampling", samplingName(p.Temperature, p.TopP), samplingName(q.Temperature, q.TopP))
	return strings.Join(d, "; ")
}

// samplingName describes the sampling parameters for Diff.
func samplingName(temperature, topP float64) string {
	if temperature == 0 && topP == 0 {
		return "greedy"
	}
	return fmt.Sprintf("top-p %v at temperature %v", topP, temperature)
}

func orDealer(s string) string {
	if s == "" {
		return "dealer"
	}
	return s
}

func sortedMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%s", k, m[k])
	}
	return "{" + b.String() + "}"
}

// orWAN names the default planned network.
func orWAN(network string) string {
	if network == "" {
		return "wan"
	}
	return network
}
