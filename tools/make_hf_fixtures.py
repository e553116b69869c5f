"""Makes parity fixtures for the HF-format families from HF transformers' own modeling code.

HF's modeling and configuration files are taken, unmodified, from a transformers git checkout
at a pinned commit and run inside tools/hf_stub (a minimal package skeleton; see its README),
on Debian's python3-torch (CPU, float32). Nothing of transformers is committed.

    # a transformers clone (any fork with upstream history works), e.g. via the fetch tool
    python3 tools/make_hf_fixtures.py --git-dir /work/.mirror/rwkv-rs+transformers-rwkv/repo \
        --out tests/fixtures

Writes, per fixture, a model directory in HF's format (config.json, model.safetensors in f32,
vocab.txt: a World-format vocabulary of printable ASCII and newline, so the directory loads and
chats) and goldens.json.
"""

import argparse
import ast
import importlib
import types
import json
import os
import shutil
import subprocess
import sys
import tempfile

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from rwkv7_torch import write_safetensors  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
# transformers commit whose modeling files are the reference (2024-10-09, upstream main).
COMMIT = "295a90cb40468ddd607577448e674348cff55adc"
FILES = {
    "rwkv": ["modeling_rwkv.py", "configuration_rwkv.py"],
    "mamba": ["modeling_mamba.py", "configuration_mamba.py"],
}
# Mamba-2 from a later commit (2025-04-25), after HF fixed grouped SSD in its torch path (#37533).
COMMIT_MAMBA2 = "214062201e"
FILES_MAMBA2 = {"mamba2": ["modeling_mamba2.py", "configuration_mamba2.py"]}
# Classes taken verbatim from HF's shared modules (the rest of those modules is not needed).
CLASSES = {"cache_utils.py": ["MambaCache"]}


def git_show(git_dir, commit, path):
    return subprocess.run(["git", "--git-dir", git_dir, "show", f"{commit}:{path}"], check=True,
                          capture_output=True).stdout.decode("utf-8")


def hf_package(git_dir, commit):
    """A temp copy of hf_stub with HF's real model files added; returns its path (put on sys.path)."""
    root = tempfile.mkdtemp(prefix="hf_stub_")
    shutil.copytree(os.path.join(HERE, "hf_stub", "transformers"), os.path.join(root, "transformers"))
    for module, classes in CLASSES.items():
        src = git_show(git_dir, commit, f"src/transformers/{module}")
        tree = ast.parse(src)
        parts = ["import torch\nfrom typing import Any, Dict, List, Optional, Tuple, Union\n",
                 "from .utils import logging\nfrom .configuration_utils import PretrainedConfig\n",
                 "logger = logging.get_logger(__name__)\n"]
        parts += [ast.get_source_segment(src, n) for n in tree.body
                  if isinstance(n, ast.ClassDef) and n.name in classes]
        with open(os.path.join(root, "transformers", module), "w") as out:
            out.write("\n\n".join(parts) + "\n")
    for files, at in ((FILES, commit), (FILES_MAMBA2, COMMIT_MAMBA2)):
        for model, names in files.items():
            d = os.path.join(root, "transformers", "models", model)
            os.makedirs(d, exist_ok=True)
            open(os.path.join(d, "__init__.py"), "w").close()
            for f in names:
                with open(os.path.join(d, f), "w") as out:
                    out.write(git_show(git_dir, at, f"src/transformers/models/{model}/{f}"))
    return root


def write_vocab(d, vocab):
    with open(os.path.join(d, "vocab.txt"), "w", encoding="utf-8") as f:
        for i in range(1, min(vocab, 96)):
            f.write(f"{i} {chr(31 + i)!r} 1\n")
        if vocab > 96:
            f.write("96 '\\n' 1\n")


def logprobs(logits):
    return F.log_softmax(logits.float(), -1)


