// Package twoparty is the dealer-free source of correlated randomness for 2pc: P0 and P1 each
// run a Generator over the link between them (an mpc.Link, whose bytes the engine meters as
// offline traffic), and it implements mpc.Material, so the online protocols run unchanged
// with no third process:
//
//	e, err := mpc.New(ctx, mpc.TwoPC, tr, mpc.Config{Material: twoparty.Source(twoparty.Options{})})
//
// with tr a transport of two endpoints.
//
// Elementwise material comes from oblivious transfer (package mpc/ot: base OTs once per
// session, SoftSpoken extension in both directions at once): arithmetic triples by Gilboa
// multiplication, AND triples and private ANDs from random OTs, bit pairs and truncation
// tuples from correlated OTs on random shared bits (no carry circuit), one-hot pairs by an
// oblivious rotation. Matrix triples come from RLWE (package mpc/he, Cheetah packing, noise
// flooding); the encryption of a fixed operand's mask is sent once and cached by the peer.
// Each method's comment states its bytes and message flows; docs/DEALERFREE.md has the
// measurements and the security argument.
//
// Security: semi-honest, 128-bit computational, statistical distance 2^−40 for the RLWE
// products over a session revealing up to 2^27 coefficients (he.Options). Both parties must
// use the same Options; the generator checks it at set-up. Every peer message is
// length-checked; malformed input ends in an error, never a panic.
//
// Generator.Precompute produces elementwise material ahead of its use, in batches consumed in
// order, kept in memory or sealed on disk with AES-256-GCM (Options.StoreDir).
package twoparty
