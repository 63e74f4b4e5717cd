#!/usr/bin/env python3
"""Train the project's small GPT-2-style default model on tinyshakespeare and export it in
Hugging Face layout (see README.md in this folder for the exact command).

Steps, all in one run:
  1. split the corpus: the first int(0.9 * len) bytes train, the rest is held out;
  2. train a byte-level BPE tokenizer (GPT-2 conventions, <= 1024 tokens) on the training part;
  3. optionally (--sweep-dropout/--sweep-steps) choose dropout and step count on a validation
     split inside the training part (its last 10%), fitting each candidate on the rest;
     then train a GPT-2 model (LayerNorm, learned positions, GeLU-tanh, biases, tied lm_head),
     context 1024, on random 1024-token windows of the whole training part;
  4. evaluate train and held-out loss (per token and per byte) on non-overlapping windows;
  5. export config.json, model.safetensors, tokenizer files and expected_logits.json (float64
     reference forward in numpy over the exported weights: last-position logits for a few prompts
     and a 32-token greedy continuation);
  6. optionally (--verify-hf) load the export with transformers' GPT2LMHeadModel / AutoTokenizer
     and check that it reproduces the tokenisation, the logits and the greedy continuation.

Plain PyTorch, no network. Parameter names and layouts are those of transformers'
GPT2LMHeadModel (Conv1D weights stored [in, out], fused c_attn = [q | k | v]).
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe  # noqa: E402

T0 = time.time()


def log(*a):
    print(f"[{time.time() - T0:7.1f}s]", *a, flush=True)


# ---------------------------------------------------------------------------------------------
# Model (names mirror transformers' GPT2LMHeadModel so state_dict() is the HF checkpoint)
# ---------------------------------------------------------------------------------------------


class Conv1D(nn.Module):
    """HF GPT-2 Conv1D: y = x @ W + b with W stored [in, out]."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_in, n_out))
        self.bias = nn.Parameter(torch.zeros(n_out))

    def forward(self, x):
        return torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight).view(*x.shape[:-1], -1)


class Attention(nn.Module):
    def __init__(self, d, n_head, dropout):
        super().__init__()
        self.n_head = n_head
        self.c_attn = Conv1D(d, 3 * d)
        self.c_proj = Conv1D(d, d)
        self.dropout = dropout
        self.resid_dropout = nn.Dropout(dropout)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        hd = C // self.n_head
        q = q.view(B, T, self.n_head, hd).transpose(1, 2)
        k = k.view(B, T, self.n_head, hd).transpose(1, 2)
        v = v.view(B, T, self.n_head, hd).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, d, dropout):
        super().__init__()
        self.c_fc = Conv1D(d, 4 * d)
        self.c_proj = Conv1D(4 * d, d)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x), approximate="tanh")))


class Block(nn.Module):
    def __init__(self, d, n_head, eps, dropout):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d, eps=eps)
        self.attn = Attention(d, n_head, dropout)
        self.ln_2 = nn.LayerNorm(d, eps=eps)
        self.mlp = MLP(d, dropout)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d = cfg["n_embd"]
        self.wte = nn.Embedding(cfg["vocab_size"], d)
        self.wpe = nn.Embedding(cfg["n_positions"], d)
        self.drop = nn.Dropout(cfg["embd_pdrop"])
        self.h = nn.ModuleList(
            [Block(d, cfg["n_head"], cfg["layer_norm_epsilon"], cfg["resid_pdrop"]) for _ in range(cfg["n_layer"])]
        )
        self.ln_f = nn.LayerNorm(d, eps=cfg["layer_norm_epsilon"])


class GPT2LM(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.transformer = Transformer(cfg)
        std = cfg["initializer_range"]
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, 0.0, std / math.sqrt(2 * cfg["n_layer"]))
            elif name.endswith(".weight") and p.dim() == 2:
                nn.init.normal_(p, 0.0, std)
            elif name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name.endswith("ln_f.weight"):
                nn.init.ones_(p)
            else:
                nn.init.zeros_(p)

    def forward(self, idx):
        t = self.transformer
        T = idx.shape[1]
        pos = torch.arange(T, device=idx.device)
        x = t.drop(t.wte(idx) + t.wpe(pos))
        for blk in t.h:
            x = blk(x)
        x = t.ln_f(x)
        return x @ t.wte.weight.t()  # tied lm_head


