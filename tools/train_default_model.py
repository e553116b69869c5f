"""Trains the embedded default model: a small RWKV-7 on the King James Bible.

Data recipe (public domain, from Debian's packages, nothing downloaded here):
    apt-get install bible-kjv        # the `bible` program and its KJV text
    bible -f "Gen1:1-Rev22:21"       # every verse, one per line, "Ge1:1 In the beginning..."
The verse references are stripped; verses are joined with newlines.

Vocabulary: its own, in the RWKV World format (`id python-literal byte-length`,
greedy longest match over bytes): ids 1..256 are the single bytes, the rest are
byte-pair merges learned on the corpus' words. Id 0 is the end-of-text token.

Writes into --out: model.safetensors (bf16, BlinkDL layout), vocab.txt,
training.json (shapes, steps, tokens seen, final train/validation loss).

    python3 tools/train_default_model.py --out assets/default_model --minutes 45
"""

import argparse
import collections
import json
import math
import os
import re
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from rwkv7_torch import RWKV7, write_safetensors  # noqa: E402


def corpus() -> str:
    raw = subprocess.run(["bible", "-f", "Gen1:1-Rev22:21"], capture_output=True, check=True, text=True).stdout
    verses = [re.sub(r"^\S+?\d+:\d+ ", "", line) for line in raw.splitlines() if line.strip()]
    return "\n".join(verses) + "\n"


def learn_merges(text: str, n_merges: int):
    """Byte-pair merges over the word list ("word" and " word" pieces); returns the merged byte strings."""
    words = collections.Counter(re.findall(r" ?[A-Za-z]+| ?[0-9]+| ?[^A-Za-z0-9\s]+|\s+", text))
    seqs = {w: [bytes([b]) for b in w.encode()] for w in words}
    vocab = []
    for _ in range(n_merges):
        pairs = collections.Counter()
        for w, seq in seqs.items():
            for p in zip(seq, seq[1:]):
                pairs[p] += words[w]
        if not pairs:
            break
        (x, y), _count = pairs.most_common(1)[0]
        merged = x + y
        vocab.append(merged)
        for w, seq in seqs.items():
            i, out = 0, []
            while i < len(seq):
                if i + 1 < len(seq) and seq[i] == x and seq[i + 1] == y:
                    out.append(merged)
                    i += 2
                else:
                    out.append(seq[i])
                    i += 1
            seqs[w] = out
    return vocab


class GreedyTokenizer:
    def __init__(self, tokens):
        self.tokens = tokens  # index = id
        self.ids = {t: i for i, t in enumerate(tokens) if t is not None}
        self.max_len = max(len(t) for t in tokens if t is not None)

    def encode(self, data: bytes):
        out, i = [], 0
        while i < len(data):
            for n in range(min(self.max_len, len(data) - i), 0, -1):
                tid = self.ids.get(data[i:i + n])
                if tid is not None:
                    out.append(tid)
                    i += n
                    break
        return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, default=45)
    ap.add_argument("--vocab", type=int, default=1024)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--head-size", type=int, default=32)
    ap.add_argument("--ctx", type=int, default=128)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)

    text = corpus()
    merges = learn_merges(text, args.vocab - 257)
    tokens = [None] + [bytes([b]) for b in range(256)] + merges
    with open(os.path.join(args.out, "vocab.txt"), "w", encoding="utf-8") as f:
        for i, t in enumerate(tokens):
            if t is not None:
                f.write(f"{i} {t!r} {len(t)}\n")
    tok = GreedyTokenizer(tokens)
    ids = torch.tensor(tok.encode(text.encode()), dtype=torch.long)
    n_val = len(ids) // 50
    train, val = ids[:-n_val], ids[-n_val:]
    print(f"corpus {len(text)} chars, {len(ids)} tokens ({len(text) / len(ids):.2f} chars/token)", flush=True)

    model = RWKV7(args.vocab, args.width, args.layers, args.head_size)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model {args.layers}x{args.width}, {n_params} parameters", flush=True)
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.dim() == 2 and ("weight" in name) else no_decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.99), eps=1e-8)

    def batch(src, b):
        starts = torch.randint(0, len(src) - args.ctx - 1, (b,))
        x = torch.stack([src[s:s + args.ctx] for s in starts])
        y = torch.stack([src[s + 1:s + args.ctx + 1] for s in starts])
        return x, y

    def evaluate():
        model.eval()
        g = torch.Generator().manual_seed(0)
        with torch.no_grad():
            starts = torch.randint(0, len(val) - args.ctx - 1, (32,), generator=g)
            x = torch.stack([val[s:s + args.ctx] for s in starts])
            y = torch.stack([val[s + 1:s + args.ctx + 1] for s in starts])
            loss = F.cross_entropy(model(x).view(-1, args.vocab), y.view(-1)).item()
        model.train()
        return loss

    budget = args.minutes * 60
    t0 = time.time()
    step, seen, ema = 0, 0, None
    log = []
    while time.time() - t0 < budget:
        frac = (time.time() - t0) / budget
        lr = args.lr * min(1.0, (step + 1) / 50) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        for grp in opt.param_groups:
            grp["lr"] = lr
        x, y = batch(train, args.batch)
        loss = F.cross_entropy(model(x).view(-1, args.vocab), y.view(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        seen += x.numel()
        ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
        if step % 50 == 0:
            v = evaluate()
            log.append({"step": step, "train": round(ema, 4), "val": round(v, 4), "seconds": round(time.time() - t0)})
            print(json.dumps(log[-1]), flush=True)
            save(model, args, tokens, step, seen, ema, v, n_params, log, len(ids))

    v = evaluate()
    save(model, args, tokens, step, seen, ema, v, n_params, log, len(ids))
    print(f"done: {step} steps, train loss {ema:.4f}, validation loss {v:.4f}", flush=True)


def save(model, args, tokens, step, seen, ema, val_loss, n_params, log, n_tokens):
    sd = {k: v for k, v in model.state_dict().items()}
    write_safetensors(os.path.join(args.out, "model.safetensors.tmp"), sd, torch.bfloat16)
    os.replace(os.path.join(args.out, "model.safetensors.tmp"), os.path.join(args.out, "model.safetensors"))
    info = {
        "architecture": "rwkv7", "n_layer": args.layers, "n_embd": args.width, "head_size": args.head_size,
        "vocab_size": args.vocab, "parameters": n_params, "corpus": "King James Bible (Debian bible-kjv)",
        "corpus_tokens": n_tokens, "context": args.ctx, "batch": args.batch, "steps": step, "tokens_seen": seen,
        "final_train_loss": round(ema, 4), "final_validation_loss": round(val_loss, 4), "log": log,
    }
    with open(os.path.join(args.out, "training.json"), "w") as f:
        json.dump(info, f, indent=1)


if __name__ == "__main__":
    main()
