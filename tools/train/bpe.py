"""GPT-2 style byte-level BPE: trainer, encoder and Hugging Face tokenizer.json writer.

Pure Python (stdlib plus the `regex` package for the GPT-2 pre-tokenisation pattern), so the
tokenizer is deterministic and can be built and checked without PyTorch.

Conventions follow OpenAI's GPT-2 encoder exactly:
  * bytes are mapped to printable unicode characters by bytes_to_unicode();
  * text is split into pre-tokens by the GPT-2 regex (no prefix space added);
  * ids 0..255 are the single-byte tokens in bytes_to_unicode() order (as in GPT-2's
    encoder.json), ids 256.. are the merges in rank order, and the last id is <|endoftext|>;
  * encoding applies the lowest-rank merge first, repeatedly, inside each pre-token.
"""

import collections
import json

try:
    import regex as re
except ImportError:  # pragma: no cover - the device machine and the dev machine have `regex`
    raise SystemExit("bpe.py needs the `regex` package (pip install regex)")

GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
EOT = "<|endoftext|>"

_pat = re.compile(GPT2_PATTERN)


def bytes_to_unicode():
    """GPT-2's reversible byte -> unicode character table, as a list of (byte, char) in GPT-2 order."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [(b, chr(c)) for b, c in zip(bs, cs)]


BYTE_ORDER = bytes_to_unicode()
BYTE_ENCODER = {b: c for b, c in BYTE_ORDER}
BYTE_DECODER = {c: b for b, c in BYTE_ORDER}


def pretokenize(text):
    """GPT-2 regex split, each piece mapped to its byte-level unicode string."""
    return ["".join(BYTE_ENCODER[b] for b in piece.encode("utf-8")) for piece in _pat.findall(text)]


def train_bpe(text, vocab_size=1024, log=print):
    """Learn vocab_size - 257 merges on `text`. Returns the list of merges [(a, b), ...] in rank order.

    Ties between equally frequent pairs are broken by the lexicographically smallest (a, b),
    so the result is deterministic.
    """
    n_merges = vocab_size - 256 - 1
    word_counts = collections.Counter(pretokenize(text))
    words = [list(w) for w in word_counts]
    counts = [word_counts[w] for w in word_counts]

    pair_counts = collections.Counter()
    where = collections.defaultdict(set)  # pair -> indices of words containing it
    for i, w in enumerate(words):
        c = counts[i]
        for a, b in zip(w, w[1:]):
            pair_counts[(a, b)] += c
            where[(a, b)].add(i)

    merges = []
    for step in range(n_merges):
        if not pair_counts:
            break
        cnt = max(pair_counts.values())
        pair = min(p for p, c in pair_counts.items() if c == cnt)
        if cnt < 1:
            break
        a, b = pair
        new = a + b
        merges.append(pair)
        for i in list(where[pair]):
            w = words[i]
            c = counts[i]
            # remove old pairs of this word
            for p in zip(w, w[1:]):
                pair_counts[p] -= c
                if pair_counts[p] <= 0:
                    del pair_counts[p]
                where[p].discard(i)
            # merge left to right
            out = []
            j = 0
            while j < len(w):
                if j + 1 < len(w) and w[j] == a and w[j + 1] == b:
                    out.append(new)
                    j += 2
                else:
                    out.append(w[j])
                    j += 1
            words[i] = out
            for p in zip(out, out[1:]):
                pair_counts[p] += c
                where[p].add(i)
        where.pop(pair, None)
        if log and (step + 1) % 128 == 0:
            log(f"  bpe merge {step + 1}/{n_merges}: {a!r}+{b!r} (count {cnt})")
    return merges


class Tokenizer:
    def __init__(self, merges):
        self.merges = [tuple(m) for m in merges]
        self.ranks = {m: i for i, m in enumerate(self.merges)}
        self.vocab = {}
        for b, c in BYTE_ORDER:
            self.vocab[c] = len(self.vocab)
        for a, b in self.merges:
            tok = a + b
            if tok in self.vocab:
                raise ValueError(f"duplicate token {tok!r}")
            self.vocab[tok] = len(self.vocab)
        self.eot_id = len(self.vocab)
        self.vocab[EOT] = self.eot_id
        self.inv = {i: t for t, i in self.vocab.items()}
        self._cache = {}

    def __len__(self):
        return len(self.vocab)

    def _bpe(self, word):
        hit = self._cache.get(word)
        if hit is not None:
            return hit
        parts = list(word)
        while len(parts) > 1:
            best, best_rank = None, None
            for p in zip(parts, parts[1:]):
                r = self.ranks.get(p)
                if r is not None and (best_rank is None or r < best_rank):
                    best, best_rank = p, r
            if best is None:
                break
            a, b = best
            out, j = [], 0
            while j < len(parts):
                if j + 1 < len(parts) and parts[j] == a and parts[j + 1] == b:
                    out.append(a + b)
                    j += 2
                else:
                    out.append(parts[j])
                    j += 1
            parts = out
        ids = [self.vocab[p] for p in parts]
        self._cache[word] = ids
        return ids

    def encode(self, text):
        """Encode plain text (no special tokens are recognised; <|endoftext|> is never produced)."""
        ids = []
        for w in pretokenize(text):
            ids.extend(self._bpe(w))
        return ids

    def decode(self, ids):
        out = bytearray()
        for i in ids:
            t = self.inv[int(i)]
            if t == EOT:
                out.extend(EOT.encode())
            else:
                out.extend(BYTE_DECODER[c] for c in t)
        return out.decode("utf-8", errors="replace")

    # ---- Hugging Face files -------------------------------------------------------------------

    def tokenizer_json(self):
        """The tokenizer.json document (same layout as openai-community/gpt2's)."""
        return {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": [
                {
                    "id": self.eot_id,
                    "content": EOT,
                    "single_word": False,
                    "lstrip": False,
                    "rstrip": False,
                    "normalized": True,
                    "special": True,
                }
            ],
            "normalizer": None,
            "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
            "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
            "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
            "model": {
                "type": "BPE",
                "dropout": None,
                "unk_token": None,
                "continuing_subword_prefix": "",
                "end_of_word_suffix": "",
                "fuse_unk": False,
                "byte_fallback": False,
                "vocab": self.vocab,
                "merges": [f"{a} {b}" for a, b in self.merges],
            },
        }

    def save_hf(self, out_dir, model_max_length=1024):
        import os

        with open(os.path.join(out_dir, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(self.tokenizer_json(), f, ensure_ascii=False, indent=1)
            f.write("\n")
        with open(os.path.join(out_dir, "vocab.json"), "w", encoding="utf-8") as f:
            json.dump(self.vocab, f, ensure_ascii=False)
            f.write("\n")
        with open(os.path.join(out_dir, "merges.txt"), "w", encoding="utf-8") as f:
            f.write("#version: 0.2\n")
            for a, b in self.merges:
                f.write(f"{a} {b}\n")
        cfg = {
            "tokenizer_class": "GPT2Tokenizer",
            "model_max_length": model_max_length,
            "bos_token": EOT,
            "eos_token": EOT,
            "unk_token": EOT,
            "add_prefix_space": False,
            "add_bos_token": False,
            "clean_up_tokenization_spaces": False,
        }
        with open(os.path.join(out_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
            json.dump(cfg, f, indent=2)
            f.write("\n")
