"""The sequence classifier every method fine-tunes: a Hugging Face encoder, a pooling, and a small head.

Head (shared by all methods, as in the paper's code): pooled features → Linear(h, 256) → ReLU →
Linear(256, C). Pooling: the encoder's pooler output where it has one ("pooler", the paper's choice
for BERT/RoBERTa), the first token ("cls") or the masked mean of the last layer ("mean", what
sentence-tuned encoders such as all-MiniLM-L6-v2 were trained with). The pooled vector is also the
feature ``S`` that RIFT's information loss uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

HEAD_HIDDEN = 256


@dataclass
class ClassifierOutput:
    logits: torch.Tensor
    features: torch.Tensor


class Classifier(nn.Module):
    def __init__(self, encoder: nn.Module, num_labels: int, pooling: str) -> None:
        super().__init__()
        if pooling == "pooler" and getattr(encoder, "pooler", None) is None:
            pooling = "cls"
        if pooling not in {"pooler", "cls", "mean"}:
            raise ValueError(f"unknown pooling {pooling!r}")
        self.encoder = encoder
        self.pooling = pooling
        hidden = encoder.config.hidden_size
        self.head = nn.Sequential(nn.Linear(hidden, HEAD_HIDDEN), nn.ReLU(), nn.Linear(HEAD_HIDDEN, num_labels))

    @property
    def hidden_size(self) -> int:
        return int(self.encoder.config.hidden_size)

    def input_embeddings(self) -> nn.Embedding:
        return self.encoder.get_input_embeddings()

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, inputs_embeds: torch.Tensor | None = None) -> ClassifierOutput:
        kwargs = {"attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        out = self.encoder(input_ids=input_ids, inputs_embeds=inputs_embeds, **kwargs)
        features = self.pool(out, attention_mask)
        # fp32 logits and features whatever the autocast precision (bench.core.precision): losses are computed in fp32
        return ClassifierOutput(self.head(features).float(), features.float())

    def pool(self, out, attention_mask: torch.Tensor | None) -> torch.Tensor:
        if self.pooling == "pooler":
            return out.pooler_output
        hidden = out.last_hidden_state
        if self.pooling == "cls":
            return hidden[:, 0]
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)

    def encoder_parameters(self) -> dict[str, torch.Tensor]:
        """The encoder's parameters by name (the θ of the relative-distance log; the head is excluded)."""
        return dict(self.encoder.named_parameters())


def _quiet_transformers() -> None:
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()


def load_tokenizer(model_dir: Path, tokenizer: str = "subword") -> object:
    """The model's tokenizer as the ``tokenizer`` setting feeds it (:func:`bench.core.tokenization.input_tokenizer`)."""
    from transformers import AutoTokenizer

    from bench.core.tokenization import input_tokenizer

    return input_tokenizer(AutoTokenizer.from_pretrained(str(model_dir)), tokenizer)


def load_pretrained(model_dir: Path, num_labels: int, pooling: str, seed: int,
                    tokenizer: str = "subword") -> tuple[Classifier, object]:
    """Encoder with pre-trained weights plus a freshly initialised head (seeded), and the tokenizer (``tokenizer``:
    the setting of that name, ``subword`` or ``whole-word``)."""
    from transformers import AutoModel

    _quiet_transformers()
    # float32 whatever the checkpoint stores (transformers 5 would otherwise keep a float16/bfloat16 checkpoint's
    # dtype, and fine-tune in half precision under a float32 head)
    encoder = AutoModel.from_pretrained(str(model_dir), dtype=torch.float32)
    text_tokenizer = load_tokenizer(model_dir, tokenizer)
    torch.manual_seed(seed)
    return Classifier(encoder, num_labels, pooling), text_tokenizer


def build_empty(model_dir: Path, num_labels: int, pooling: str, tokenizer: str = "subword") -> tuple[Classifier, object]:
    """The same architecture without loading pre-trained weights (a fine-tuned state dict is loaded next)."""
    from transformers import AutoConfig, AutoModel

    _quiet_transformers()
    config = AutoConfig.from_pretrained(str(model_dir))
    encoder = AutoModel.from_config(config)
    return Classifier(encoder, num_labels, pooling), load_tokenizer(model_dir, tokenizer)
