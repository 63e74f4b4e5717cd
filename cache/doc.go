// Package cache holds the secure KV-cache policies: implementations of infer.Policy that decide,
// on secret shares, which cached keys and values each layer's attention reads while decoding.
// Each one is the secure counterpart of a plaintext simulation in package model (the package doc
// there specifies them) and selects, index for index, what that simulation selects on the same
// inputs. The package knows nothing of networking or of transformers beyond the interface: the
// attention around a policy (query, softmax, output) is infer's, and every secure operation is an
// mpc.Engine primitive or a function of package protocols.
//
// # Policies
//
// Full cache: infer.NewFull, in package infer next to the interface (infer does not import this
// package). Every row of the cache is attended; it is the baseline of latency, communication and
// fidelity.
//
// StreamingLLM (NewStreamingLLM, model.StreamingLLM): attention sinks, the first Sinks positions,
// and a recent window of Window positions counting the new one. The positions depend on the
// public decode position only, so the policy keeps exactly those rows by public slicing and runs
// no secure selection at all.
//
// H2O (NewH2O, model.H2O): Heavy heavy-hitter slots by accumulated attention plus the Recent
// latest positions, per layer and KV head. Prefill keeps the top Heavy of the older prompt
// positions by accumulated prefill attention (protocols.TopK, then one oblivious gather); each
// decode step adds the step's probabilities to the accumulated scores and, once the window
// overflows, lets its oldest row compete with the slots: protocols.Argmax finds the least
// attended of the Heavy+1 (ties as model.H2O breaks them) and one product writes the row into
// that slot, or leaves the slots as they were when the row loses.
//
// MPCache (NewMPCache, model.MPCache with model.MPCacheParams; shared/research/mpcache.md):
//
//   - Look-once static eviction in each owner layer's prefill (static.go), shared by the layer's
//     heads: importance from the prefill probabilities of the last W = ⌊WindowRatio·T⌋ prompt
//     queries, which infer already computed (nothing is recomputed). The default keeps a fixed
//     budget K = max(1, ⌊StaticRatio·T⌋) by protocols.TopKMask over the T positions; the
//     threshold variant (MPCacheParams.Threshold > 0) keeps every position that some window row
//     gives at least Threshold, and opens the kept count (below). The kept rows become secret
//     one-hot rows in position order, and K and V are gathered by one product with them, once.
//   - Query-aware dynamic selection at every decode step of an owner layer (mpcache.go,
//     clusters.go): consecutive level-1 clusters of Cluster1 and level-2 clusters of Cluster2
//     rows of the kept sequence, per KV head; each complete cluster is represented by the blend
//     α·r_max + (1−α)·r_min of its keys' element-wise maximum and minimum, computed once, at the
//     start of the step after the one that completes it (a level-1 cluster's from its
//     children's). One product scores all
//     complete clusters with the linear similarity q·blend (public α, no comparison); a top-k
//     keeps ⌊Ratio1·G1⌋ middle level-1 clusters; their children and the children of the forced
//     sink and newest level-1 clusters are the level-2 candidates; a second top-k keeps
//     ⌊Ratio2·G2⌋ of those; the sink and newest level-2 clusters are always attended. The
//     selection is a secret one-hot matrix over the middle level-2 clusters. The step does not
//     gather keys or values: it scores all rows with one product and picks the selected
//     clusters' scores by a product with the one-hot matrix, and Mix scatters the probabilities
//     back by its transpose, so the softmax (the expensive nonlinear part) runs on the selected
//     rows only.
//   - Cross-layer index sharing by a model.Schedule (default model.DefaultSchedule: the first
//     two and the last two layers own their selection, in between every odd layer reuses the
//     even layer before it). A reusing layer runs neither eviction nor selection: it gathers its
//     own kept rows with its owner's one-hot rows and reads its owner's selection of the step.
//
// Why the level-2 top-k runs over candidates only: the alternative, protocols.TopKWith over all
// M2 middle level-2 clusters with a secret eligibility mask derived from the level-1 selection,
// needs no extra product but compares M2(M2−1)/2 pairs per KV head. Gathering the candidates'
// scores with the level-1 selection (one product) and composing the two selections afterwards
// (one more) costs two rounds of linear products and leaves C ≈ Ratio1·M2 candidates, so about
// Ratio1² as many comparisons: a quarter at the default Ratio1 = 0.5. Top-k's rounds do not
// depend on its width, and comparisons are most of its bytes.
//
// # What is public and what stays secret
//
// Public, as shared/DESIGN.md section 2 allows: the model shape, the prompt length, the number of
// generated tokens, each policy's parameters (budgets, ratios, cluster sizes, α, the schedule)
// and every count derived from them and the public position: StreamingLLM's positions; H2O's
// number of slots and its window's positions; MPCache's kept count K, cluster counts G1 and G2,
// selected counts and the number of attended rows S (MPCache.Attended), which layers select and
// when a cluster completes. Rounds and message sizes depend on nothing else.
//
// Secret: every selected index and every score. Which prompt positions the static eviction keeps,
// H2O's heavy positions, accumulated attention and which slot a step replaces (and whether the
// window's row enters at all), MPCache's importance sums, cluster representatives and scores,
// both levels' selections and the attended positions; and, as everywhere, keys, values, queries,
// attention scores and probabilities. Selections exist only as shared one-hot rows, masks and
// ring-integer positions; rows are picked by products with them (oblivious gathers), never by an
// opened index, and protocols open only uniformly masked values.
//
// The one exception is the threshold variant of the static eviction, which opens its kept count
// K to every party: each owner layer reveals how many prompt tokens it keeps (nothing about which
// ones), since the count then decides the shapes of everything after it. The fixed budget, the
// default, reveals nothing. RandomCache refuses the threshold variant, whose kept count no random
// start can stand in for.
//
// TestDecodeOblivious checks this for H2O and MPCache in 2pc and 3pc: runs whose selections
// differ give every party views of the decode steps with identical message sequences and sizes,
// uniformly random contents, the same distributions, no Open or OpenTo call, and, in 2pc, uniform
// values reconstructed from each exchange. StreamingLLM's selection is public, so there it has
// nothing to check.
//
// # Cost of a decode step
//
// Per layer and step, beyond what infer runs around the policy (projections, softmax over the S
// attended rows, MLP). Layers run one after the other, so rounds add up over the layers. In 2pc
// the cached rows are fixed product operands (mpc.Engine.Fix): each row is masked once, when it
// enters the cache, and the new row of each step costs one round for all policies (3pc: local).
// The full cache and MPCache keep their rows as mpc.Rows, which products read in place: a step
// copies its new row, not the cache (re-concatenating and transposing a 2048-row cache at every
// step took more time than the full cache's arithmetic).
//
//   - Full and StreamingLLM: the fixed-point products q·Kᵀ and probs·V over the attended rows
//     (2 rounds each with their truncation; in 2pc they open only q and the probabilities).
//     Nothing else: StreamingLLM saves against the full cache only through its smaller
//     S = min(pos+1, Sinks+Window).
//   - H2O: the same products over at most Heavy+Recent+1 rows, and, once the window is full,
//     every step: protocols.Argmax over Heavy+1 per KV head, one element-wise product updating
//     Heavy·(2·HeadDim+2) elements per KV head; in 2pc the changed slots are fixed with the next
//     step's new row, in the same round.
//   - MPCache, owner layer: q fixed (2pc: 1 round, opening q once), then the scoring products
//     over the n rows (read in place, mpc.Rows) and over the complete clusters' blends, which
//     open nothing more in 2pc (3pc: 1 round each), the level-1 top-k over M1 ≈ G1 clusters,
//     one product gathering the candidates' scores, the level-2 top-k over C candidates, one product composing the
//     selection, one round fixing it (2pc), one product picking the selected scores and one
//     truncation of the S picked ones; Mix adds one scatter product and the value product. The
//     comparisons number about M1²/2 + C²/2 per KV head: they grow with the number of clusters,
//     not of tokens. On the step after one that completes a cluster, protocols.Max computes its
//     representatives (one truncation more; they are fixed with the new row). By FSS comparisons
//     (each top-k 2 rounds in 2pc, 4 in 3pc) an owner layer costs 9 rounds more than the full
//     cache in 2pc and 14 more in 3pc; by the circuit (9 and 10 rounds per top-k) 14 and 12
//     more on top of those.
//   - MPCache, sharing layer: the scoring product, the pick and scatter products with the owner's
//     fixed selection and the value product: no comparison, 2 rounds more than the full cache in
//     2pc and 3 in 3pc.
//
// Bytes follow the attended rows: the softmax's exponentials, maximum and reciprocal, most of
// the full cache's decode traffic, run on S rows instead of the whole cache, which is where the
// evicting policies save, while the linear products over all n rows open only queries and
// probability vectors in 2pc (3pc: 8 bytes per output element). Rounds shrink far less: the
// softmax's maximum loses a few tournament levels and selection adds the rounds above, so on a
// WAN rounds weigh as much as bytes (shared/research/mpcache.md, section 7). MeasureDecode gives
// the measured figures per label.
//
// The prefill's own work (MeasurePrefill): H2O, per layer, one top-k over the T−Recent older
// positions and one gather (when they are more than Heavy); MPCache, per owner layer, the
// eviction's top-k mask over T positions, T(T−1)/2 comparisons in one batch (the dominant cost
// of MPCache's prefill beyond the transformer's own attention; the threshold variant compares
// W·T + T values instead and opens K), one OneHot round turning the mask into one-hot rows, the
// gather, and the representatives of every complete cluster; a sharing layer only gathers, with
// its owner's rows.
//
// # Measuring
//
// measure.go measures decode steps at long contexts without running a long prefill: RandomCache
// wraps infer.Full or a policy of this package so that its Prefill leaves in each layer what a
// prefill of the given context would leave there (as many rows, MPCache's kept set of the
// configured budget with representatives, H2O's slots and window), filled with random shares
// from a seed every party passes alike. Decode costs depend on shapes only, so the figures are
// those of a real prompt of that length; the outputs are meaningless, and results must say that
// the cache did not come from a real prefill. MeasureDecode runs such decode steps for a model
// shape with random weights (infer.RandomShares), all parties in this process over the in-memory
// network, and reports per step a Cost: wall and CPU time, online and offline bytes, rounds and
// P0's figures per meter label (ByOperation merges the layers; WAN estimates the time on a given
// round trip and bandwidth). MeasurePrefill measures each policy's Prefill alone on random keys,
// values and probabilities.
package cache
