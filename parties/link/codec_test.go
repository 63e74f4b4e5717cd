package link

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/privinfer/mpcache/proto/linkpb"
)

func TestCodecRoundTrip(t *testing.T) {
	tests := []*linkpb.Frame{
		{Kind: linkpb.Kind_KIND_OPEN, Session: testID[:], From: 2, To: 1, Protocol: "2pc"},
		{Kind: linkpb.Kind_KIND_DATA, Session: testID[:], From: 1, Label: "layer0/attn", Seq: 7, Size: 1 << 20, Offset: 4096, Payload: bytes.Repeat([]byte{0xab}, 1000)},
		{Kind: linkpb.Kind_KIND_DATA, Session: testID[:], Seq: 1},
		{},
	}
	for i, want := range tests {
		bs, err := frameCodec{}.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		wire := bs.Materialize()
		// The wire format is protobuf: the standard decoder agrees.
		std := new(linkpb.Frame)
		if err := proto.Unmarshal(wire, std); err != nil || !proto.Equal(std, want) {
			t.Fatalf("frame %d: proto.Unmarshal = %v, %v", i, std, err)
		}
		got := new(linkpb.Frame)
		if err := (frameCodec{}).Unmarshal(bs, got); err != nil || !proto.Equal(got, want) {
			t.Fatalf("frame %d: decoded %v, %v; want %v", i, got, err, want)
		}
	}
	if _, err := (frameCodec{}).Marshal("x"); err == nil {
		t.Fatal("marshalled a string")
	}
}

// FuzzDecodeFrame checks the hand-written frame decoder, which parses bytes from the network,
// against the standard protobuf decoder: both accept the same inputs and agree on the result.
func FuzzDecodeFrame(f *testing.F) {
	for _, fr := range []*linkpb.Frame{
		{Kind: linkpb.Kind_KIND_OPEN, Session: testID[:], From: 2, To: 1, Protocol: "2pc"},
		{Kind: linkpb.Kind_KIND_DATA, Session: testID[:], From: 1, Label: "l", Seq: 7, Size: 9, Offset: 4, Payload: []byte("hello")},
	} {
		b, _ := proto.Marshal(fr)
		f.Add(b)
	}
	f.Add([]byte{0x4a, 0x80})             // truncated length
	f.Add([]byte{0x2a, 0x01, 0xff})       // invalid UTF-8 label
	f.Add([]byte{0x58, 0x01, 0x08, 0x02}) // unknown field 11
	f.Fuzz(func(t *testing.T, b []byte) {
		got := new(linkpb.Frame)
		err := decodeFrame(b, got)
		want := new(linkpb.Frame)
		stdErr := proto.Unmarshal(b, want)
		if (err == nil) != (stdErr == nil) {
			t.Fatalf("decodeFrame error %v, proto.Unmarshal error %v", err, stdErr)
		}
		if err != nil {
			return
		}
		// Unknown fields are dropped by decodeFrame; compare the known ones.
		want.ProtoReflect().SetUnknown(nil)
		if !proto.Equal(got, want) {
			t.Fatalf("decodeFrame = %v, proto.Unmarshal = %v", got, want)
		}
	})
}