# ---------------------------------------------------------------------------------------------
# float64 reference forward (numpy), used for expected_logits.json
# ---------------------------------------------------------------------------------------------


def ref_forward(W, cfg, ids):
    """Straightforward float64 GPT-2 forward over HF-named weights. Returns logits [T, vocab]."""
    d, H, L, eps = cfg["n_embd"], cfg["n_head"], cfg["n_layer"], cfg["layer_norm_epsilon"]
    hd = d // H

    def ln(x, p):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + eps) * W[p + ".weight"] + W[p + ".bias"]

    def gelu(x):
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))

    T = len(ids)
    x = W["transformer.wte.weight"][ids] + W["transformer.wpe.weight"][:T]
    mask = np.triu(np.ones((T, T), dtype=bool), 1)
    for l in range(L):
        p = f"transformer.h.{l}."
        h = ln(x, p + "ln_1")
        qkv = h @ W[p + "attn.c_attn.weight"] + W[p + "attn.c_attn.bias"]
        q, k, v = qkv[:, :d], qkv[:, d : 2 * d], qkv[:, 2 * d :]
        out = np.empty((T, d))
        for i in range(H):
            s = slice(i * hd, (i + 1) * hd)
            a = (q[:, s] @ k[:, s].T) / math.sqrt(hd)
            a[mask] = -np.inf
            a = np.exp(a - a.max(-1, keepdims=True))
            a /= a.sum(-1, keepdims=True)
            out[:, s] = a @ v[:, s]
        x = x + out @ W[p + "attn.c_proj.weight"] + W[p + "attn.c_proj.bias"]
        h = ln(x, p + "ln_2")
        h = gelu(h @ W[p + "mlp.c_fc.weight"] + W[p + "mlp.c_fc.bias"])
        x = x + h @ W[p + "mlp.c_proj.weight"] + W[p + "mlp.c_proj.bias"]
    x = ln(x, "transformer.ln_f")
    return x @ W["transformer.wte.weight"].T


def ref_greedy(W, cfg, ids, n):
    ids = list(ids)
    out = []
    for _ in range(n):
        nxt = int(np.argmax(ref_forward(W, cfg, ids)[-1]))
        out.append(nxt)
        ids.append(nxt)
    return out


# ---------------------------------------------------------------------------------------------


@torch.no_grad()
def evaluate(model, data, nbytes_of, ctx, device, batch=32):
    """Loss over non-overlapping windows of ctx+1 tokens (each window predicts ctx tokens).

    Returns (nats per token, nats per byte, tokens scored, bytes scored)."""
    was_training = model.training
    model.eval()
    n_win = (len(data) - 1) // ctx
    tot, ntok, nbytes = 0.0, 0, 0
    for s in range(0, n_win, batch):
        ws = range(s, min(n_win, s + batch))
        x = torch.stack([data[w * ctx : w * ctx + ctx] for w in ws]).to(device)
        y = torch.stack([data[w * ctx + 1 : w * ctx + ctx + 1] for w in ws]).to(device)
        logits = model(x).float()
        tot += F.cross_entropy(logits.view(-1, logits.shape[-1]), y.view(-1), reduction="sum").item()
        ntok += y.numel()
        nbytes += int(torch.stack([nbytes_of[w * ctx + 1 : w * ctx + ctx + 1] for w in ws]).sum())
    model.train(was_training)
    return tot / ntok, tot / nbytes, ntok, nbytes


def save_safetensors(model, path, dtype):
    from safetensors.torch import save_file

    sd = {k: v.detach().to("cpu", dtype).contiguous() for k, v in model.state_dict().items()}
    save_file(sd, path, metadata={"format": "pt"})
    return sd


