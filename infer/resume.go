package infer

import (
	"errors"
	"fmt"
	"slices"

	"github.com/privinfer/mpcache/model"
	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/mpc/prg"
)

// Resume lets a session decode from position promptLen without running Prefill, for
// benchmarks of decoding at long contexts: the cost of a decode step does not depend on the
// cached values, so the caller fills the policy's caches itself (Policy.Start, then for every
// layer Policy.Prefill or a policy-specific shortcut, e.g. with RandomKV) and calls Resume.
// Outputs of such a session are meaningless; results must say the cache did not come from a
// real prefill.
func (s *Session) Resume(promptLen int) error {
	if s.prompt != 0 {
		return errors.New("infer: resume on a session that already has a prompt")
	}
	if promptLen < 1 || promptLen >= s.cfg.MaxSeq {
		return fmt.Errorf("infer: resume at %d: want a position in [1, %d)", promptLen, s.cfg.MaxSeq)
	}
	s.prompt, s.pos, s.phase = promptLen, promptLen, "decode"
	return nil
}

// RandomKV returns this party's shares of random keys and values of one layer,
// [KVHeads][n][HeadDim] each (RandomShare), drawn from a seed every party passes alike. For
// benchmarks only: every party could compute the values.
func RandomKV(e mpc.Engine, cfg model.Config, layer, n int, seed prg.Seed) (k, v *mpc.Share) {
	shape := []int{cfg.KVHeads, n, cfg.HeadDim()}
	return RandomShare(e, seed.Derive(fmt.Sprintf("kv/%d/k", layer)), shape...),
		RandomShare(e, seed.Derive(fmt.Sprintf("kv/%d/v", layer)), shape...)
}

// RandomShare returns this party's share of a tensor of small random ring elements (below 2^20
// in magnitude, so that products stay inside the ring like real activations), drawn from a seed
// every party passes alike: component j of the sharing comes from the seed's stream j, so the
// parties' shares are consistent. The dealer's share is empty. For benchmarks and tests only:
// every party could compute the values.
func RandomShare(e mpc.Engine, seed prg.Seed, shape ...int) *mpc.Share {
	sh := &mpc.Share{Shape: slices.Clone(shape)}
	if e.IsDealer() {
		return sh
	}
	comp := func(j int) []uint64 {
		x := make([]uint64, mpc.Numel(shape))
		prg.New(seed.Derive(fmt.Sprint(j))).Uint64s(x)
		for i := range x {
			x[i] = uint64(int64(x[i]) >> 44)
		}
		return x
	}
	sh.Own = comp(e.Party())
	if e.Protocol() == mpc.ThreePC {
		sh.Next = comp((e.Party() + 1) % 3)
	}
	return sh
}
