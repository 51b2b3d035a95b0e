"""Tokenizers: a byte-level BPE shaped like Qwen2's, trained on the demo corpus, and loading of real ones."""
