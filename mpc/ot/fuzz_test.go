package ot

import (
	"encoding/binary"
	"errors"
	"sync"
	"testing"
)

var (
	fuzzOnce   sync.Once
	fuzzSender *Sender
)

// testSender returns a set-up SoftSpoken (k = 4) sender.
func testSender(t *testing.T) *Sender {
	fuzzOnce.Do(func() {
		both(t, func(p int, c Conn) error {
			s, _, err := Setup(c, p, 4)
			if p == 0 {
				fuzzSender = s
			}
			return err
		})
	})
	return fuzzSender
}

// scriptConn replays scripted messages and discards what is sent.
type scriptConn struct{ msgs [][]byte }

func (s *scriptConn) Send([]byte) error { return nil }
func (s *scriptConn) Recv() ([]byte, error) {
	if len(s.msgs) == 0 {
		return nil, errors.New("no more messages")
	}
	m := s.msgs[0]
	s.msgs = s.msgs[1:]
	return m, nil
}

// splitFuzz cuts data into up to three messages at lengths taken from its first bytes.
func splitFuzz(data []byte) [][]byte {
	var out [][]byte
	for i := 0; i < 3 && len(data) >= 2; i++ {
		n := int(binary.LittleEndian.Uint16(data))
		data = data[2:]
		n = min(n, len(data))
		out = append(out, data[:n])
		data = data[n:]
	}
	return out
}

// FuzzBaseOTs feeds arbitrary peer messages to the base OTs: errors, never panics.
func FuzzBaseOTs(f *testing.F) {
	f.Add([]byte{32, 0})
	f.Add(append([]byte{64, 0}, make([]byte, 64)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := &scriptConn{msgs: splitFuzz(data)}
		send := make([][2][16]byte, 2)
		if _, err := BaseOTs(c, send, []int{0, 1}); err == nil {
			t.Fatal("base OTs succeeded on fuzzed messages")
		}
	})
}

// FuzzSenderExtend feeds arbitrary receiver messages to the extension sender.
func FuzzSenderExtend(f *testing.F) {
	f.Add(uint16(64), make([]byte, 31*8))
	f.Add(uint16(100), []byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, m uint16, msg []byte) {
		snd := testSender(t)
		q, _, err := snd.Extend(int(m), msg)
		if err == nil && len(q) != int(m) {
			t.Fatalf("got %d OTs for %d", len(q), m)
		}
	})
}
