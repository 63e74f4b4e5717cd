// Package ot implements the oblivious transfers behind the dealer-free two-party material
// generator (package mpc/twoparty): base OTs and a SoftSpoken OT extension, both semi-honest.
//
// # Base OTs
//
// Chou–Orlandi "simplest OT" from circl (ot/simot) over ristretto255, run once per session:
// 128 chosen-message OTs of 16-byte strings in each direction, 3 message flows, 152 bytes
// (two group elements and two AES-GCM sealed strings) and 4 scalar multiplications per OT. BaseOTs runs both directions at once.
//
// # Extension
//
// SoftSpoken OT (Roy, CRYPTO 2022), semi-honest variant, with a parameter k ∈ {1, 2, 4, 8}: the
// sender's 128-bit secret Δ is cut into 128/k blocks of k bits; for each block the receiver holds
// 2^k seeds (the leaves of a GGM tree) and the sender all of them except the one at its k bits of
// Δ (a punctured tree, obtained with k base OTs of the level sums). Each seed drives an AES-128
// CTR stream; per extended OT the receiver sends (128/k − 1) bits, so k = 1 is IKNP (127 bits
// with the first column used as the random choice vector) and k = 4 sends 31 bits per OT at a
// cost of 2^k·128/k stream bits per OT for each party. The result is the IKNP correlation
//
//	q_j = t_j ⊕ b_j·Δ
//
// with random choice bits b_j known to the receiver, t_j to the receiver and q_j, Δ to the
// sender. Random OT messages are H(j, q_j) and H(j, q_j ⊕ Δ) for the sender and H(j, t_j) for
// the receiver, where H is the tweaked Matyas–Meyer–Oseas hash H(j, x) = π(x ⊕ j) ⊕ x ⊕ j on
// fixed-key AES π, correlation robust in the random-permutation model (Guo, Katz, Wang, Yu,
// S&P 2020), which is what semi-honest OT extension needs.
//
// # Security
//
// Semi-honest, κ = 128-bit computational security: AES-128 as PRG and ideal permutation,
// ristretto255 for the base OTs (CDH), a uniform 128-bit Δ. After n extended OTs a
// distinguisher that makes q AES queries wins with probability about q·n/2^128 (the
// multi-instance term of a fixed-key hash), so a session of n OTs has 128 − log2 n bits
// (88 bits at 2^40 OTs). All randomness is drawn from crypto/rand (directly or through AES-CTR
// expansion of crypto/rand seeds).
//
// Every message from the peer is length-checked before use; malformed input gives an error,
// never a panic.
package ot
