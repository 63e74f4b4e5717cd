// Package infer is the transformer on secret shares: prefill of a whole prompt, decoding with a
// secure KV cache, and greedy or top-p generation, for LLaMA-style blocks (RMSNorm, rotary positions,
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
// Sampling. Next is greedy (a secure argmax); Sample, and GenerateWith with a Sampling, draw
// the token by top-p sampling instead (protocols.SampleTopP), equal to model.NucleusCDF on the
// same uniform up to fixed-point error. Temperature and top-p are public; the uniform u ∈ [0, 1)
// of each step is the client's randomness, entering as shares like the prompt. p =
// softmax(logits/T); the nucleus is found without sorting, as every token of probability at
// least the threshold τ, the largest multiple of 2^−f with Σ p_i·[p_i ≥ τ] ≥ top-p, by a
// binary search over τ's f bits (each step one comparison batch over the vocabulary, one
// product, one comparison); ties at τ are all included (exact ties of the fixed-point
// probabilities: equal logits may come out of Softmax a unit apart). The token is the inverse
// CDF of the nucleus in vocabulary order at u: one more comparison batch against u·Σq, a
// one-hot by differences and its index, all linear. Nothing depending on the logits, the
// probabilities, u or the token is opened; the rounds depend on f only. For gpt2's 50257
// tokens one step costs 85 rounds, 29.8 MB online and 1.7 GB of FSS keys in 2pc (131 rounds,
// 27.5 MB, 1.7 GB in 3pc; the circuit comparisons trade that for 358 rounds, 240 MB online and
// 140 MB offline), see SampleTopP.
//
// Departures from the reference, all exact in real arithmetic: the attention scale 1/√HeadDim is
// folded into the query weights and bias when the model is shared; the query, key and value
// projections are one matrix product (and LLaMA's gate and up projections another), so their
// rounds are shared.
package infer
