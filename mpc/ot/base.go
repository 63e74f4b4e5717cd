package ot

import (
	"errors"
	"fmt"

	"github.com/cloudflare/circl/group"
	"github.com/cloudflare/circl/ot/simot"
)

// Conn is the message channel to the other party (mpc.Link has this method set). Messages
// arrive in order and whole.
type Conn interface {
	Send(msg []byte) error
	Recv() ([]byte, error)
}

// baseGroup is the group of the base OTs.
var baseGroup = group.Ristretto255

const (
	elemLen = 32      // ristretto255 element encoding
	gcmOver = 12 + 16 // nonce and tag of circl's AES-GCM message encryption
	baseMsg = 16      // base OT message length
	encLen  = baseMsg + gcmOver
)

// BaseOTs runs chosen-message base OTs in both directions at once: this party sends the pairs
// in send (16-byte strings) to the peer, and receives one string of each of the peer's pairs
// according to choices (0 or 1). Both parties call it at the same time; the counts must match
// the peer's (len(send) here is len(choices) there). 3 message flows each way; this party sends
// 32·len(choices) + (32 + 88)·len(send) bytes.
func BaseOTs(c Conn, send [][2][16]byte, choices []int) (got [][16]byte, err error) {
	defer func() {
		// circl panics on internal failures (crypto/rand, marshalling); never let a peer's
		// message crash the party.
		if r := recover(); r != nil {
			got, err = nil, fmt.Errorf("ot: base OT: %v", r)
		}
	}()
	for _, c := range choices {
		if c != 0 && c != 1 {
			return nil, errors.New("ot: base OT choice is not a bit")
		}
	}
	// Flow 1: A = [a]G for each pair this party sends.
	senders := make([]simot.Sender, len(send))
	out := make([]byte, 0, elemLen*len(send))
	for i := range send {
		A := senders[i].InitSender(baseGroup, send[i][0][:], send[i][1][:], i)
		b, err := A.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("ot: base OT: %w", err)
		}
		out = append(out, b...)
	}
	if err := c.Send(out); err != nil {
		return nil, err
	}
	in, err := c.Recv()
	if err != nil {
		return nil, err
	}
	As, err := decodeElems(in, len(choices))
	if err != nil {
		return nil, fmt.Errorf("ot: base OT flow 1: %w", err)
	}
	// Flow 2: B for each choice.
	receivers := make([]simot.Receiver, len(choices))
	out = make([]byte, 0, elemLen*len(choices))
	for i, ch := range choices {
		B := receivers[i].Round1Receiver(baseGroup, ch, i, As[i])
		b, err := B.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("ot: base OT: %w", err)
		}
		out = append(out, b...)
	}
	if err := c.Send(out); err != nil {
		return nil, err
	}
	if in, err = c.Recv(); err != nil {
		return nil, err
	}
	Bs, err := decodeElems(in, len(send))
	if err != nil {
		return nil, fmt.Errorf("ot: base OT flow 2: %w", err)
	}
	// Flow 3: the encrypted pairs.
	out = make([]byte, 0, 2*encLen*len(send))
	for i := range send {
		e0, e1 := senders[i].Round2Sender(Bs[i])
		if len(e0) != encLen || len(e1) != encLen {
			return nil, errors.New("ot: base OT: unexpected ciphertext length")
		}
		out = append(append(out, e0...), e1...)
	}
	if err := c.Send(out); err != nil {
		return nil, err
	}
	if in, err = c.Recv(); err != nil {
		return nil, err
	}
	if len(in) != 2*encLen*len(choices) {
		return nil, fmt.Errorf("ot: base OT flow 3: got %d bytes, want %d", len(in), 2*encLen*len(choices))
	}
	got = make([][16]byte, len(choices))
	for i, ch := range choices {
		e := in[2*encLen*i:]
		if err := receivers[i].Round3Receiver(e[:encLen], e[encLen:2*encLen], ch); err != nil {
			return nil, fmt.Errorf("ot: base OT %d: %w", i, err)
		}
		m := receivers[i].Returnmc()
		if len(m) != baseMsg {
			return nil, fmt.Errorf("ot: base OT %d: message of %d bytes", i, len(m))
		}
		copy(got[i][:], m)
	}
	return got, nil
}

// decodeElems parses n group elements of elemLen bytes each.
func decodeElems(b []byte, n int) ([]group.Element, error) {
	if len(b) != elemLen*n {
		return nil, fmt.Errorf("got %d bytes, want %d", len(b), elemLen*n)
	}
	out := make([]group.Element, n)
	for i := range out {
		out[i] = baseGroup.NewElement()
		if err := out[i].UnmarshalBinary(b[elemLen*i : elemLen*(i+1)]); err != nil {
			return nil, fmt.Errorf("element %d: %w", i, err)
		}
	}
	return out, nil
}
