package wire

import (
	"bytes"
	"crypto/sha256"
	"slices"
	"strings"
	"testing"

	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/proto/partypb"
)

func TestShareRoundTrip(t *testing.T) {
	cases := []struct {
		proto mpc.Protocol
		party int
		width int
	}{
		{mpc.TwoPC, 0, 1}, {mpc.TwoPC, 1, 1}, {mpc.TwoPC, 2, 0},
		{mpc.ThreePC, 0, 2}, {mpc.ThreePC, 1, 2}, {mpc.ThreePC, 2, 2},
	}
	shape := []int{3, 5}
	for _, c := range cases {
		s := &mpc.Share{Shape: shape}
		if c.width > 0 {
			s.Own = make([]uint64, 15)
			for i := range s.Own {
				s.Own[i] = uint64(i) * 0x9e3779b97f4a7c15
			}
		}
		if c.width > 1 {
			s.Next = make([]uint64, 15)
			for i := range s.Next {
				s.Next[i] = ^uint64(i)
			}
		}
		b := EncodeShare(s)
		if len(b) != ShareSize(c.proto, c.party, shape) || Width(c.proto, c.party) != c.width {
			t.Fatalf("%s party %d: %d bytes, ShareSize %d, width %d", c.proto, c.party, len(b), ShareSize(c.proto, c.party, shape), Width(c.proto, c.party))
		}
		got, err := DecodeShare(b, c.proto, c.party, shape)
		if err != nil {
			t.Fatalf("%s party %d: %v", c.proto, c.party, err)
		}
		if !slices.Equal(got.Own, s.Own) || !slices.Equal(got.Next, s.Next) || !slices.Equal(got.Shape, shape) {
			t.Fatalf("%s party %d: round trip changed the share", c.proto, c.party)
		}
		if _, err := DecodeShare(append(b, 0), c.proto, c.party, shape); err == nil {
			t.Fatalf("%s party %d: a share one byte too long was accepted", c.proto, c.party)
		}
	}
	if _, err := DecodeShare(nil, "4pc", 0, shape); err == nil {
		t.Fatal("an unknown protocol was accepted")
	}
}

func TestInputAssembler(t *testing.T) {
	id := bytes.Repeat([]byte{7}, 16)
	data := make([]byte, 1000)
	for i := range data {
		data[i] = byte(i * 31)
	}
	for _, chunk := range []int{1, 7, 999, 1000, 4096} {
		a := NewInputAssembler(id, len(data))
		chunks := InputChunks(id, data, chunk)
		for i, c := range chunks {
			done, err := a.Add(c)
			if err != nil {
				t.Fatalf("chunk size %d: chunk %d: %v", chunk, i, err)
			}
			if done != (i == len(chunks)-1) {
				t.Fatalf("chunk size %d: chunk %d: done %v", chunk, i, done)
			}
		}
		if !bytes.Equal(a.Bytes(), data) {
			t.Fatalf("chunk size %d: reassembled data differs", chunk)
		}
		a.Wipe()
		if a.Received() != 0 {
			t.Fatal("Wipe kept data")
		}
	}
	sum := sha256.Sum256(data)
	good := func() []*partypb.InputChunk { return InputChunks(id, data, 400) } // 3 chunks
	bad := []struct {
		name   string
		chunks func() []*partypb.InputChunk
		want   string
	}{
		{"other session", func() []*partypb.InputChunk { c := good(); c[1].SessionId = []byte("x"); return c }, "session"},
		{"wrong total", func() []*partypb.InputChunk { c := good(); c[0].TotalSize = 999; return c }, "999 bytes"},
		{"out of order", func() []*partypb.InputChunk { c := good(); c[1], c[2] = c[2], c[1]; return c }, "in order"},
		{"overrun", func() []*partypb.InputChunk {
			c := good()
			c[2].Data = append(slices.Clone(c[2].Data), 1)
			return c
		}, "overruns"},
		{"corrupt", func() []*partypb.InputChunk {
			c := good()
			c[1].Data = slices.Clone(c[1].Data)
			c[1].Data[0] ^= 1
			return c
		}, "SHA-256 mismatch"},
		{"no checksum", func() []*partypb.InputChunk { c := good(); c[2].Sha256 = nil; return c }, "no SHA-256"},
		{"early checksum", func() []*partypb.InputChunk { c := good(); c[0].Sha256 = sum[:]; return c }, "before the end"},
		{"extra chunk", func() []*partypb.InputChunk { c := good(); return append(c, c[2]) }, "after the share was complete"},
		{"empty chunk", func() []*partypb.InputChunk {
			c := good()
			return append([]*partypb.InputChunk{{SessionId: id, TotalSize: 1000}}, c...)
		}, "empty chunk"},
		{"nil", func() []*partypb.InputChunk { return []*partypb.InputChunk{nil} }, "empty message"},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			a := NewInputAssembler(id, len(data))
			var err error
			for _, c := range b.chunks() {
				if _, err = a.Add(c); err != nil {
					break
				}
			}
			if err == nil || !strings.Contains(err.Error(), b.want) {
				t.Fatalf("got %v, want an error about %q", err, b.want)
			}
		})
	}
	big := NewInputAssembler(id, 2*MaxChunk)
	if _, err := big.Add(&partypb.InputChunk{SessionId: id, TotalSize: 2 * MaxChunk, Data: make([]byte, MaxChunk+1)}); err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Fatalf("an oversized chunk: %v", err)
	}
}