def make_cfg(args, vocab, eot_id, dropout):
    return {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": vocab,
        "n_positions": args.ctx,
        "n_ctx": args.ctx,
        "n_embd": args.n_embd,
        "n_layer": args.n_layer,
        "n_head": args.n_head,
        "n_inner": None,
        "activation_function": "gelu_new",
        "layer_norm_epsilon": 1e-5,
        "initializer_range": 0.02,
        "resid_pdrop": dropout,
        "embd_pdrop": dropout,
        "attn_pdrop": dropout,
        "scale_attn_weights": True,
        "scale_attn_by_inverse_layer_idx": False,
        "reorder_and_upcast_attn": False,
        "tie_word_embeddings": True,
        "bos_token_id": eot_id,
        "eos_token_id": eot_id,
        "use_cache": True,
        "dtype": args.dtype,
    }


def train_run(args, cfg, train_data, eval_data, eval_nb, steps, device, tag, max_seconds):
    """One training run from a fresh initialisation (seed args.seed). Returns (model, history, seconds, steps_done)."""
    torch.manual_seed(args.seed)
    model = GPT2LM(cfg).to(device)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr,
        betas=(0.9, 0.95),
        fused=device == "cuda",
    )
    fwd = torch.compile(model) if args.compile else model

    def lr_at(step):
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        p = min(1.0, (step - args.warmup) / max(1, steps - args.warmup))
        return args.lr * (args.min_lr_frac + (1 - args.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * p)))

    gen = torch.Generator().manual_seed(args.seed)
    train_gpu = train_data.to(device)
    offs = torch.arange(args.ctx + 1, device=device)
    log(f"[{tag}] training {steps} steps x batch {args.batch} x {args.ctx} tokens, lr {args.lr}, dropout {cfg['resid_pdrop']}")
    history = []
    t0 = time.time()
    model.train()
    step = 0
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        starts = torch.randint(0, len(train_data) - args.ctx - 1, (args.batch,), generator=gen).to(device)
        w = train_gpu[starts[:, None] + offs]
        x, y = w[:, :-1], w[:, 1:]
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=args.bf16 and device == "cuda"):
            logits = fwd(x)
        loss = F.cross_entropy(logits.float().view(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        last = step == steps - 1
        if (step + 1) % args.eval_every == 0 or last:
            et, eb, _, _ = evaluate(model, eval_data, eval_nb, args.ctx, device)
            el = time.time() - t0
            history.append({"step": step + 1, "batch_loss": round(loss.item(), 4), "eval_loss": round(et, 4), "eval_loss_per_byte": round(eb, 4)})
            log(f"[{tag}] step {step + 1:5d} batch loss {loss.item():.4f} lr {lr_at(step):.2e} | eval {et:.4f} nats/tok {eb:.4f} nats/B ({el:.1f}s, {el / (step + 1) * 1000:.1f} ms/step)")
        if time.time() - t0 > max_seconds:
            log(f"[{tag}] !! stopping early at step {step + 1}: over the time limit")
            break
    if device == "cuda":
        torch.cuda.synchronize()
    model.eval()
    return model, history, time.time() - t0, step + 1


def parse_list(s, typ):
    return [typ(v) for v in s.split(",") if v]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=".train/input.txt")
    ap.add_argument("--out", default="out/shakespeare-gpt2")
    ap.add_argument("--vocab", type=int, default=1024)
    ap.add_argument("--ctx", type=int, default=1024)
    ap.add_argument("--n-embd", type=int, default=160)
    ap.add_argument("--n-layer", type=int, default=4)
    ap.add_argument("--n-head", type=int, default=4)
    ap.add_argument("--dropout", type=float, default=0.2)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr-frac", type=float, default=0.1)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--max-train-seconds", type=float, default=300.0, help="safety stop for each training loop")
    ap.add_argument("--sweep-dropout", default="", help="comma list; with --sweep-steps, choose dropout and steps on a validation split")
    ap.add_argument("--sweep-steps", default="", help="comma list of step counts for the sweep")
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--dtype", default="float32", choices=["float32", "float16"], help="stored weight dtype")
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast for training (eval/export stay fp32)")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--verify-hf", action="store_true", help="check the export with transformers")
    args = ap.parse_args()

    np.random.seed(args.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    log(f"torch {torch.__version__} device {device}" + (f" ({torch.cuda.get_device_name()})" if device == "cuda" else ""))

    # ---- data split -------------------------------------------------------------------------
    raw = open(args.data, "rb").read()
    text = raw.decode("utf-8")
    assert text.isascii(), "the byte split below assumes ASCII text"
    n_split = int(0.9 * len(text))
    train_text, held_text = text[:n_split], text[n_split:]
    log(f"corpus {len(text)} bytes; train = [0, {n_split}), held-out = [{n_split}, {len(text)}) ({len(held_text)} bytes)")

    # ---- tokenizer (trained on the training part only) ----------------------------------------
    t = time.time()
    merges = bpe.train_bpe(train_text, args.vocab, log=None)
    tok = bpe.Tokenizer(merges)
    assert len(tok) == args.vocab, len(tok)
    train_ids = tok.encode(train_text)
    held_ids = tok.encode(held_text)
    assert tok.decode(train_ids) == train_text and tok.decode(held_ids) == held_text
    log(
        f"BPE: {len(merges)} merges, vocab {len(tok)} (eot id {tok.eot_id}) in {time.time() - t:.1f}s; "
        f"train {len(train_ids)} tokens ({len(train_text) / len(train_ids):.3f} B/tok), "
        f"held-out {len(held_ids)} tokens ({len(held_text) / len(held_ids):.3f} B/tok)"
    )
    tok_bytes = np.array([len(bytes(bpe.BYTE_DECODER[c] for c in tok.inv[i])) for i in range(len(tok))])

    def tensors(ids):
        return torch.tensor(ids, dtype=torch.long), torch.tensor(tok_bytes[ids])

    train_data, train_nb = tensors(train_ids)
    held_data, held_nb = tensors(held_ids)

    # ---- optional sweep: choose dropout and steps on a validation split of the training part ----
    sweep = []
    dropout, steps = args.dropout, args.steps
    if args.sweep_dropout and args.sweep_steps:
        n_val = int(0.9 * len(train_text))
        sub_data, _ = tensors(tok.encode(train_text[:n_val]))
        val_data, val_nb = tensors(tok.encode(train_text[n_val:]))
        log(f"sweep: fit on train bytes [0, {n_val}) ({len(sub_data)} tokens), validate on [{n_val}, {n_split}) ({len(val_data)} tokens)")
        for dp in parse_list(args.sweep_dropout, float):
            for st in parse_list(args.sweep_steps, int):
                cfg = make_cfg(args, len(tok), tok.eot_id, dp)
                m, hist, secs, done = train_run(args, cfg, sub_data, val_data, val_nb, st, device, f"sweep d{dp} s{st}", args.max_train_seconds)
                vt, vb, _, _ = evaluate(m, val_data, val_nb, args.ctx, device)
                sweep.append({"dropout": dp, "steps": st, "steps_done": done, "val_loss": round(vt, 4), "val_loss_per_byte": round(vb, 4), "seconds": round(secs, 1), "history": hist})
                log(f"sweep result: dropout {dp} steps {st}: validation {vt:.4f} nats/tok {vb:.4f} nats/B")
                del m
        best = min(sweep, key=lambda r: r["val_loss"])
        dropout, steps = best["dropout"], best["steps"]
        log("sweep table (validation loss, nats/token):")
        for r in sweep:
            log(f"   dropout {r['dropout']:.2f} steps {r['steps']:5d}: {r['val_loss']:.4f}{'   <- chosen' if r is best else ''}")

    # ---- final training on the whole training part --------------------------------------------
    cfg = make_cfg(args, len(tok), tok.eot_id, dropout)
    model, history, train_seconds, steps_done = train_run(args, cfg, train_data, held_data, held_nb, steps, device, "final", args.max_train_seconds)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"model: {args.n_layer} layers, d={args.n_embd}, {args.n_head} heads, ctx {args.ctx}: {n_params} parameters; trained {steps_done} steps in {train_seconds:.1f}s")

    # ---- export -----------------------------------------------------------------------------
    os.makedirs(args.out, exist_ok=True)
    dtype = {"float32": torch.float32, "float16": torch.float16}[args.dtype]
    sd = save_safetensors(model, os.path.join(args.out, "model.safetensors"), dtype)
    # evaluate the stored weights (after any cast) so the reported loss is that of the shipped model
    with torch.no_grad():
        for k, v in model.state_dict().items():
            v.copy_(sd[k].to(v.dtype))
    tr = evaluate(model, train_data, train_nb, args.ctx, device)
    ho = evaluate(model, held_data, held_nb, args.ctx, device)
    log(f"final train    {tr[0]:.4f} nats/token  {tr[1]:.4f} nats/byte  ({tr[2]} tokens, {tr[3]} bytes)")
    log(f"final held-out {ho[0]:.4f} nats/token  {ho[1]:.4f} nats/byte  ({ho[2]} tokens, {ho[3]} bytes)")

    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    tok.save_hf(args.out, model_max_length=args.ctx)

    # ---- expected logits (float64 reference over the stored weights) ---------------------
    W = {k: v.to(torch.float64).numpy() for k, v in sd.items()}
    # a long prompt from the held-out text, cut at a line end to at most 960 tokens
    long_text = held_text[:2400]
    while len(tok.encode(long_text)) > 960:
        long_text = long_text[: long_text.rstrip("\n").rfind("\n") + 1]
    prompts = [
        "ROMEO:",
        "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\n",
        "KING RICHARD III:\nNow is the winter of our discontent",
        long_text,
    ]
    cases = []
    for ptxt in prompts:
        ids = tok.encode(ptxt)
        logits = ref_forward(W, cfg, ids)[-1]
        cont = ref_greedy(W, cfg, ids, 32)
        order = np.argsort(-logits)[:20]
        with torch.no_grad():
            tl = model(torch.tensor([ids], device=device)).double()[0, -1].cpu().numpy()
        log(f"prompt {len(ids)} tokens: torch-fp32 vs float64 ref max|diff| {np.abs(tl - logits).max():.2e}")
        cases.append(
            {
                "prompt": ptxt,
                "input_ids": ids,
                "last_logits": [float(v) for v in logits],
                "top20": [{"id": int(i), "token": tok.inv[int(i)], "logit": float(logits[i])} for i in order],
                "greedy_ids": cont,
                "greedy_text": tok.decode(cont),
            }
        )
        log(f"  greedy: {tok.decode(cont)!r}")
    # a sampled (temperature 0.8) continuation for the model card, torch fp32
    sample_prompt = tok.encode("ROMEO:\n")
    with torch.no_grad():
        g = torch.Generator(device=device).manual_seed(args.seed)
        ids = torch.tensor([sample_prompt], device=device)
        for _ in range(200):
            lg = model(ids[:, -args.ctx :])[0, -1] / 0.8
            nxt = torch.multinomial(F.softmax(lg, -1), 1, generator=g)
            ids = torch.cat([ids, nxt[None]], 1)
        sample = tok.decode(ids[0].tolist())
    log("sample (T=0.8):\n" + sample)

    expected = {
        "description": "float64 reference forward over model.safetensors: last-position logits for each prompt "
        "and a 32-token greedy continuation (argmax, full recompute each step). Token ids from tokenizer.json.",
        "dtype": "float64",
        "n_greedy": 32,
        "cases": cases,
    }
    with open(os.path.join(args.out, "expected_logits.json"), "w") as f:
        json.dump(expected, f)
        f.write("\n")

    report = {
        "parameters": n_params,
        "config": {k: cfg[k] for k in ("n_layer", "n_embd", "n_head", "n_positions", "vocab_size")},
        "stored_dtype": args.dtype,
        "steps": steps_done,
        "batch": args.batch,
        "ctx": args.ctx,
        "tokens_seen": steps_done * args.batch * args.ctx,
        "train_tokens": len(train_ids),
        "heldout_tokens": len(held_ids),
        "split_byte": n_split,
        "lr": args.lr,
        "dropout": dropout,
        "weight_decay": args.weight_decay,
        "bf16": args.bf16,
        "compile": args.compile,
        "train_seconds": train_seconds,
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "train_loss_per_token": tr[0],
        "train_loss_per_byte": tr[1],
        "heldout_loss_per_token": ho[0],
        "heldout_loss_per_byte": ho[1],
        "history": history,
        "sweep": sweep,
        "sample": sample,
        "argv": sys.argv[1:],
    }

    if args.verify_hf:
        report["verify"] = verify_hf(args.out, cases, tok, held_text, held_ids)
    with open(os.path.join(args.out, "train_report.json"), "w") as f:
        json.dump(report, f, indent=1)
        f.write("\n")
    log(f"done in {time.time() - T0:.1f}s")
    if args.verify_hf and not report["verify"]["ok"]:
        sys.exit(1)


