"""Mixed precision (``precision``): refused where the hardware lacks it, one code path for CPU and GPU, fp32 losses
and master weights, recorded and keyed apart. The bf16 and fp16 paths run here on a CPU stand-in (the hardware check
told that this CPU has bfloat16 instructions, or that fp16 may run on it)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from bench.core import precision
from bench.core.errors import ConfigError

CPU = torch.device("cpu")


def test_refusals_name_what_is_missing(monkeypatch):
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx2", "fma"})
    assert precision.unsupported("fp32", CPU) == ""
    with pytest.raises(ConfigError, match="fp16 needs a GPU"):
        precision.check_precision("fp16", CPU)
    with pytest.raises(ConfigError, match="AVX512-BF16 or AMX"):
        precision.check_precision("bf16", CPU)
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx2", "avx512f", "avx512_bf16"})
    assert precision.unsupported("bf16", CPU) == ""
    assert "fp16 needs a GPU" in precision.unsupported("fp16", CPU)


def test_the_cli_refuses_fp16_on_a_cpu_with_one_line(tmp_path, capsys):
    from bench.cli import main

    code = main(["run", "--datasets", "sst2", "--methods", "standard", "--attacks", "pwws", "--seeds", "0",
                 "--scale", "smoke", "--set", "precision=fp16", "--device", "cpu", "--results", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "precision=fp16 needs a GPU" in err[0]
    assert not any(tmp_path.iterdir())  # refused before any work


def test_the_setting_is_recorded_and_keyed_apart():
    from bench.core.config import identity_config, training_settings
    from bench.run.grid import Cell, resolve_cell

    base = ("sst2", "minilm-l6", "standard", 0, "pwws", "smoke")
    plain, bf16 = resolve_cell(Cell(*base)), resolve_cell(Cell(*base, overrides=(("precision", "bf16"),)))
    assert plain.config["scale_settings"]["precision"] == "fp32"
    assert "precision" not in identity_config(plain.config)["scale_settings"]  # earlier records keep their ids
    assert bf16.cell_id != plain.cell_id and training_settings(bf16.scale)["precision"] == "bf16"
    with pytest.raises(ConfigError, match="precision must be one of fp32, bf16, fp16"):
        resolve_cell(Cell(*base, overrides=(("precision", "fp8"),)))


def _spy_autocast(monkeypatch) -> list:
    entered = []
    original = torch.autocast

    def spy(device_type, dtype=None, **kwargs):
        entered.append((device_type, dtype))
        return original(device_type=device_type, dtype=dtype, **kwargs)

    monkeypatch.setattr(precision.torch, "autocast", spy)
    return entered


@pytest.mark.parametrize("method_name, mode", [("standard", "bf16"), ("standard", "fp16"),
                                               pytest.param("adv-base", "bf16", marks=pytest.mark.slow)])
def test_training_and_the_victim_run_under_autocast_with_fp32_weights_and_losses(
        method_name, mode, sst2_task, minilm_dir, monkeypatch):
    """One step on 16 sentences: every forward pass of training (ASCC's inner steps included), of the dev
    selection and of the victim runs under autocast to the precision's dtype; the weights stay fp32 and the logits
    the losses see are fp32; fp16 scales the loss."""
    from bench.core.config import Scale
    from bench.core.registry import METHODS
    from bench.core.train import TrainJob, TrainSpec, fine_tune
    from bench.core.victim import Victim

    monkeypatch.setattr(precision, "unsupported", lambda p, d: "")  # the CPU stand-in for a capable device
    entered = _spy_autocast(monkeypatch)
    scaled = []
    original_scale = torch.amp.GradScaler.scale
    monkeypatch.setattr(torch.amp.GradScaler, "scale", lambda self, loss: scaled.append(1) or original_scale(self, loss))
    task = dataclasses.replace(sst2_task, train=sst2_task.train[:16], dev=sst2_task.dev[:2], test=sst2_task.test[:2])
    scale = Scale(n_train=16, n_dev=2, n_test=2, epochs=1, batch_size=16, lr=1e-4, precision=mode)
    method_cls = METHODS.get(method_name)
    hparams = method_cls.Hparams(**({"ascc_steps": 1} if method_name == "adv-base" else {}))
    spec = TrainSpec("sst2", "minilm-l6", "x", "mean", method_name, dataclasses.asdict(hparams), 0, scale, 32,
                     {"n_train": 32})
    trained = fine_tune(TrainJob(spec, method_cls, task, minilm_dir), torch.device("cpu"), log=lambda m: None)
    dtype = precision.DTYPES[mode]
    assert entered and all(e == ("cpu", dtype) for e in entered)
    assert {p.dtype for p in trained.model.parameters()} == {torch.float32}
    assert bool(scaled) == (mode == "fp16")
    victim = Victim(trained.model, trained.tokenizer, 32, 8, CPU, mode)
    entered.clear()
    probs = victim.predict_proba([ex.text for ex in task.test])
    assert entered == [("cpu", dtype)] and probs.dtype.name == "float32"
    with victim.autocast():
        out = trained.model(**victim.encode([task.test[0].text]))
    assert out.logits.dtype == torch.float32 and out.features.dtype == torch.float32


def test_fp32_enters_no_autocast(sst2_task, minilm_dir, monkeypatch):
    """The default path is the one every committed record ran: no autocast anywhere."""
    from bench.core.classifier import load_pretrained
    from bench.core.victim import Victim

    entered = _spy_autocast(monkeypatch)
    model, tokenizer = load_pretrained(minilm_dir, 2, "mean", 0)
    Victim(model, tokenizer, 32, 8, CPU).predict_proba([ex.text for ex in sst2_task.test[:2]])
    assert entered == []


def test_the_ascc_search_runs_under_autocast_with_fp32_hull_weights(sst2_task, minilm_dir, assets, monkeypatch):
    """ASCC's inner steps (adversarial training and the ``ascc`` attack) run under the victim's autocast; the hull
    weights it optimises stay fp32."""
    from bench.core import ascc
    from bench.core.classifier import load_pretrained
    from bench.core.synonyms import counterfitted
    from bench.core.victim import Victim

    entered = _spy_autocast(monkeypatch)
    model, tokenizer = load_pretrained(minilm_dir, 2, "mean", 0)
    victim = Victim(model, tokenizer, 32, 8, CPU, "bf16")
    aligner = ascc.aligner_for(tokenizer, counterfitted(assets), 0, 32)
    examples = sst2_task.test[:2]
    with victim.autocast():
        alignment = aligner.align(examples)
        result = ascc.search(model, alignment, ascc.ce_objective(torch.tensor([ex.label for ex in examples])),
                             ascc.ASCCSettings(steps=1))
    assert entered == [("cpu", torch.bfloat16)] and result.weights.dtype == torch.float32
    entered.clear()
    ascc.robust_accuracy(victim, examples, aligner, ascc.ASCCSettings(steps=1))
    assert entered and all(e == ("cpu", torch.bfloat16) for e in entered)
