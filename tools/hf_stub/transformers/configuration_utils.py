"""Stub PretrainedConfig: stores keyword arguments as attributes."""


class PretrainedConfig:
    def __init__(self, **kwargs):
        self.output_attentions = kwargs.pop("output_attentions", False)
        self.output_hidden_states = kwargs.pop("output_hidden_states", False)
        self.use_return_dict = kwargs.pop("return_dict", True)
        self.tie_word_embeddings = kwargs.pop("tie_word_embeddings", True)
        self.pad_token_id = kwargs.pop("pad_token_id", None)
        for key, value in kwargs.items():
            setattr(self, key, value)


PreTrainedConfig = PretrainedConfig
