"""rift-bench: how robust is a fine-tuned language model, and which fine-tuning method should you use."""

__version__ = "0.1.0"
