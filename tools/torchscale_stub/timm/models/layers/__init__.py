"""Stand-in for timm's drop_path (stochastic depth), which inference never applies."""


def drop_path(x, drop_prob=0.0, training=False, scale_by_keep=True):
    if drop_prob == 0.0 or not training:
        return x
    raise NotImplementedError("drop_path is a training feature")