def verify_hf(out_dir, cases, tok, held_text, held_ids):
    """Load the export with transformers and tokenizers; compare with our reference."""
    import tokenizers
    import transformers
    from transformers import AutoTokenizer, GPT2LMHeadModel

    res = {"transformers": transformers.__version__, "tokenizers": tokenizers.__version__}
    log(f"verify: transformers {transformers.__version__}, tokenizers {tokenizers.__version__}")
    ok = True

    raw_tok = tokenizers.Tokenizer.from_file(os.path.join(out_dir, "tokenizer.json"))
    hf_tok = AutoTokenizer.from_pretrained(out_dir)
    log(f"  AutoTokenizer -> {type(hf_tok).__name__}, len {len(hf_tok)}, eos {hf_tok.eos_token!r}={hf_tok.eos_token_id}")
    res["auto_tokenizer_class"] = type(hf_tok).__name__
    same_raw = raw_tok.encode(held_text).ids == held_ids
    same_auto = hf_tok(held_text)["input_ids"] == held_ids
    roundtrip = hf_tok.decode(held_ids) == held_text
    eot = hf_tok("a<|endoftext|>b")["input_ids"]
    log(f"  held-out text ids equal: tokenizers {same_raw}, AutoTokenizer {same_auto}; decode round-trip {roundtrip}; 'a<|endoftext|>b' -> {eot}")
    res.update(heldout_ids_equal_tokenizers=same_raw, heldout_ids_equal_auto=same_auto, decode_roundtrip=roundtrip)
    ok &= same_raw and same_auto and roundtrip and eot == [tok.vocab["a"], tok.eot_id, tok.vocab["b"]]

    model, info = GPT2LMHeadModel.from_pretrained(out_dir, output_loading_info=True)
    model.eval()
    log(f"  GPT2LMHeadModel loading info: {info}")
    res["loading_info"] = {k: list(v) if not isinstance(v, (str, int, float)) else v for k, v in info.items()}
    ok &= not info.get("missing_keys") and not info.get("unexpected_keys") and not info.get("mismatched_keys")
    tied = model.lm_head.weight.data_ptr() == model.transformer.wte.weight.data_ptr()
    log(f"  lm_head tied to wte: {tied}; dtype {model.dtype}")
    ok &= tied
    m64 = GPT2LMHeadModel.from_pretrained(out_dir, dtype=torch.float64).eval()
    res["cases"] = []
    for c in cases:
        ids = hf_tok(c["prompt"])["input_ids"]
        ref = np.array(c["last_logits"])
        with torch.no_grad():
            l32 = model(torch.tensor([ids])).logits[0, -1].double().numpy()
            l64 = m64(torch.tensor([ids])).logits[0, -1].numpy()
            g32 = model.generate(torch.tensor([ids]), max_new_tokens=32, do_sample=False, pad_token_id=tok.eot_id)[0, len(ids):].tolist()
            g64 = m64.generate(torch.tensor([ids]), max_new_tokens=32, do_sample=False, pad_token_id=tok.eot_id)[0, len(ids):].tolist()
        r = {
            "n_tokens": len(ids),
            "ids_equal": ids == c["input_ids"],
            "max_abs_diff_fp32": float(np.abs(l32 - ref).max()),
            "max_abs_diff_fp64": float(np.abs(l64 - ref).max()),
            "greedy_equal_fp32": g32 == c["greedy_ids"],
            "greedy_equal_fp64": g64 == c["greedy_ids"],
        }
        log(f"  prompt {len(ids)} tok: {r}")
        res["cases"].append(r)
        ok &= r["ids_equal"] and r["max_abs_diff_fp32"] < 1e-3 and r["max_abs_diff_fp64"] < 1e-9 and r["greedy_equal_fp64"]
    res["ok"] = bool(ok)
    log(f"verify: {'OK' if ok else 'FAILED'}")
    return res


if __name__ == "__main__":
    main()
