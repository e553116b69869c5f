"""Makes the RWKV-7 parity fixtures: tiny random checkpoints in BlinkDL's layout and
goldens computed by BlinkDL's own RNN reference, RWKV-v7/rwkv_v7_demo_rnn.py.

The reference is run as published, with three textual substitutions so it runs
on a CPU in float32 (it hard-codes CUDA and half precision): 'cuda' -> 'cpu',
its DTYPE -> torch.float, and only the part before its tokenizer is executed
(the rest is a demo that loads a real model). Nothing of it is copied here.

    git -C RWKV-LM show HEAD:RWKV-v7/rwkv_v7_demo_rnn.py > /tmp/rwkv_v7_demo_rnn.py
    python3 tools/make_rwkv7_fixtures.py --reference /tmp/rwkv_v7_demo_rnn.py --out tests/fixtures/rwkv7

Needs Debian's python3-torch (CPU). Writes, per fixture: model.safetensors (bf16),
model.pth (the same weights as torch.save writes them, for the converter test),
vocab.txt (a World-format vocabulary: printable ASCII, plus newline where the vocabulary is
larger than 96) and goldens.json.
"""

import argparse
import json
import os
import sys
import types

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from rwkv7_torch import RWKV7, write_safetensors  # noqa: E402

FIXTURES = {
    # name: (vocab, n_embd, n_layer, head_size, ffn, loras (w, a, v, g))
    "tiny": (96, 32, 2, 8, 128, (8, 8, 8, 16)),
    "tiny3": (128, 64, 3, 16, 224, (16, 8, 8, 16)),
}


def load_reference(path):
    src = open(path, encoding="utf-8").read()
    src = src[: src.index("class RWKV_TOKENIZER")]
    src = src.replace("'cuda'", "'cpu'").replace('"cuda"', '"cpu"')
    src = src.replace("DTYPE = torch.half", "DTYPE = torch.float")
    ns = {"__name__": "rwkv7_reference"}
    exec(compile(src, path, "exec"), ns)
    return ns


def randomize(model, gen):
    """Random weights of a realistic scale, so that every path of the model matters."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("w0"):
                p.copy_(torch.randn(p.shape, generator=gen) * 1.0 - 1.0)
            elif name.endswith(("x_r", "x_w", "x_k", "x_v", "x_a", "x_g")) or name.endswith("ffn.x_k"):
                p.copy_(torch.rand(p.shape, generator=gen))
            elif name.endswith(("k_k", "k_a", "a0", "v0")):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5 + 0.5)
            elif name.endswith("r_k"):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
            elif "ln" in name and name.endswith("weight"):
                p.copy_(1 + torch.randn(p.shape, generator=gen) * 0.2)
            elif "ln" in name and name.endswith("bias"):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
            elif p.dim() == 2:
                p.copy_(torch.randn(p.shape, generator=gen) / p.shape[1] ** 0.5)
            else:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)


def official_state_dict(model):
    """The state dict as BlinkDL's files hold it: bf16, with their tensor shapes."""
    return {k: v.detach().to(torch.bfloat16).contiguous() for k, v in model.state_dict().items()}


def make(name, spec, ref, out_dir, seed):
    vocab, c, n_layer, head_size, ffn, loras = spec
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = RWKV7(vocab, c, n_layer, head_size, ffn, loras)
    randomize(model, gen)
    sd = official_state_dict(model)
    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    write_safetensors(os.path.join(d, "model.safetensors"), sd, torch.bfloat16)
    torch.save(sd, os.path.join(d, "model.pth"))
    with open(os.path.join(d, "vocab.txt"), "w", encoding="utf-8") as f:
        for i in range(1, min(vocab, 96)):
            f.write(f"{i} {chr(31 + i)!r} 1\n")
        if vocab > 96:
            f.write("96 '\\n' 1\n")

    args = types.SimpleNamespace(MODEL_NAME=os.path.join(d, "model"), n_layer=n_layer, n_embd=c,
                                 vocab_size=vocab, head_size=head_size)
    rnn = ref["RWKV_RNN"](args)

    def zero_state():
        s = []
        for _ in range(n_layer):
            s += [torch.zeros(c), torch.zeros(c // head_size, head_size, head_size), torch.zeros(c)]
        return s

    prompt = torch.randint(1, vocab, (24,), generator=gen).tolist()
    state = zero_state()
    prompt_logprobs, logits = [], None
    for i, tok in enumerate(prompt):
        if logits is not None:
            prompt_logprobs.append(F.log_softmax(logits.float(), -1)[tok].item())
        logits, state = rnn.forward(tok, state)
    after_prompt = F.log_softmax(logits.float(), -1)
    state_after_prompt = {
        "att_x": torch.stack([state[3 * i] for i in range(n_layer)]).flatten().tolist(),
        "wkv": torch.stack([state[3 * i + 1] for i in range(n_layer)]).flatten().tolist(),
        "ffn_x": torch.stack([state[3 * i + 2] for i in range(n_layer)]).flatten().tolist(),
    }
    greedy, greedy_logprobs = [], []
    for _ in range(32):
        lp = F.log_softmax(logits.float(), -1)
        tok = int(torch.argmax(lp).item())
        greedy.append(tok)
        greedy_logprobs.append(lp[tok].item())
        logits, state = rnn.forward(tok, state)
    goldens = {
        "reference": "BlinkDL/RWKV-LM RWKV-v7/rwkv_v7_demo_rnn.py, float32 on CPU, weights from model.pth (bf16)",
        "dims": {"vocab": vocab, "n_embd": c, "n_layer": n_layer, "head_size": head_size, "ffn": ffn},
        "prompt": prompt,
        "prompt_logprobs": prompt_logprobs,
        "logprobs_after_prompt": after_prompt.tolist(),
        "state_after_prompt": state_after_prompt,
        "greedy": greedy,
        "greedy_logprobs": greedy_logprobs,
    }
    with open(os.path.join(d, "goldens.json"), "w") as f:
        json.dump(goldens, f)
    print(f"{name}: greedy {greedy[:12]}...", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reference", required=True, help="path to rwkv_v7_demo_rnn.py from BlinkDL/RWKV-LM")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    ref = load_reference(args.reference)
    for i, (name, spec) in enumerate(FIXTURES.items()):
        make(name, spec, ref, args.out, 1234 + i)


if __name__ == "__main__":
    main()
