// Package infer is the transformer on secret shares: prefill of a whole prompt, decoding with a
// secure KV cache, and greedy generation, for LLaMA-style blocks (RMSNorm, rotary positions,
// grouped-query attention, SwiGLU) and GPT-2-style blocks (LayerNorm, learned positions, GeLU,
// biases). It mirrors model's float64 reference function by function (Session, embed, block,
// norm, qkv, rope, attention, outProj, mlp, finalNorm, classify), over an mpc.Engine and the
// secure functions of package protocols, so the two can be read side by side.
//
// What each party learns is only what DESIGN.md allows: the model shape, the prompt length, the
// number of generated tokens and the KV budgets. Tokens enter as shares of one-hot rows (the
// embedding lookup is a shared matrix product, so no party learns a token), positions are
// public, and the next token leaves as shares that only the client reconstructs; inside the
// parties it stays shared as the next step's input.
//
// Departures from the reference, all exact in real arithmetic: the attention scale 1/√HeadDim is
// folded into the query weights and bias when the model is shared; the query, key and value
// projections are one matrix product (and LLaMA's gate and up projections another), so their
// rounds are shared.
package infer
