"""Stub PreTrainedModel: an nn.Module that keeps its config and initializes weights like HF."""

from torch import nn


class PreTrainedModel(nn.Module):
    def __init__(self, config, *args, **kwargs):
        super().__init__()
        self.config = config

    def post_init(self):
        if hasattr(self, "_init_weights"):
            self.apply(self._init_weights)

    def get_input_embeddings(self):
        return None
