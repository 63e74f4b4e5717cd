// Package fss is function secret sharing for comparisons: a distributed comparison function
// (DCF) that gives two parties additive shares, modulo 2^64, of the sign bit of a secret x from
// the public masked value x + r alone, so a comparison costs one online round (opening x + r).
//
// # Construction
//
// The DCF is the tree construction of Boyle, Chandran, Gilboa, Gupta, Ishai, Kumar and Rathee,
// "Function Secret Sharing for Mixed-Mode and Fixed-Point Secure Computation" (Eurocrypt 2021),
// with outputs in Z_2^64. A dealer who knows the mask r gives party b a root seed and correction
// words; evaluating a key at a public point walks one path of a depth-63 binary tree, expanding
// one node per level with the PRG and adding one correction word.
//
// The sign gate: write c = x + r (mod 2^64) and split off the top bits, c = c_63·2^63 + c', and
// likewise r. The addition x' + r' of the low 63 bits carries into bit 63 exactly when c' < r',
// so
//
//	MSB(x) = c_63 ⊕ r_63 ⊕ [c' < r'].
//
// The dealer shares g(z) = r_63 ⊕ [z < r'] over 63-bit z as a DCF whose payloads are generalised
// from BGI's single β: the subtree that leaves the path to r' at level i holds the constant
// r_63 ⊕ r'_i (its values are below r' exactly when r'_i = 1), and the leaf r' itself holds r_63.
// The parties evaluate at z = c' and finish locally with MSB(x) = c_63 + (1 − 2c_63)·g(c'), which
// is linear in g since c_63 is public: the result is an arithmetic share with no conversion
// round.
//
// # PRG and security
//
// Seeds are 127 bits with the control bit in bit 0 of a 128-bit block. A node's expansion is
// G(s) = (H(s), H(s ⊕ 1), H(s ⊕ 2)) — left child, right child, and the two 64-bit values of the
// children — with H(z) = AES_k(z) ⊕ z (Matyas–Meyer–Oseas) under an AES-128 key k drawn afresh
// by the dealer for every batch of keys. Modelling AES_k as a random permutation, an evaluator
// that makes q AES evaluations distinguishes its view from random with advantage about q·T/2^127
// over the T seeds of a batch: 128-bit-class computational security, and fresh keys keep
// precomputation from spanning batches.
//
// # Costs
//
// A key is KeyWords(64) = 191 words (1528 bytes) of correction words per comparison, identical
// for both parties, plus a root seed each (drawn from a PRG stream the party shares with the
// dealer, so it does not travel) and the batch's AES key. Evaluation: 126 AES blocks per
// comparison and party; generation: 378.
//
// # Narrow comparisons
//
// A gate over bits < 64 gives the sign of x mod 2^bits, read as a bits-bit integer, which is
// the sign of x wherever |x| < 2^(bits−1): the same construction with c_{bits−1} in the role of
// c_63 and a tree over the bits − 1 bits below it. Key, generation and evaluation shrink in
// proportion to the depth, 3·bits − 1 words (904 bytes at 38 bits, 1144 at 48), and the mask's
// higher bits play no part, so the opened x + r still hides x. The protocols narrow their
// comparisons where the documented input range allows (mpc.Engine.WithCompareBits). Keys over
// ⌊r/2^d⌋ evaluated at ⌊c/2^d⌋ compare x at a resolution of 2^d with the same keys
// (mpc.Engine.WithComparePrecision): the low bits' borrow dithers each threshold over the 2^d
// units below it.
//
// # Several points per key
//
// EvalSign evaluates a key at any number of points. With the points x − t_k + r of public
// thresholds t_k, one key and one opened x + r give every comparison [x < t_k] (the
// interval-containment use of a DCF in Boyle et al.): the key hides r whatever the points, and
// nothing else is opened. Points of one key that agree in their top bits share the start of
// their paths, which is walked once (see evalWork): thresholds spread over 2^s cost about
// 63 − s levels once and s levels per point. Early termination (packing the last levels into one leaf) saves
// little here: a leaf block holds only two 64-bit outputs, so it would cut at most 5 of 126
// AES blocks and a few bytes of key.
package fss
