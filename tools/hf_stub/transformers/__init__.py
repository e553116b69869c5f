"""Stub of the transformers package root (see tools/hf_stub/README.md)."""
