package wire

import (
	"encoding/binary"
	"testing"

	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/proto/partypb"
)

// FuzzDecodeShare: any bytes, for any small shape and party, decode or fail; never panic, and a
// decoded share re-encodes to the same bytes.
func FuzzDecodeShare(f *testing.F) {
	f.Add([]byte{}, uint8(1), uint8(1), uint8(0), true)
	f.Add(make([]byte, 16), uint8(1), uint8(2), uint8(1), false)
	f.Add(make([]byte, 48), uint8(3), uint8(1), uint8(2), true)
	f.Fuzz(func(t *testing.T, data []byte, rows, cols, party uint8, three bool) {
		p := mpc.TwoPC
		if three {
			p = mpc.ThreePC
		}
		shape := []int{int(rows % 8), int(cols % 8)}
		s, err := DecodeShare(data, p, int(party%3), shape)
		if err != nil {
			return
		}
		if got := EncodeShare(s); string(got) != string(data) {
			t.Fatalf("re-encoding changed the share")
		}
	})
}

// FuzzInputAssembler feeds the assembler a sequence of chunks carved from the fuzz input: it must
// accept only the exact share with its checksum, and never panic.
func FuzzInputAssembler(f *testing.F) {
	id := make([]byte, 16)
	f.Add([]byte{}, uint16(0))
	f.Add([]byte("0123456789abcdef0123456789"), uint16(26))
	f.Fuzz(func(t *testing.T, data []byte, size uint16) {
		a := NewInputAssembler(id, int(size))
		// Each chunk: offset (2 bytes), total (2), length (1), flags (1: session ok, checksum), data.
		for len(data) >= 6 {
			off := binary.LittleEndian.Uint16(data)
			total := binary.LittleEndian.Uint16(data[2:])
			n := int(data[4])
			flags := data[5]
			data = data[6:]
			n = min(n, len(data))
			c := &partypb.InputChunk{Offset: uint64(off), TotalSize: uint64(total), Data: data[:n]}
			data = data[n:]
			if flags&1 != 0 {
				c.SessionId = id
			}
			if flags&2 != 0 {
				c.Sha256 = make([]byte, 32)
			}
			done, err := a.Add(c)
			if err != nil {
				return
			}
			if done && a.Received() != int(size) {
				t.Fatalf("complete after %d of %d bytes", a.Received(), size)
			}
		}
	})
}

// FuzzDecodeParams: arbitrary bytes from a peer decode or fail, never panic.
func FuzzDecodeParams(f *testing.F) {
	f.Add(Params{Version: Version, Protocol: "2pc", ModelID: "m", Frac: 16, Policy: "full", PromptLen: 3, MaxNewTokens: 4}.Encode())
	f.Add([]byte(`{"version":"mpcache-session/1","policy_params":{"a":"b"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := DecodeParams(data)
		if err == nil && p.Diff(p) != "" {
			t.Fatal("a decoded Params differs from itself")
		}
	})
}
