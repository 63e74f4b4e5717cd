// Package model is the plaintext side of the project: model configs, weight loaders,
// tokenizers, a float64 reference forward with a KV cache (and its fixed-point emulation),
// and plaintext simulations of the KV-cache policies. Every secure result is checked
// against it; infer/ mirrors the forward function by function and cache/ follows the
// policy specifications below index for index. It imports only the standard library.
//
// # Models
//
// A Config describes a LLaMA-style (RMSNorm, rotary positions, grouped-query attention,
// SwiGLU, optionally tied classifier) or GPT-2-style (LayerNorm, learned positions,
// GeLU-tanh, biases, tied classifier) decoder. Weights holds every parameter as float64.
//
//   - LoadLlama2C reads llama2.c version-0 checkpoints; LoadLlama2CTokenizer reads
//     tokenizer.bin.
//   - LoadHF reads Hugging Face directories (config.json plus model.safetensors or the
//     shards of model.safetensors.index.json; F32, F16, BF16 or F64) for model_type gpt2
//     and llama; LoadHFTokenizer reads tokenizer.json (GPT-2 byte-level BPE, or LLaMA
//     SentencePiece BPE with byte fallback) and tokenizer_config.json.
//   - Open picks the right loader for a path.
//   - Shape, RandomWeights and RandomLayer give synthetic shapes (gpt2-124m, gpt2-medium,
//     llama-7b, llama-test, gpt2-test) with seeded random weights; Shape alone is cheap.
//
// # Weight layout conventions
//
// Every matrix is row-major [out][in] (PyTorch nn.Linear's layout), so a projection is
// y[o] = Σ_i W[o][i]·x[i] + b[o]. Hugging Face GPT-2 stores Conv1D weights as [in][out];
// LoadHF transposes them and splits the fused c_attn (rows q, then k, then v after
// transposition) into Wq, Wk, Wv with biases Bq, Bk, Bv. GPT-2 checkpoints may or may not
// prefix names with "transformer."; lm_head is ignored (tied).
//
// Rotary embeddings use one internal layout, llama2.c's interleaved one: within each head
// of width hd, the pair (2i, 2i+1) of a query or key is rotated by the angle
// pos·θ^(−2i/hd). Hugging Face LLaMA checkpoints use the rotate-half layout, pairing
// (i, i+hd/2) with the same angle; LoadHF permutes the rows of q_proj and k_proj per head
// (new row 2i = old row i, new row 2i+1 = old row i+hd/2), which inverts the permutation
// of Hugging Face's conversion script. Attention scores are unchanged by this permutation,
// so the same weights give identical logits through both loaders.
//
// Query head h reads KV head h/GroupSize (GroupSize = Heads/KVHeads). Keys are cached
// after rotation, at the position they were computed for; no policy ever re-rotates them.
//
// # Reference forward
//
// A Session runs one sequence: Prefill (the whole prompt, batched, causal attention), then
// Decode per token. Each block is, in order: norm → qkv → rope (LLaMA) → append to the
// cache → attention (scores, softmax, mixValues) → outProj → residual add → norm → mlp
// (SwiGLU or GeLU) → residual add; then finalNorm and classify. Generate, Greedy and TopP
// (seeded temperature/top-p sampling) drive generation; NucleusCDF is the top-p variant that
// the secure computation implements (nucleus by threshold, ties included; inverse CDF in
// vocabulary order at a given uniform), for token-for-token comparison.
//
// With Options.FracBits = f > 0 the same forward emulates fixed point: weights are
// rounded to the nearest multiple of 2^−f once; every product or dot product (matrix
// products, norm scaling, rotary rotation, score scaling, the probability-weighted value
// sum) is computed exactly and then truncated toward −∞ to f bits (an arithmetic shift by
// f in the ring); additions are exact; nonlinear outputs (exp, reciprocal, 1/√x, SiLU,
// GeLU, cos, sin) and public constants (1/d, eps, 1/√hd) are rounded to nearest. Accuracy
// lost to fixed point can so be told apart from protocol error. Policy arithmetic (scores,
// sums) stays in float64.
//
// # Cache policies
//
// A Policy chooses, at each decode step, for each layer and KV head, the positions that
// the query heads of that KV head attend over; Options.Trace receives every choice as a
// Selection (step, layer, KV head, position, indices), so secure versions can be compared
// index for index. Prefill is always full causal attention; policies see its probabilities
// (PrefillRow) and may evict after each layer (EndPrefill). Selections are per KV head:
// with grouped-query attention the query heads of a group share one selection. The new
// token is always attended.
//
// Common rules. Positions are absolute and 0-based; the prompt has T tokens, so the token
// decoded at step s sits at position T+s. Every top-k is TopK: largest score first, lower
// index first among equal scores, result in increasing order. Every ratio-derived count is
// FloorFrac(ratio, n) = ⌊ratio·n⌋.
//
// Full: all positions 0..pos.
//
// StreamingLLM{Sinks, Window}: positions 0..min(Sinks, pos+1)−1 and
// max(Sinks, pos+1−Window)..pos. Public indices, no secure selection needed.
//
// H2O{Heavy, Recent}: see the H2O type. Scores accumulate every attention probability a
// position has received (prefill and decode queries, summed over the group's query
// heads); after prefill and after each decode step the KV head keeps the last Recent
// positions plus the TopK of the rest by score, Heavy of them; decoding attends over the
// kept positions and the new token (at most Heavy+Recent+1).
//
// MPCache (MPCacheParams; defaults from the paper):
//
//  1. Look-once static eviction, once per owner layer after its prefill. The window is
//     the last W = max(1, FloorFrac(0.2, T)) prompt queries (ratio 0.1 when T > 24000).
//     A[r][j] = (1/Heads)·Σ_h P_h[T−W+r][j] is the head-averaged causal prefill
//     probability (0 for j > T−W+r). Fixed-budget variant (default): the layer keeps
//     TopK(s, 0..T−1, K) with s_j = Σ_r A[r][j] and K = max(1, FloorFrac(StaticRatio, T)),
//     StaticRatio 0.5 by default; K is public. Threshold variant (Threshold > 0): keep j
//     when max_r A[r][j] ≥ Threshold; the count is then data-dependent. The kept set is
//     shared by all heads of the layer.
//  2. Dynamic selection, at every decode step, for each owner layer and KV head. The
//     sequence S is the kept prompt positions followed by every generated position
//     T..pos (generated tokens are always kept), n = |S|, indexed by rank 0..n−1.
//     Level-1 clusters are the rank blocks [32c, min(32c+32, n)), G1 = ⌈n/32⌉; level-2
//     clusters the blocks [16c, min(16c+16, n)), G2 = ⌈n/16⌉; level-1 cluster c has the
//     level-2 children 2c and 2c+1 (those < G2). The last cluster of each level may be
//     partial ("newest"). A cluster's representatives r_max and r_min are the element-wise
//     maximum and minimum of its keys (this KV head's rotated keys); its score is
//     q·(α·r_max + (1−α)·r_min), α = 0.6, where q is the sum of the rotated queries of the
//     KV head's query heads (for one query head per KV head, that query; summing is the
//     same as summing the heads' scores).
//     Level 1: select clusters 0 and G1−1 (forced), plus the TopK of the clusters
//     1..G1−2 by score, k1 = FloorFrac(0.5, G1) of them (all of them when fewer).
//     Level 2: the candidates are the children of the selected level-1 clusters; select
//     clusters 0 and G2−1 (forced; they are always candidates), plus the TopK of the
//     other candidates, k2 = FloorFrac(0.2, G2) of them (all when fewer). With few
//     clusters this degenerates gracefully: G = 1 selects {0}, G = 2 selects {0, 1}, and
//     k = 0 selects just the forced clusters. The numbers selected depend only on n, so
//     they are public.
//     Attention then reads the tokens of the selected level-2 clusters, in increasing
//     position order.
//  3. Cross-layer sharing: a Schedule maps each layer to the owner whose kept set and
//     per-step selections it reuses (an owner maps to itself; others to an earlier owner).
//     DefaultSchedule(L): layers 0, 1, L−2, L−1 own; for 2 ≤ l ≤ L−3 even layers own and
//     odd layers reuse l−1. Sharing layers still attend with their own keys and values.
//
// NewPolicySpec maps a policy name and a budget to parameters for the fidelity tool
// (Fidelity), which reports next-token agreement with the full cache, perplexity and the
// attended fraction of the cache.
package model
