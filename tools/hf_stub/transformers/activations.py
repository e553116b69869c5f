"""Stub ACT2FN: the activations HF's recurrent models use, as torch modules."""

from torch import nn

ACT2FN = {"silu": nn.SiLU(), "swish": nn.SiLU(), "gelu": nn.GELU(), "relu": nn.ReLU()}
