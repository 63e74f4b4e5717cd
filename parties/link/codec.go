package link

import (
	"fmt"
	"unicode/utf8"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/privinfer/mpcache/proto/linkpb"
)

// codecName is the gRPC content subtype of Link streams opened by this package
// ("application/grpc+mpclink"). The bytes on the wire are the protobuf encoding of linkpb.Frame,
// so any protobuf client can still talk to the service; the codec only avoids copying payloads:
// Marshal hands the payload to gRPC as it is, and Unmarshal leaves Payload pointing into the one
// buffer the received message is gathered into.
const codecName = "mpclink"

func init() { encoding.RegisterCodecV2(frameCodec{}) }

type frameCodec struct{}

func (frameCodec) Name() string { return codecName }

func (frameCodec) Marshal(v any) (mem.BufferSlice, error) {
	f, ok := v.(*linkpb.Frame)
	if !ok {
		return nil, fmt.Errorf("link: codec cannot marshal %T", v)
	}
	if len(f.Payload) == 0 {
		b, err := proto.Marshal(f)
		return mem.BufferSlice{mem.SliceBuffer(b)}, err
	}
	head := &linkpb.Frame{
		Kind: f.Kind, Session: f.Session, From: f.From, To: f.To, Label: f.Label,
		Seq: f.Seq, Size: f.Size, Offset: f.Offset, Protocol: f.Protocol,
	}
	b, err := proto.MarshalOptions{}.MarshalAppend(make([]byte, 0, 64+len(f.Label)+len(f.Session)+len(f.Protocol)), head)
	if err != nil {
		return nil, err
	}
	b = protowire.AppendTag(b, fieldPayload, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(len(f.Payload)))
	return mem.BufferSlice{mem.SliceBuffer(b), mem.SliceBuffer(f.Payload)}, nil
}

func (frameCodec) Unmarshal(data mem.BufferSlice, v any) error {
	f, ok := v.(*linkpb.Frame)
	if !ok {
		return fmt.Errorf("link: codec cannot unmarshal into %T", v)
	}
	return decodeFrame(data.Materialize(), f)
}

// Field numbers of linkpb.Frame.
const (
	fieldKind     = 1
	fieldSession  = 2
	fieldFrom     = 3
	fieldTo       = 4
	fieldLabel    = 5
	fieldSeq      = 6
	fieldSize     = 7
	fieldOffset   = 8
	fieldPayload  = 9
	fieldProtocol = 10
)

// decodeFrame parses the protobuf encoding of a Frame like proto.Unmarshal, except that Session
// and Payload alias b. Unknown fields (and known ones of
// another wire type) are skipped; a malformed encoding is an error.
func decodeFrame(b []byte, f *linkpb.Frame) error {
	f.Reset()
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w: %v", errFrame, protowire.ParseError(n))
		}
		if num > protowire.MaxValidNumber {
			return frameErr("field number %d is out of range", num)
		}
		b = b[n:]
		want := protowire.Type(-1)
		switch num {
		case fieldSession, fieldLabel, fieldPayload, fieldProtocol:
			want = protowire.BytesType
		case fieldKind, fieldFrom, fieldTo, fieldSeq, fieldSize, fieldOffset:
			want = protowire.VarintType
		}
		if typ != want {
			// An unknown field, or a known one with another wire type: skipped, as
			// proto.Unmarshal does.
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return fmt.Errorf("%w: field %d: %v", errFrame, num, protowire.ParseError(n))
			}
			b = b[n:]
			continue
		}
		if want == protowire.VarintType {
			x, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return fmt.Errorf("%w: field %d: %v", errFrame, num, protowire.ParseError(n))
			}
			b = b[n:]
			switch num {
			case fieldKind:
				f.Kind = linkpb.Kind(int32(x))
			case fieldFrom:
				f.From = uint32(x)
			case fieldTo:
				f.To = uint32(x)
			case fieldSeq:
				f.Seq = x
			case fieldSize:
				f.Size = x
			case fieldOffset:
				f.Offset = x
			}
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return fmt.Errorf("%w: field %d: %v", errFrame, num, protowire.ParseError(n))
		}
		b = b[n:]
		switch num {
		case fieldSession:
			f.Session = v[:len(v):len(v)]
		case fieldPayload:
			f.Payload = v[:len(v):len(v)]
		case fieldLabel, fieldProtocol:
			if !utf8.Valid(v) {
				return frameErr("field %d is not UTF-8", num)
			}
			if num == fieldLabel {
				f.Label = string(v)
			} else {
				f.Protocol = string(v)
			}
		}
	}
	return nil
}
