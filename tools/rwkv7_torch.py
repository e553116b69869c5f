"""A small RWKV-7 ("x070") in plain PyTorch, written for this project.

It is the training-time form (whole sequences, autograd) of the same
architecture the TypeScript engine runs token by token. Parameter names and
shapes follow BlinkDL's checkpoint layout, so `state_dict()` can be written
straight to safetensors and served. Used by `train_default_model.py` and
`make_rwkv7_fixtures.py`.
"""

import json
import math
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F


def lora_dim(c: int, factor: float) -> int:
    return max(32, int(round(factor * math.sqrt(c) / 32)) * 32)


class TimeMix(nn.Module):
    def __init__(self, c: int, head_size: int, layer: int, n_layer: int, loras=None):
        super().__init__()
        h = c // head_size
        self.h, self.n, self.layer = h, head_size, layer
        d_w, d_a, d_v, d_g = loras or (lora_dim(c, 2.5), lora_dim(c, 2.5), lora_dim(c, 1.7), lora_dim(c, 5))
        r01 = layer / max(1, n_layer - 1)
        r10 = 1.0 - layer / n_layer
        ddd = torch.arange(c, dtype=torch.float32).view(1, 1, c) / c
        self.x_r = nn.Parameter(1.0 - ddd.pow(0.2 * r10))
        self.x_w = nn.Parameter(1.0 - ddd.pow(0.9 * r10))
        self.x_k = nn.Parameter(1.0 - ddd.pow(0.7 * r10))
        self.x_v = nn.Parameter(1.0 - ddd.pow(0.7 * r10))
        self.x_a = nn.Parameter(1.0 - ddd.pow(0.9 * r10))
        self.x_g = nn.Parameter(1.0 - ddd.pow(0.2 * r10))
        idx = torch.arange(c, dtype=torch.float32)
        linear = idx / (c - 1) - 0.5
        zig = ((idx % head_size) - (head_size - 1) / 2) / ((head_size - 1) / 2)
        zig = zig * zig.abs()
        decay = -6 + 6 * (idx / (c - 1)) ** (1 + r01 ** 0.3)
        self.w0 = nn.Parameter((decay + 0.5 + zig * 2.5).view(1, 1, c))
        self.w1 = nn.Parameter(torch.zeros(c, d_w))
        self.w2 = nn.Parameter(nn.init.orthogonal_(torch.empty(d_w, c), gain=0.1))
        self.a0 = nn.Parameter((-0.19 + zig * 0.3 + linear * 0.4).view(1, 1, c))
        self.a1 = nn.Parameter(torch.zeros(c, d_a))
        self.a2 = nn.Parameter(nn.init.orthogonal_(torch.empty(d_a, c), gain=0.1))
        if layer > 0:
            self.v0 = nn.Parameter((0.73 - linear * 0.4).view(1, 1, c))
            self.v1 = nn.Parameter(torch.zeros(c, d_v))
            self.v2 = nn.Parameter(nn.init.orthogonal_(torch.empty(d_v, c), gain=0.1))
        self.g1 = nn.Parameter(torch.zeros(c, d_g))
        self.g2 = nn.Parameter(nn.init.orthogonal_(torch.empty(d_g, c), gain=0.1))
        self.k_k = nn.Parameter((0.71 - linear * 0.1).view(1, 1, c))
        self.k_a = nn.Parameter(torch.full((1, 1, c), 1.02))
        self.r_k = nn.Parameter(torch.full((h, head_size), -0.04))
        self.receptance = nn.Linear(c, c, bias=False)
        self.key = nn.Linear(c, c, bias=False)
        self.value = nn.Linear(c, c, bias=False)
        self.output = nn.Linear(c, c, bias=False)
        self.ln_x = nn.GroupNorm(h, c, eps=64e-5)
        s = c ** -0.5
        self.receptance.weight.data.uniform_(-0.5 * s, 0.5 * s)
        self.key.weight.data.uniform_(-0.05 * s, 0.05 * s)
        self.value.weight.data.uniform_(-0.5 * s, 0.5 * s)
        self.output.weight.data.zero_()

    def forward(self, x, v_first):
        b, t, c = x.shape
        h, n = self.h, self.n
        xx = F.pad(x, (0, 0, 1, -1)) - x
        xr, xw, xk, xv, xa, xg = (x + xx * m for m in (self.x_r, self.x_w, self.x_k, self.x_v, self.x_a, self.x_g))
        r = self.receptance(xr)
        w = torch.tanh(xw @ self.w1) @ self.w2
        k = self.key(xk)
        v = self.value(xv)
        a = torch.sigmoid(self.a0 + (xa @ self.a1) @ self.a2)
        g = torch.sigmoid(xg @ self.g1) @ self.g2
        kk = F.normalize((k * self.k_k).view(b, t, h, n), dim=-1, p=2.0).view(b, t, c)
        k = k * (1 + (a - 1) * self.k_a)
        if self.layer == 0:
            v_first = v
        else:
            v = v + (v_first - v) * torch.sigmoid(self.v0 + (xv @ self.v1) @ self.v2)
        w = torch.exp(-math.exp(-0.5) * torch.sigmoid(self.w0 + w))
        y = wkv7(r, w, k, v, -kk, kk * a, h, n)
        y = self.ln_x(y.view(b * t, c)).view(b, t, c)
        y = y + ((r * k * self.r_k.view(1, 1, c)).view(b, t, h, n).sum(-1, keepdim=True) * v.view(b, t, h, n)).view(b, t, c)
        return self.output(y * g), v_first


