"""Stub utils: ModelOutput, no-op docstring decorators, feature probes that answer False, a logger."""

import logging as _logging
from collections import OrderedDict


class ModelOutput(OrderedDict):
    def __post_init__(self):
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if value is not None:
                self[name] = value

    def __getitem__(self, key):
        if isinstance(key, str):
            return super().__getitem__(key)
        return list(self.values())[key]


def _identity_decorator(*args, **kwargs):
    def wrap(fn):
        return fn

    return wrap


add_code_sample_docstrings = _identity_decorator
add_start_docstrings = _identity_decorator
add_start_docstrings_to_model_forward = _identity_decorator
replace_return_docstrings = _identity_decorator


def auto_docstring(*args, **kwargs):
    if args and callable(args[0]):
        return args[0]
    return _identity_decorator()


def _false(*args, **kwargs):
    return False


is_bitsandbytes_available = _false
is_ninja_available = _false
is_torch_cuda_available = _false
is_torchdynamo_compiling = _false
is_mambapy_available = _false


class _Logger(_logging.Logger):
    def warning_once(self, *args, **kwargs):
        pass


class logging:  # noqa: N801 - mirrors transformers.utils.logging
    DEBUG = _logging.DEBUG

    @staticmethod
    def get_logger(name=None):
        _logging.setLoggerClass(_Logger)
        return _logging.getLogger(name)

    @staticmethod
    def get_verbosity():
        return _logging.WARNING
