package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"testing"

	"github.com/privinfer/mpcache/proto/partypb"
)

// FuzzAssembler reassembles uploads from message sequences carved out of the fuzz input: it must
// refuse or accept without panicking, and accept only data that matches the header exactly.
func FuzzAssembler(f *testing.F) {
	f.Add([]byte("hello world"), uint16(11), []byte{0, 0, 5, 0, 5, 6})
	f.Add([]byte{}, uint16(0), []byte{})
	f.Fuzz(func(t *testing.T, payload []byte, size uint16, plan []byte) {
		want := sha256.Sum256(payload)
		hdr := &partypb.ShareHeader{Size: uint64(size), Sha256: want[:]}
		var out bytes.Buffer
		a := NewAssembler(hdr, &out)
		// plan: triples of (offset uint16, length uint8) select slices of payload.
		for len(plan) >= 3 {
			off := int(binary.LittleEndian.Uint16(plan))
			n := int(plan[2])
			plan = plan[3:]
			lo := min(off, len(payload))
			hi := min(lo+n, len(payload))
			if err := a.Add(&partypb.UploadRequest{Part: &partypb.UploadRequest_Data{Data: &partypb.ShareData{Offset: uint64(off), Data: payload[lo:hi]}}}); err != nil {
				return
			}
		}
		if _, err := a.Finish(); err == nil && !bytes.Equal(out.Bytes(), payload) {
			t.Fatalf("accepted %q for a header of %q", out.Bytes(), payload)
		}
	})
}
