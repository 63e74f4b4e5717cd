package link

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/privinfer/mpcache/proto/linkpb"
)

var testID = SessionID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}

func split(t *testing.T, seq uint64, msg []byte, chunk int) []*linkpb.Frame {
	t.Helper()
	var fs []*linkpb.Frame
	if err := chunks(testID, 1, seq, "l", msg, chunk, func(f *linkpb.Frame) error {
		fs = append(fs, f)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return fs
}

func TestChunksRoundTrip(t *testing.T) {
	for _, size := range []int{0, 1, 9, 10, 11, 99} {
		msg := bytes.Repeat([]byte{byte(size)}, size)
		fs := split(t, 0, msg, 10)
		if want := max(1, (size+9)/10); len(fs) != want {
			t.Fatalf("size %d: %d frames, want %d", size, len(fs), want)
		}
		a := newAssembler(testID, 1)
		for i, f := range fs {
			got, label, done, err := a.add(f)
			if err != nil {
				t.Fatalf("size %d frame %d: %v", size, i, err)
			}
			if done != (i == len(fs)-1) {
				t.Fatalf("size %d frame %d: done %v", size, i, done)
			}
			if done && (!bytes.Equal(got, msg) || label != "l" || got == nil) {
				t.Fatalf("size %d: got %d bytes %q", size, len(got), label)
			}
		}
	}
}

func TestAssemblerRejects(t *testing.T) {
	data := func(mod func(f *linkpb.Frame)) *linkpb.Frame {
		f := &linkpb.Frame{Kind: linkpb.Kind_KIND_DATA, Session: testID[:], From: 1, Seq: 0, Size: 20, Offset: 0, Payload: make([]byte, 10)}
		mod(f)
		return f
	}
	second := func(mod func(f *linkpb.Frame)) []*linkpb.Frame {
		return []*linkpb.Frame{data(func(*linkpb.Frame) {}), data(func(f *linkpb.Frame) { f.Offset = 10; mod(f) })}
	}
	tests := []struct {
		name   string
		frames []*linkpb.Frame
		want   string
	}{
		{"nil", []*linkpb.Frame{nil}, "nil frame"},
		{"open", []*linkpb.Frame{data(func(f *linkpb.Frame) { f.Kind = linkpb.Kind_KIND_OPEN })}, "unexpected KIND_OPEN"},
		{"other session", []*linkpb.Frame{data(func(f *linkpb.Frame) { f.Session = []byte{9} })}, "frame for session 09"},
		{"other sender", []*linkpb.Frame{data(func(f *linkpb.Frame) { f.From = 2 })}, "from party 2"},
		{"skipped seq", []*linkpb.Frame{data(func(f *linkpb.Frame) { f.Seq = 1 })}, "message 1 arrived, expected 0"},
		{"too large", []*linkpb.Frame{data(func(f *linkpb.Frame) { f.Size = 1<<30 + 1 })}, "over the"},
		{"first offset", []*linkpb.Frame{data(func(f *linkpb.Frame) { f.Offset = 5 })}, "starts at offset 5"},
		{"chunk over size", []*linkpb.Frame{data(func(f *linkpb.Frame) { f.Size = 5 })}, "10-byte chunk in a 5-byte message"},
		{"empty chunk", []*linkpb.Frame{data(func(f *linkpb.Frame) { f.Payload = nil })}, "empty chunk"},
		{"size changed", second(func(f *linkpb.Frame) { f.Size = 30 }), "changed size"},
		{"label changed", second(func(f *linkpb.Frame) { f.Label = "x" }), "changed label"},
		{"gap", second(func(f *linkpb.Frame) { f.Offset = 11 }), "expected 10"},
		{"overrun", second(func(f *linkpb.Frame) { f.Payload = make([]byte, 11) }), "overruns"},
		{"empty later chunk", second(func(f *linkpb.Frame) { f.Payload = nil }), "empty chunk"},
		{"next message early", second(func(f *linkpb.Frame) { f.Seq = 1 }), "message 1 arrived"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAssembler(testID, 1)
			var err error
			for _, f := range tt.frames {
				if _, _, _, err = a.add(f); err != nil {
					break
				}
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestParseOpen(t *testing.T) {
	good := func() *linkpb.Frame {
		return &linkpb.Frame{Kind: linkpb.Kind_KIND_OPEN, Session: testID[:], From: 1, To: 0, Protocol: "3pc"}
	}
	tests := []struct {
		name string
		mod  func(f *linkpb.Frame)
		want string
	}{
		{"good", func(*linkpb.Frame) {}, ""},
		{"data", func(f *linkpb.Frame) { f.Kind = linkpb.Kind_KIND_DATA }, "not OPEN"},
		{"short id", func(f *linkpb.Frame) { f.Session = f.Session[:15] }, "session id"},
		{"to self", func(f *linkpb.Frame) { f.To = 1 }, "from party 1 to party 1"},
		{"party 3", func(f *linkpb.Frame) { f.From = 3 }, "from party 3"},
		{"payload", func(f *linkpb.Frame) { f.Payload = []byte{1} }, "carries data"},
		{"long protocol", func(f *linkpb.Frame) { f.Protocol = strings.Repeat("x", 17) }, "protocol"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := good()
			tt.mod(f)
			o, err := parseOpen(f)
			if tt.want == "" {
				if err != nil || o.session != testID || o.from != 1 || o.to != 0 || o.protocol != "3pc" {
					t.Fatalf("parseOpen = %+v, %v", o, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := parseOpen(nil); err == nil {
		t.Fatal("parseOpen(nil) succeeded")
	}
}

// frames decodes fuzz input as a sequence of frames: each a 2-byte little-endian length and the
// protobuf encoding of a Frame (undecodable ones are skipped).
func frames(data []byte) []*linkpb.Frame {
	var fs []*linkpb.Frame
	for len(data) >= 2 {
		n := int(binary.LittleEndian.Uint16(data))
		data = data[2:]
		n = min(n, len(data))
		f := new(linkpb.Frame)
		if proto.Unmarshal(data[:n], f) == nil {
			fs = append(fs, f)
		}
		data = data[n:]
	}
	return fs
}

func encodeFrames(fs ...*linkpb.Frame) []byte {
	var out []byte
	for _, f := range fs {
		b, _ := proto.Marshal(f)
		out = binary.LittleEndian.AppendUint16(out, uint16(len(b)))
		out = append(out, b...)
	}
	return out
}

// FuzzAssembler feeds arbitrary frames, as a peer could send them, to the reassembler: it must
// never panic, and every message it completes must have the size its frames announced and the
// next sequence number.
func FuzzAssembler(f *testing.F) {
	msg := []byte("hello, world")
	var seeds []*linkpb.Frame
	_ = chunks(testID, 1, 0, "a", msg, 5, func(fr *linkpb.Frame) error { seeds = append(seeds, fr); return nil })
	_ = chunks(testID, 1, 1, "", nil, 5, func(fr *linkpb.Frame) error { seeds = append(seeds, fr); return nil })
	f.Add(encodeFrames(seeds...))
	f.Add(encodeFrames(seeds[1:]...))
	f.Add(encodeFrames(&linkpb.Frame{Kind: linkpb.Kind_KIND_DATA, From: 1, Size: 1 << 40, Payload: []byte{1}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		a := newAssembler(testID, 1)
		a.max = 1 << 16 // keep allocations small; the checks are the same
		var seq uint64
		for _, fr := range frames(data) {
			got, _, done, err := a.add(fr)
			if err != nil {
				return // a link stops at its first bad frame
			}
			if done {
				if uint64(len(got)) != fr.Size || fr.Seq != seq {
					t.Fatalf("completed message %d of %d bytes from a frame announcing message %d of %d", seq, len(got), fr.Seq, fr.Size)
				}
				seq++
			}
		}
	})
}

// FuzzParseOpen checks the parser of a stream's first frame.
func FuzzParseOpen(f *testing.F) {
	f.Add(encodeFrames(&linkpb.Frame{Kind: linkpb.Kind_KIND_OPEN, Session: testID[:], From: 1, To: 2, Protocol: "2pc"}))
	f.Add([]byte{0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, fr := range frames(data) {
			o, err := parseOpen(fr)
			if err != nil {
				continue
			}
			if o.from == o.to || o.from < 0 || o.from > 2 || o.to < 0 || o.to > 2 || string(fr.Session) != string(o.session[:]) {
				t.Fatalf("accepted %+v from %v", o, fr)
			}
		}
	})
}
