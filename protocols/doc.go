// Package protocols holds the secure non-linear functions of transformer inference and of
// KV-cache selection, composed from mpc.Engine primitives: comparison-based functions (ReLU,
// max, argmax, equality, one-hot, top-k, oblivious gather) and fixed-point approximations (exp,
// reciprocal, inverse square root, softmax, GeLU, SiLU, LayerNorm, RMSNorm).
//
// Conventions. Every function takes whole tensors and works along the last axis unless stated;
// independent rows, heads and elements share communication rounds. To reduce along another axis,
// move it last with mpc.Permute (a local relabelling of the shares, no communication) and back:
// one axis convention keeps each function's round structure in one place, and every caller in
// this repository (softmax over keys, argmax over the vocabulary, top-k over clusters) reduces
// along the last axis anyway. Values are fixed point with
// e.Frac() fractional bits unless a function says it returns plain ring integers (bits 0/1,
// indices). Each function's doc comment states its accuracy on the input range it supports and
// its cost: online rounds, online bytes sent per element per party, and offline bytes (material
// from the 2pc dealer, or from P2 in 3pc, as P1 receives it, the most of any party), as measured
// by the meter in this package's tests (the Test*Cost functions), for both of the engine's
// comparison methods (mpc.Engine.Comparison): function secret sharing, the default wherever the
// material deals its keys, as the dealer and P2 do (LTZ: 1 round in 2pc, 2 in 3pc, 8 or 16 bytes
// online and 1528 bytes of keys to each of P0 and P1 per comparison), and the boolean circuit
// (8 rounds, 104 to 184 bytes online, 104 offline in 2pc). Per-element figures leave out the
// 16-byte key that comes with every 4096 FSS keys. Functions never open a secret: all opened
// values are uniformly masked inside the engine.
package protocols
