package twoparty

import (
	"encoding/binary"
	"errors"
	"sync"
	"testing"
)

// scriptLink replays scripted peer messages and discards what is sent.
type scriptLink struct {
	party int
	msgs  [][]byte
}

func (s *scriptLink) Party() int          { return s.party }
func (s *scriptLink) Send(b []byte) error { return nil }
func (s *scriptLink) Recv() ([]byte, error) {
	if len(s.msgs) == 0 {
		return nil, errors.New("no more messages")
	}
	m := s.msgs[0]
	s.msgs = s.msgs[1:]
	return m, nil
}

var (
	fuzzOnce sync.Once
	fuzzGen  *Generator
)

// fuzzGenerator returns P0's generator of a real session, its RLWE keys made.
func fuzzGenerator(t testing.TB) *Generator {
	fuzzOnce.Do(func() {
		gs := pair(t, Options{}, nil, func(g *Generator) (*Generator, error) {
			_, _, _, err := g.MatrixTriple(1, 1, 1, 1, nil, nil)
			return g, err
		})
		fuzzGen = gs[0]
	})
	return fuzzGen
}

// fuzzMessages cuts data into messages, each a 2-byte length and its bytes.
func fuzzMessages(data []byte) [][]byte {
	var out [][]byte
	for len(data) >= 2 && len(out) < 8 {
		n := min(int(binary.LittleEndian.Uint16(data)), len(data)-2)
		out = append(out, data[2:2+n])
		data = data[2+n:]
	}
	return out
}

func encodeMessages(ms ...[]byte) []byte {
	var out []byte
	for _, m := range ms {
		out = binary.LittleEndian.AppendUint16(out, uint16(len(m)))
		out = append(out, m...)
	}
	return out
}

// FuzzPeerMessages feeds arbitrary peer messages to every kind of material: each call ends in
// an error or a result, never a panic.
func FuzzPeerMessages(f *testing.F) {
	ext := make([]byte, 31*64/8) // one batch of 64 OTs at k = 4
	f.Add(byte(0), encodeMessages(ext, make([]byte, 260)))
	f.Add(byte(1), encodeMessages(ext))
	f.Add(byte(2), encodeMessages(ext, make([]byte, 355)))
	f.Add(byte(3), encodeMessages(ext, make([]byte, 8)))
	f.Add(byte(4), encodeMessages(ext, make([]byte, 8*8*2)))
	f.Add(byte(5), encodeMessages(ext))
	f.Add(byte(6), encodeMessages([]byte{1}, make([]byte, 100)))
	f.Fuzz(func(t *testing.T, kind byte, data []byte) {
		g := fuzzGenerator(t)
		l := g.l
		defer func() { g.l = l }()
		g.l = &scriptLink{msgs: fuzzMessages(data)}
		switch kind % 7 {
		case 0:
			g.Triple(1)
		case 1:
			g.ANDTriple(1)
		case 2:
			g.Trunc(2, 16)
		case 3:
			g.BitPair(2)
		case 4:
			g.OneHotPair(2, 8)
		case 5:
			g.PrivateAND(2)
		case 6:
			g.MatrixTriple(1, 2, 3, 2, nil, nil)
		}
	})
}
