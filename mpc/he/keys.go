package he

import (
	"fmt"

	"github.com/privinfer/mpcache/mpc/prg"
	"github.com/tuneinsight/lattigo/v6/ring"
)

// SecretKey is a ternary RLWE secret s, kept in the NTT domain in Montgomery form at the full
// modulus (for encryption) and at the response modulus (for decryption).
type SecretKey struct {
	s, sr ring.Poly
}

// PublicKey is (b, a) = (−a·s + e, a) in the NTT domain; a comes from a 16-byte seed.
type PublicKey struct {
	seed prg.Seed
	b, a ring.Poly
}

// newPRG draws a fresh crypto/rand seed and returns its stream.
func newPRG() (*prg.PRG, error) {
	s, err := prg.NewSeed()
	if err != nil {
		return nil, err
	}
	return prg.New(s), nil
}

// KeyGen draws a secret key and its public key, with randomness from crypto/rand.
func (p *Params) KeyGen() (*SecretKey, *PublicKey, error) {
	g, err := newPRG()
	if err != nil {
		return nil, nil, err
	}
	ts, err := ring.NewTernarySampler(g, p.rq, p.xs, false)
	if err != nil {
		return nil, nil, fmt.Errorf("he: %w", err)
	}
	s := ts.ReadNew()
	sk := &SecretKey{s: p.rq.NewPoly(), sr: p.rr.NewPoly()}
	for i := 0; i < 2; i++ {
		copy(sk.sr.Coeffs[i], s.Coeffs[i])
	}
	p.rq.NTT(s, sk.s)
	p.rq.MForm(sk.s, sk.s)
	p.rr.NTT(sk.sr, sk.sr)
	p.rr.MForm(sk.sr, sk.sr)
	pk := &PublicKey{}
	if pk.seed, err = prg.NewSeed(); err != nil {
		return nil, nil, err
	}
	pk.a = p.uniform(pk.seed)
	pk.b = p.gaussianNTT(g)
	p.rq.MulCoeffsMontgomeryThenSub(sk.s, pk.a, pk.b)
	return sk, pk, nil
}

// uniform expands seed into a uniform polynomial mod Q (read as NTT-domain values).
func (p *Params) uniform(seed prg.Seed) ring.Poly {
	a := p.rq.NewPoly()
	ring.NewUniformSampler(prg.New(seed.Derive("he/a")), p.rq).Read(a)
	return a
}

// gaussianNTT samples an error polynomial and returns it in the NTT domain.
func (p *Params) gaussianNTT(g *prg.PRG) ring.Poly {
	e := ring.NewGaussianSampler(g, p.rq, p.xe, false).ReadNew()
	p.rq.NTT(e, e)
	return e
}

// PublicKeySize is the encoded size of a public key: the seed of a and b.
func (p *Params) PublicKeySize() int { return prg.SeedSize + p.polyBytes() }

// MarshalPublicKey encodes pk.
func (p *Params) MarshalPublicKey(pk *PublicKey) []byte {
	out := append(make([]byte, 0, p.PublicKeySize()), pk.seed[:]...)
	return p.appendPoly(out, pk.b)
}

// UnmarshalPublicKey decodes a public key; malformed input is an error.
func (p *Params) UnmarshalPublicKey(b []byte) (*PublicKey, error) {
	if len(b) != p.PublicKeySize() {
		return nil, fmt.Errorf("he: public key of %d bytes, want %d", len(b), p.PublicKeySize())
	}
	pk := &PublicKey{b: p.rq.NewPoly()}
	copy(pk.seed[:], b)
	if err := p.readPoly(pk.b, b[prg.SeedSize:]); err != nil {
		return nil, fmt.Errorf("he: public key: %w", err)
	}
	pk.a = p.uniform(pk.seed)
	return pk, nil
}
