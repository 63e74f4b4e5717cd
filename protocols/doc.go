// Package protocols holds the secure non-linear functions of transformer inference and of
// KV-cache selection, composed from mpc.Engine primitives: comparison-based functions (ReLU,
// max, argmax, equality, one-hot, top-k, oblivious gather) and fixed-point approximations (exp,
// reciprocal, inverse square root, softmax, GeLU, SiLU, LayerNorm, RMSNorm).
//
// Conventions. Every function takes whole tensors and works along the last axis unless stated;
// independent rows, heads and elements share communication rounds. Values are fixed point with
// e.Frac() fractional bits unless a function says it returns plain ring integers (bits 0/1,
// indices). Each function's doc comment states its accuracy on the input range it supports and
// its cost: online rounds, online bytes sent per element per party, and offline (dealer) bytes,
// as measured by the meter in this package's tests (TestCosts). Functions never open a secret:
// all opened values are uniformly masked inside the engine.
package protocols