def wkv7(r, w, k, v, a, bb, h, n):
    """The RWKV-7 state recurrence, one step at a time: S = S diag(w) + (S a) b^T + v k^T, y = S r.

    S[h, i, j]: i runs over the value dimension, j over the key dimension. Written with
    elementwise ops and sums, which autograd runs far faster on CPU than tiny batched matmuls.
    """
    b, t, c = r.shape
    r, w, k, v, a, bb = (z.view(b, t, h, n) for z in (r, w, k, v, a, bb))
    s = torch.zeros(b, h, n, n, dtype=r.dtype, device=r.device)
    out = []
    for i in range(t):
        sa = (s * a[:, i, :, None, :]).sum(-1, keepdim=True)
        s = torch.addcmul(torch.addcmul(s * w[:, i, :, None, :], sa, bb[:, i, :, None, :]), v[:, i, :, :, None], k[:, i, :, None, :])
        out.append((s * r[:, i, :, None, :]).sum(-1).reshape(b, c))
    return torch.stack(out, dim=1)


class ChannelMix(nn.Module):
    def __init__(self, c: int, layer: int, n_layer: int, ffn: int):
        super().__init__()
        r10 = 1.0 - layer / n_layer
        ddd = torch.arange(c, dtype=torch.float32).view(1, 1, c) / c
        self.x_k = nn.Parameter(1.0 - ddd.pow(r10 ** 4))
        self.key = nn.Linear(c, ffn, bias=False)
        self.value = nn.Linear(ffn, c, bias=False)
        self.key.weight.data.uniform_(-0.5 / math.sqrt(c), 0.5 / math.sqrt(c))
        self.value.weight.data.zero_()

    def forward(self, x):
        xx = F.pad(x, (0, 0, 1, -1)) - x
        k = torch.relu(self.key(x + xx * self.x_k)) ** 2
        return self.value(k)


class Block(nn.Module):
    def __init__(self, c, head_size, layer, n_layer, ffn, loras=None):
        super().__init__()
        if layer == 0:
            self.ln0 = nn.LayerNorm(c)
        self.ln1 = nn.LayerNorm(c)
        self.ln2 = nn.LayerNorm(c)
        self.att = TimeMix(c, head_size, layer, n_layer, loras)
        self.ffn = ChannelMix(c, layer, n_layer, ffn)
        self.layer = layer

    def forward(self, x, v_first):
        if self.layer == 0:
            x = self.ln0(x)
        dx, v_first = self.att(self.ln1(x), v_first)
        x = x + dx
        return x + self.ffn(self.ln2(x)), v_first


class RWKV7(nn.Module):
    def __init__(self, vocab: int, c: int, n_layer: int, head_size: int = 64, ffn: int = 0, loras=None):
        super().__init__()
        self.emb = nn.Embedding(vocab, c)
        self.blocks = nn.ModuleList(Block(c, head_size, i, n_layer, ffn or 4 * c, loras) for i in range(n_layer))
        self.ln_out = nn.LayerNorm(c)
        self.head = nn.Linear(c, vocab, bias=False)
        nn.init.uniform_(self.emb.weight, -1e-4, 1e-4)
        nn.init.orthogonal_(self.head.weight, gain=0.5 * math.sqrt(vocab / c) if vocab > c else 0.5)

    def forward(self, idx):
        x = self.emb(idx)
        v_first = None
        for block in self.blocks:
            x, v_first = block(x, v_first)
        return self.head(self.ln_out(x))


def write_safetensors(path: str, tensors: dict, dtype=torch.bfloat16, metadata=None):
    """Writes a safetensors file: an 8-byte little-endian header length, a JSON header, raw data."""
    names = {torch.bfloat16: "BF16", torch.float16: "F16", torch.float32: "F32"}
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().to(dtype).contiguous().cpu()
        raw = t.view(torch.int16).numpy().tobytes() if dtype == torch.bfloat16 else t.numpy().tobytes()
        header[name] = {"dtype": names[dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for raw in blobs:
            f.write(raw)
