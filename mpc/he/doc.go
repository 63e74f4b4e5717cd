// Package he produces the cross terms of matrix Beaver triples over Z_2^64 with RLWE
// (lattigo v6 ring arithmetic), semi-honest, for the dealer-free two-party generator
// (package mpc/twoparty).
//
// # The product
//
// A party holds a matrix R (k×n); the other holds L (m×k). The holder of R encrypts it under its
// own secret key and sends the ciphertexts; the other party computes encryptions of L·R + S for
// a uniformly random S that it keeps (its share is −S), floods their noise, re-randomises them
// with the owner's public key and sends them back; the owner decrypts L·R + S. Two such
// products in opposite directions give the cross terms of a matrix triple C = (A0+A1)(B0+B1).
//
// # Encoding Z_2^64 in RLWE mod Q
//
// Q is a product of NTT-friendly primes, so it cannot be a multiple of t = 2^64; we use the BFV
// scale-invariant encoding Δ(m) = round(Q·m/t), exact for products: for a plaintext polynomial
// p with integer coefficients, p·(Q·m/t + ρ + e) ≡ (Q/t)·(p·m mod t) + p·(ρ + e) (mod Q)
// because (Q/t)·t·w = Q·w ≡ 0. The error p·(ρ + e) is at most ‖p‖₁·(|e|∞ + 1/2); decryption
// rounds t·v/Q. (Flooring the scale to ⌊Q/t⌋, the other option, leaves an error of
// (Q mod t)/t·|p·m| ≈ 2^126·terms, 63 bits worse, so we round instead.)
//
// # Packing (Cheetah)
//
// Blocks of m_w×k_w of L and k_w×n_w of R (m_w·k_w·n_w ≤ N) become the polynomials
//
//	L̂ = Σ L[i][j]·X^(i·k_w·n_w + k_w−1−j),   R̂ = Σ R[j][l]·X^(l·k_w + j),
//
// and coefficient i·k_w·n_w + l·k_w + k_w − 1 of L̂·R̂ is Σ_j L[i][j]·R[j][l] (no other term,
// wrapped or not, reaches these positions). The k-blocks of one output block are summed as
// ciphertexts. Only the m_w·n_w useful coefficients of c0 travel back, with the whole c1.
//
// # Parameters and security
//
//   - Ring degree N = 2^13, Q = q0·q1·q2·q3·q4 with q0, q1 < 2^40 and q2..q4 < 2^46
//     (log Q ≤ 218), ternary uniform secrets, Gaussian errors σ = 3.2 cut at 6σ: 128-bit
//     computational security by the homomorphic-encryption standard's table for N = 2^13.
//   - Circuit privacy: before returning a ciphertext the evaluator adds a fresh encryption of
//     zero under the owner's public key (so c1 is an RLWE sample the owner cannot open) and a
//     uniform integer noise f ∈ [−F, F) to every returned coefficient of c0, with
//     F ≥ 2^FloodBits·B, B the worst-case bound on the evaluation noise. The owner's view of a
//     returned coefficient is then within statistical distance B/(2F) ≤ 2^−(FloodBits+1) of a
//     simulation from the masked value alone. FloodBits = StatSec + RevealLog (default
//     40 + 27 = 67): statistical distance ≤ 2^−40 over a session that reveals up to 2^27
//     coefficients (a GPT-2 session of 1024 decoded tokens reveals about 2^26.3).
//   - The noise budget, F + B ≤ Q/(4t), bounds the number of terms T = ⌈k/k_w⌉·m_w·k_w summed
//     into one coefficient; with the defaults T ≤ 2^16.7, enough for k up to 11008 at m_w = 8.
//     Larger k is split into chunks whose products are summed as shares.
//   - Responses are switched down to q' = q0·q1 (about 2^80) before they are sent; the
//     rounding adds at most (1 + ‖s‖₁)/2 ≤ 2^12 < q'/(4t).
//
// # Costs (N = 2^13)
//
// An encrypted block costs 16 + 28·N = 229,392 bytes (c1 travels as a 16-byte seed); a response
// costs 10·(N + m_w·n_w) bytes. Computation per ciphertext-plaintext product is one pointwise
// product of 5 limbs (about 0.1 ms here), per plaintext block one NTT (about 0.6 ms).
// Params.Choose picks block shapes that minimise an estimate of time plus bytes.
package he
