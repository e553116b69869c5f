"""Makes the RetNet parity fixture from the paper's reference code, torchscale's RetNetDecoder.

torchscale is run unmodified from a checkout (exported with git archive to a temp dir, never
committed), with tools/torchscale_stub standing in for fairscale and timm, on Debian's
python3-torch (CPU, float32).

    python3 tools/make_retnet_fixtures.py --git-dir /work/.mirror/microsoft+torchscale/repo \
        --out tests/fixtures/retnet

Writes a model directory (config.json with the RetNetConfig fields and
"architectures": ["RetNetDecoder"], model.safetensors with the decoder's state dict in f32,
vocab.txt) and goldens.json: the recurrent form token by token (logprobs, greedy tokens, the
state after the prompt), and the parallel and chunkwise forms over the whole prompt.
"""

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from rwkv7_torch import write_safetensors  # noqa: E402

DIMS = {
    "decoder_embed_dim": 32, "decoder_value_embed_dim": 64, "decoder_retention_heads": 2,
    "decoder_ffn_embed_dim": 64, "decoder_layers": 2, "vocab_size": 128, "activation_fn": "gelu",
    "layernorm_eps": 1e-6, "no_scale_embedding": True, "layernorm_embedding": False,
    "share_decoder_input_output_embed": False, "decoder_normalize_before": True, "deepnorm": False,
}


def torchscale_package(git_dir):
    root = tempfile.mkdtemp(prefix="torchscale_")
    tar = subprocess.run(["git", "--git-dir", git_dir, "archive", "HEAD", "torchscale"], check=True,
                         capture_output=True).stdout
    tarfile.open(fileobj=io.BytesIO(tar)).extractall(root)
    commit = subprocess.run(["git", "--git-dir", git_dir, "rev-parse", "HEAD"], check=True,
                            capture_output=True, text=True).stdout.strip()
    return root, commit


def build(RetNetConfig, RetNetDecoder, **extra):
    args = RetNetConfig(**DIMS, **extra)
    embed = torch.nn.Embedding(DIMS["vocab_size"], DIMS["decoder_embed_dim"])
    return RetNetDecoder(args, embed_tokens=embed)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--git-dir", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    root, commit = torchscale_package(args.git_dir)
    sys.path[:0] = [os.path.join(HERE, "torchscale_stub"), root]
    from torchscale.architecture.config import RetNetConfig
    from torchscale.architecture.retnet import RetNetDecoder

    gen = torch.Generator().manual_seed(2468)
    torch.manual_seed(2468)
    model = build(RetNetConfig, RetNetDecoder)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "layer_norm" in name:
                p.copy_(1 + torch.randn(p.shape, generator=gen) * 0.2)
            elif p.dim() == 2:
                p.copy_(torch.randn(p.shape, generator=gen) / p.shape[1] ** 0.5)
    model.eval()
    d = os.path.join(args.out, "tiny")
    os.makedirs(d, exist_ok=True)
    write_safetensors(os.path.join(d, "model.safetensors"), model.state_dict(), torch.float32)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump({"architectures": ["RetNetDecoder"], **DIMS}, f, indent=1)
    with open(os.path.join(d, "vocab.txt"), "w", encoding="utf-8") as f:
        for i in range(1, 96):
            f.write(f"{i} {chr(31 + i)!r} 1\n")
        f.write("96 '\\n' 1\n")

    lp = lambda logits: F.log_softmax(logits.float(), -1)  # noqa: E731
    prompt = torch.randint(1, DIMS["vocab_size"], (24,), generator=gen).tolist()
    with torch.no_grad():
        state, logits, prompt_lp = {}, None, []
        for t, tok in enumerate(prompt):
            if logits is not None:
                prompt_lp.append(lp(logits)[tok].item())
            logits = model(torch.tensor([prompt[: t + 1]]), incremental_state=state)[0][0, -1]
        after = lp(logits)
        kv = torch.stack([state[i]["prev_key_value"][0] for i in range(DIMS["decoder_layers"])])
        scale = torch.stack([state[i]["scale"] for i in range(DIMS["decoder_layers"])])
        state_after = {"kv": kv.flatten().tolist(), "scale": scale.flatten().tolist(), "pos": [float(len(prompt))]}
        parallel = lp(model(torch.tensor([prompt]))[0][0, -1])
        chunked_model = build(RetNetConfig, RetNetDecoder, chunkwise_recurrent=True, recurrent_chunk_size=8)
        chunked_model.load_state_dict(model.state_dict())
        chunked_model.eval()
        chunkwise = lp(chunked_model(torch.tensor([prompt]))[0][0, -1])
        seq, greedy, greedy_lp = list(prompt), [], []
        for _ in range(32):
            l = lp(logits)
            tok = int(torch.argmax(l).item())
            greedy.append(tok)
            greedy_lp.append(l[tok].item())
            seq.append(tok)
            logits = model(torch.tensor([seq]), incremental_state=state)[0][0, -1]
    goldens = {
        "reference": f"microsoft/torchscale {commit[:10]} RetNetDecoder (eval, float32, CPU)",
        "dims": DIMS,
        "prompt": prompt,
        "prompt_logprobs": prompt_lp,
        "logprobs_after_prompt": after.tolist(),
        "parallel_logprobs_after_prompt": parallel.tolist(),
        "chunkwise_logprobs_after_prompt": chunkwise.tolist(),
        "state_after_prompt": state_after,
        "greedy": greedy,
        "greedy_logprobs": greedy_lp,
    }
    with open(os.path.join(d, "goldens.json"), "w") as f:
        json.dump(goldens, f)
    print(f"retnet: greedy {greedy[:12]}...; |parallel - recurrent| = "
          f"{(parallel - after).abs().max().item():.2e}, |chunkwise - recurrent| = {(chunkwise - after).abs().max().item():.2e}")


if __name__ == "__main__":
    main()