def rwkv4(out_dir, name, seed, dims):
    from transformers.models.rwkv.configuration_rwkv import RwkvConfig
    from transformers.models.rwkv.modeling_rwkv import RwkvForCausalLM

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    config = RwkvConfig(**dims, use_cache=True)
    model = RwkvForCausalLM(config)
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if pname.endswith("time_decay"):
                p.copy_(torch.randn(p.shape, generator=gen) * 1.5 - 1.0)
            elif pname.endswith("time_first"):
                p.copy_(torch.randn(p.shape, generator=gen))
            elif "time_mix" in pname:
                p.copy_(torch.rand(p.shape, generator=gen))
            elif "ln" in pname and pname.endswith("weight"):
                p.copy_(1 + torch.randn(p.shape, generator=gen) * 0.2)
            elif "ln" in pname and pname.endswith("bias"):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
            elif p.dim() == 2:
                p.copy_(torch.randn(p.shape, generator=gen) / p.shape[1] ** 0.5)
    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    # Saved before eval(): HF rescales output/value weights in place on the first eval forward.
    write_safetensors(os.path.join(d, "model.safetensors"), model.state_dict(), torch.float32)
    cfg = {"architectures": ["RwkvForCausalLM"], "model_type": "rwkv", **dims,
           "bos_token_id": 0, "eos_token_id": 0, "tie_word_embeddings": False}
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    write_vocab(d, dims["vocab_size"])

    model.eval()
    vocab = dims["vocab_size"]
    prompt = torch.randint(1, vocab, (24,), generator=gen).tolist()
    with torch.no_grad():
        # Token by token, carrying HF's state (use_cache).
        state, prompt_lp, logits = None, [], None
        for tok in prompt:
            if logits is not None:
                prompt_lp.append(logprobs(logits)[tok].item())
            out = model(torch.tensor([[tok]]), state=state, use_cache=True)
            logits, state = out.logits[0, -1], out.state
        after = logprobs(logits)
        names = ["ffn_x", "att_x", "num", "den", "max"]
        # HF state: five [batch, hidden, layers] tensors; ours is [layers][hidden] per part.
        state_after = {n: s[0].transpose(0, 1).flatten().tolist() for n, s in zip(names, state)}
        # The whole prompt in one call (HF's sequence path).
        full = model(torch.tensor([prompt]), use_cache=True)
        parallel_after = logprobs(full.logits[0, -1])
        greedy, greedy_lp = [], []
        for _ in range(32):
            lp = logprobs(logits)
            tok = int(torch.argmax(lp).item())
            greedy.append(tok)
            greedy_lp.append(lp[tok].item())
            out = model(torch.tensor([[tok]]), state=state, use_cache=True)
            logits, state = out.logits[0, -1], out.state
    goldens = {
        "reference": f"HF transformers {COMMIT[:10]} RwkvForCausalLM (eval, float32, CPU)",
        "dims": dims,
        "prompt": prompt,
        "prompt_logprobs": prompt_lp,
        "logprobs_after_prompt": after.tolist(),
        "parallel_logprobs_after_prompt": parallel_after.tolist(),
        "state_after_prompt": state_after,
        "greedy": greedy,
        "greedy_logprobs": greedy_lp,
    }
    with open(os.path.join(d, "goldens.json"), "w") as f:
        json.dump(goldens, f)
    print(f"{name}: greedy {greedy[:12]}...", flush=True)


def ssm_goldens(model, d, gen, dims, reference):
    """Goldens of an HF Mamba/Mamba-2 model: the prompt in one call (HF's prefill), then one token at a time
    with its cache; the state after the prompt is the cache's conv and ssm states."""
    prompt = torch.randint(1, dims["vocab_size"], (24,), generator=gen).tolist()
    with torch.no_grad():
        out = model(torch.tensor([prompt]), use_cache=True)
        cache = out.cache_params
        lps = logprobs(out.logits[0])
        prompt_lp = [lps[i - 1, prompt[i]].item() for i in range(1, len(prompt))]
        after = lps[-1]
        state_after = {
            "conv": cache.conv_states[:, 0].flatten().tolist(),
            "ssm": cache.ssm_states[:, 0].flatten().tolist(),
        }
        logits, greedy, greedy_lp = out.logits[0, -1], [], []
        for i in range(32):
            lp = logprobs(logits)
            tok = int(torch.argmax(lp).item())
            greedy.append(tok)
            greedy_lp.append(lp[tok].item())
            out = model(torch.tensor([[tok]]), cache_params=cache, use_cache=True,
                        cache_position=torch.tensor([len(prompt) + i]))
            logits = out.logits[0, -1]
    goldens = {
        "reference": reference,
        "dims": dims,
        "prompt": prompt,
        "prompt_logprobs": prompt_lp,
        "logprobs_after_prompt": after.tolist(),
        "state_after_prompt": state_after,
        "greedy": greedy,
        "greedy_logprobs": greedy_lp,
    }
    with open(os.path.join(d, "goldens.json"), "w") as f:
        json.dump(goldens, f)
    print(f"{reference.split()[3]}: greedy {greedy[:12]}...", flush=True)