func TestParams(t *testing.T) {
	p := Params{Version: Version, Protocol: "3pc", ModelID: "abc", Frac: 16, Policy: "full",
		PolicyParams: map[string]string{"keep": "8"}, PromptLen: 5, MaxNewTokens: 7}
	got, err := DecodeParams(p.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if d := p.Diff(got); d != "" {
		t.Fatalf("round trip differs: %s", d)
	}
	q := p
	q.MaxNewTokens, q.ModelID, q.PolicyParams = 8, "abd", map[string]string{"keep": "9"}
	d := p.Diff(q)
	for _, want := range []string{"model: abc vs abd", "new tokens: 7 vs 8", "policy parameters: {keep=8} vs {keep=9}"} {
		if !strings.Contains(d, want) {
			t.Errorf("Diff %q lacks %q", d, want)
		}
	}
	// Greedy sessions encode as before the sampling fields existed; sampling ones carry them.
	if b := string(p.Encode()); strings.Contains(b, "temperature") || strings.Contains(b, "top_p") {
		t.Errorf("greedy parameters encode sampling fields: %s", b)
	}
	smp := p
	smp.Temperature, smp.TopP = 0.8, 0.9
	if got, err := DecodeParams(smp.Encode()); err != nil || got.Temperature != 0.8 || got.TopP != 0.9 {
		t.Errorf("sampling parameters round trip to %+v, %v", got, err)
	}
	if d, want := p.Diff(smp), "sampling: greedy vs top-p 0.9 at temperature 0.8"; !strings.Contains(d, want) {
		t.Errorf("Diff %q lacks %q", d, want)
	}
	// The default planned network encodes as before the field existed; "wan" spelled out is
	// the same network.
	if b := string(p.Encode()); strings.Contains(b, "network") {
		t.Errorf("default parameters encode the network: %s", b)
	}
	lan, wan := p, p
	lan.Network, wan.Network = "lan", "wan"
	if d, want := p.Diff(lan), "planned network: wan vs lan"; !strings.Contains(d, want) {
		t.Errorf("Diff %q lacks %q", d, want)
	}
	if d := p.Diff(wan); d != "" {
		t.Errorf("the default and \"wan\" differ: %s", d)
	}
	bad := []struct {
		name, in, want string
	}{
		{"unknown field", `{"version":"mpcache-session/1","x":1}`, "unknown field"},
		{"other version", `{"version":"mpcache-session/0"}`, "speaks"},
		{"trailing", `{"version":"mpcache-session/1"} {}`, "trailing"},
		{"not json", `hello`, "invalid"},
		{"too large", `"` + strings.Repeat("a", MaxParams) + `"`, "exceed"},
	}
	for _, b := range bad {
		if _, err := DecodeParams([]byte(b.in)); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%s: got %v, want an error about %q", b.name, err, b.want)
		}
	}
}
