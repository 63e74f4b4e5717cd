package link

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/privinfer/mpcache/mpc/transport"
	"github.com/privinfer/mpcache/proto/linkpb"
)

// SessionID identifies a session at every party: 16 random bytes chosen by whoever starts the
// session (the client).
type SessionID [16]byte

// NewSessionID returns a random session id.
func NewSessionID() (SessionID, error) {
	var id SessionID
	if _, err := rand.Read(id[:]); err != nil {
		return id, fmt.Errorf("link: session id: %w", err)
	}
	return id, nil
}

// ParseSessionID converts the 16 bytes of a session id, as carried in frames and requests.
func ParseSessionID(b []byte) (SessionID, error) {
	var id SessionID
	if len(b) != len(id) {
		return id, fmt.Errorf("link: a session id has %d bytes, not %d", len(id), len(b))
	}
	copy(id[:], b)
	return id, nil
}

// String is the id in hexadecimal.
func (id SessionID) String() string { return hex.EncodeToString(id[:]) }

// MaxFrameSize bounds one encoded frame (the gRPC message size limit of the Link service).
const MaxFrameSize = 16 << 20

// MaxChunkSize is the largest payload Config.ChunkSize may ask for; it leaves room for the
// frame's header fields within MaxFrameSize.
const MaxChunkSize = 8 << 20

// DefaultChunkSize is the payload size of DATA frames when Config.ChunkSize is 0.
const DefaultChunkSize = 1 << 20

// chunks calls emit with the DATA frames of one message, in order.
func chunks(id SessionID, from int, seq uint64, label string, msg []byte, chunk int, emit func(*linkpb.Frame) error) error {
	size := uint64(len(msg))
	off := 0
	for {
		end := min(off+chunk, len(msg))
		f := &linkpb.Frame{
			Kind: linkpb.Kind_KIND_DATA, Session: id[:], From: uint32(from), Label: label,
			Seq: seq, Size: size, Offset: uint64(off), Payload: msg[off:end],
		}
		if err := emit(f); err != nil {
			return err
		}
		off = end
		if off >= len(msg) {
			return nil
		}
	}
}

// bigAlloc bounds the buffer the assembler reserves up front for a message; larger messages grow
// as their chunks arrive, so a peer cannot make this party reserve a gigabyte with one frame.
const bigAlloc = 64 << 20

// assembler rebuilds the messages of one directed link from its DATA frames and checks every
// field a peer controls. It is the only decoder of link payloads.
type assembler struct {
	session SessionID
	from    uint32
	max     uint64 // largest message accepted

	next    uint64 // seq of the message being assembled or expected next
	started bool   // a message with seq next has begun
	size    uint64
	label   string
	buf     []byte
}

func newAssembler(id SessionID, from int) *assembler {
	return &assembler{session: id, from: uint32(from), max: transport.MaxMessage}
}

// errFrame marks a frame that breaks the link protocol.
var errFrame = errors.New("link: bad frame")

func frameErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errFrame, fmt.Sprintf(format, args...))
}

// add consumes one frame. When the frame completes a message it returns the message and done.
func (a *assembler) add(f *linkpb.Frame) (msg []byte, label string, done bool, err error) {
	if f == nil {
		return nil, "", false, frameErr("nil frame")
	}
	if f.Kind != linkpb.Kind_KIND_DATA {
		return nil, "", false, frameErr("unexpected %v frame in the data stream", f.Kind)
	}
	if len(f.Session) != 0 && string(f.Session) != string(a.session[:]) {
		return nil, "", false, frameErr("frame for session %x on the stream of session %s", f.Session, a.session)
	}
	if f.From != a.from {
		return nil, "", false, frameErr("frame from party %d on the stream of party %d", f.From, a.from)
	}
	if f.Seq != a.next {
		return nil, "", false, frameErr("message %d arrived, expected %d", f.Seq, a.next)
	}
	if f.Size > a.max {
		return nil, "", false, frameErr("message %d announces %d bytes, over the %d-byte limit", f.Seq, f.Size, a.max)
	}
	n := uint64(len(f.Payload))
	if !a.started {
		if f.Offset != 0 {
			return nil, "", false, frameErr("message %d starts at offset %d", f.Seq, f.Offset)
		}
		if n > f.Size {
			return nil, "", false, frameErr("message %d: %d-byte chunk in a %d-byte message", f.Seq, n, f.Size)
		}
		if n == f.Size {
			// The whole message in one frame: hand over the payload without copying.
			a.next++
			p := f.Payload
			if p == nil {
				p = []byte{}
			}
			return p, f.Label, true, nil
		}
		if n == 0 {
			return nil, "", false, frameErr("message %d: empty chunk", f.Seq)
		}
		a.started, a.size, a.label = true, f.Size, f.Label
		a.buf = make([]byte, 0, min(f.Size, bigAlloc))
		a.buf = append(a.buf, f.Payload...)
		return nil, "", false, nil
	}
	switch {
	case f.Size != a.size:
		return nil, "", false, frameErr("message %d changed size from %d to %d", f.Seq, a.size, f.Size)
	case f.Label != a.label:
		return nil, "", false, frameErr("message %d changed label from %q to %q", f.Seq, a.label, f.Label)
	case f.Offset != uint64(len(a.buf)):
		return nil, "", false, frameErr("message %d: chunk at offset %d, expected %d", f.Seq, f.Offset, len(a.buf))
	case n == 0:
		return nil, "", false, frameErr("message %d: empty chunk", f.Seq)
	case n > a.size-uint64(len(a.buf)):
		return nil, "", false, frameErr("message %d: chunk of %d bytes at offset %d overruns its %d bytes", f.Seq, n, f.Offset, a.size)
	}
	a.buf = append(a.buf, f.Payload...)
	if uint64(len(a.buf)) < a.size {
		return nil, "", false, nil
	}
	msg, label = a.buf, a.label
	a.buf, a.label, a.started, a.size = nil, "", false, 0
	a.next++
	return msg, label, true, nil
}

// openInfo is what an OPEN frame announces.
type openInfo struct {
	session  SessionID
	from, to int
	protocol string
}

// parseOpen checks the first frame of a stream.
func parseOpen(f *linkpb.Frame) (openInfo, error) {
	var o openInfo
	if f == nil || f.Kind != linkpb.Kind_KIND_OPEN {
		k := linkpb.Kind_KIND_UNSPECIFIED
		if f != nil {
			k = f.Kind
		}
		return o, frameErr("stream starts with a %v frame, not OPEN", k)
	}
	id, err := ParseSessionID(f.Session)
	if err != nil {
		return o, fmt.Errorf("%w: %v", errFrame, err)
	}
	if f.From >= transport.MaxParties || f.To >= transport.MaxParties || f.From == f.To {
		return o, frameErr("OPEN from party %d to party %d", f.From, f.To)
	}
	if len(f.Payload) != 0 || f.Size != 0 || f.Seq != 0 || f.Offset != 0 {
		return o, frameErr("OPEN frame carries data")
	}
	if len(f.Protocol) > 16 {
		return o, frameErr("OPEN names a %d-byte protocol", len(f.Protocol))
	}
	return openInfo{session: id, from: int(f.From), to: int(f.To), protocol: f.Protocol}, nil
}