def mamba(out_dir, name, seed, dims):
    from transformers.models.mamba.configuration_mamba import MambaConfig
    from transformers.models.mamba.modeling_mamba import MambaForCausalLM

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    config = MambaConfig(**dims, use_cache=True)
    model = MambaForCausalLM(config)
    model.lm_head.weight = model.backbone.embeddings.weight  # tied, as HF's post_init ties them
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if pname.endswith("A_log"):
                p.copy_(torch.log(torch.rand(p.shape, generator=gen) * 8 + 0.5))
            elif pname.endswith("D"):
                p.copy_(torch.randn(p.shape, generator=gen))
            elif "norm" in pname:
                p.copy_(1 + torch.randn(p.shape, generator=gen) * 0.2)
            elif pname.endswith("conv1d.weight"):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
            elif pname.endswith("bias"):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.2)
            elif p.dim() == 2:
                p.copy_(torch.randn(p.shape, generator=gen) / p.shape[1] ** 0.5)
    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    # HF saves tied weights once: no lm_head.weight in the file.
    sd = {k: v for k, v in model.state_dict().items() if k != "lm_head.weight"}
    write_safetensors(os.path.join(d, "model.safetensors"), sd, torch.float32)
    cfg = {"architectures": ["MambaForCausalLM"], "model_type": "mamba", **dims, "tie_word_embeddings": True}
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    write_vocab(d, dims["vocab_size"])

    model.eval()
    ssm_goldens(model, d, gen, dims, f"HF transformers {COMMIT[:10]} MambaForCausalLM slow path (eval, float32, CPU)")


def mamba2(out_dir, name, seed, dims):
    from transformers.models.mamba2.configuration_mamba2 import Mamba2Config
    from transformers.models.mamba2.modeling_mamba2 import Mamba2ForCausalLM

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    config = Mamba2Config(**dims, use_cache=True)
    model = Mamba2ForCausalLM(config)
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if pname.endswith("A_log"):
                p.copy_(torch.log(torch.rand(p.shape, generator=gen) * 4 + 0.5))
            elif pname.endswith(".D") or pname.endswith("dt_bias"):
                p.copy_(torch.randn(p.shape, generator=gen))
            elif "norm" in pname:
                p.copy_(1 + torch.randn(p.shape, generator=gen) * 0.2)
            elif pname.endswith("conv1d.weight"):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
            elif pname.endswith("bias"):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.2)
            elif p.dim() == 2:
                p.copy_(torch.randn(p.shape, generator=gen) / p.shape[1] ** 0.5)
    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    write_safetensors(os.path.join(d, "model.safetensors"), model.state_dict(), torch.float32)
    cfg = {"architectures": ["Mamba2ForCausalLM"], "model_type": "mamba2", **dims}
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    write_vocab(d, dims["vocab_size"])

    model.eval()
    # HF's chunked SSD form runs on the prompt (chunk_size < prompt length).
    ssm_goldens(model, d, gen, dims, f"HF transformers {COMMIT_MAMBA2} Mamba2ForCausalLM torch path (eval, float32, CPU)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--git-dir", required=True, help="a transformers git directory holding commit " + COMMIT)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    if not hasattr(torch, "_dynamo"):  # torch 1.13: HF's caches only mark tensors static for torch.compile
        torch._dynamo = types.SimpleNamespace(mark_static_address=lambda t: None, is_compiling=lambda: False)
    sys.path.insert(0, hf_package(args.git_dir, COMMIT))
    importlib.invalidate_caches()
    rwkv4(os.path.join(args.out, "rwkv4"), "tiny", 4321, {
        "vocab_size": 128, "context_length": 64, "hidden_size": 32, "num_hidden_layers": 4,
        "attention_hidden_size": 32, "intermediate_size": 128, "layer_norm_epsilon": 1e-5, "rescale_every": 2,
    })
    mamba(os.path.join(args.out, "mamba"), "tiny", 5678, {
        "vocab_size": 128, "hidden_size": 32, "state_size": 8, "num_hidden_layers": 3, "layer_norm_epsilon": 1e-5,
        "expand": 2, "conv_kernel": 4, "use_bias": True, "use_conv_bias": True, "hidden_act": "silu",
        "time_step_rank": 8, "residual_in_fp32": True, "pad_token_id": 0, "bos_token_id": 0, "eos_token_id": 0,
    })
    mamba2(os.path.join(args.out, "mamba2"), "tiny", 8765, {
        "vocab_size": 128, "hidden_size": 32, "num_heads": 4, "head_dim": 16, "state_size": 8, "n_groups": 2,
        "num_hidden_layers": 2, "layer_norm_epsilon": 1e-5, "expand": 2, "conv_kernel": 4, "chunk_size": 8,
        "use_bias": True, "use_conv_bias": True, "hidden_act": "silu", "residual_in_fp32": True,
        "tie_word_embeddings": False, "pad_token_id": 0, "bos_token_id": 0, "eos_token_id": 0,
    })


if __name__ == "__main__":
    main()
