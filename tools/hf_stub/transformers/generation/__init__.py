"""Stub GenerationMixin: generation is done by the caller."""


class GenerationMixin:
    pass
