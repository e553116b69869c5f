"""Stub feature probes: no CUDA kernels here, so HF takes its pure-PyTorch paths."""


def _false(*args, **kwargs):
    return False


is_causal_conv1d_available = _false
is_mamba_ssm_available = _false
is_mamba_2_ssm_available = _false
is_mambapy_available = _false
is_torchdynamo_compiling = _false
