"""Mixed precision as a setting: ``precision`` = ``fp32`` (default), ``bf16`` or ``fp16``.

``bf16`` and ``fp16`` run the model's forward passes under :func:`torch.autocast` (training for every method, ASCC's
inner steps, RIFT's teacher, and the victim at attack time); ``fp16`` also scales the loss (a gradient scaler), as
half precision's narrow exponent needs. The master weights, the optimizer state, the logits and every loss (softmax,
KL, InfoNCE, cross-entropy) stay in fp32: the classifier returns fp32 logits and features. A precision is refused,
with one line naming what is missing, where the hardware lacks it: ``fp16`` on a CPU, ``bf16`` on a GPU without
bfloat16, or on a CPU without bfloat16 instructions (AVX512-BF16 or AMX), where it would only be emulated.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch

from bench.core.config import PRECISIONS
from bench.core.errors import ConfigError

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
#: CPU flags (/proc/cpuinfo) that mean native bfloat16 arithmetic
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags() -> set[str]:
    """The CPU's feature flags (Linux ``/proc/cpuinfo``; empty elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.partition(":")[2].split())
    except OSError:
        pass
    return set()


def unsupported(precision: str, device: torch.device) -> str:
    """Why ``precision`` cannot run on ``device`` ("" when it can)."""
    if precision not in PRECISIONS:
        return f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}"
    if precision == "fp32":
        return ""
    if device.type == "cuda":
        if precision == "bf16" and not torch.cuda.is_bf16_supported():
            return f"precision=bf16: the GPU {torch.cuda.get_device_name(device)} has no bfloat16 (use fp16 or fp32)"
        return ""
    if device.type != "cpu":
        return f"precision={precision}: not supported on device {device.type!r} (use fp32)"
    if precision == "fp16":
        return "precision=fp16 needs a GPU (a CPU has no fast float16 and no use for loss scaling); use bf16 or fp32"
    if not cpu_flags() & set(CPU_BF16_FLAGS):
        return ("precision=bf16 needs a CPU with bfloat16 instructions (AVX512-BF16 or AMX), which this one lacks: "
                "it would be emulated, slower than fp32; use fp32")
    return ""


def check_precision(precision: str, device: torch.device) -> None:
    """Refuse (:class:`ConfigError`, one line) a precision the device cannot run."""
    why = unsupported(precision, device)
    if why:
        raise ConfigError(why)


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The forward passes' context: autocast to bfloat16/float16, nothing for fp32."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=DTYPES[precision])


class LossScaler:
    """The backward pass and optimizer step under ``precision``: a :class:`torch.amp.GradScaler` for fp16, the plain
    ``loss.backward()`` / ``optimizer.step()`` otherwise (bfloat16 has fp32's exponent range)."""

    def __init__(self, precision: str, device: torch.device) -> None:
        self.scaler = torch.amp.GradScaler(device.type) if precision == "fp16" else None

    def backward(self, loss: torch.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def unscale(self, optimizer: torch.optim.Optimizer) -> None:
        """Bring the gradients back to their true scale (before clipping)."""
        if self.scaler is not None:
            self.scaler.unscale_(optimizer)

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        if self.scaler is None:
            optimizer.step()
        else:
            self.scaler.step(optimizer)
            self.scaler.update()

    def state_dict(self) -> dict:
        return self.scaler.state_dict() if self.scaler is not None else {}

    def load_state_dict(self, state: dict) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)
