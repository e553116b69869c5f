"""Stand-in for einops: torchscale's MultiheadAttention imports it; RetNet never calls it."""


def rearrange(*args, **kwargs):
    raise NotImplementedError("einops is not available here")
