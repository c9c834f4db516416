"""Side by side with the paper: its numbers (``results/paper/``) next to ours, with the difference, and for
every comparison a statement of what differs (model, training data size, training split, scale)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from bench.core.errors import BenchError
from bench.report.labels import ATTACK_NAMES, DATASET_NAMES, METHOD_NAMES, MODEL_NAMES, display, sort_names
from bench.report.table import MISSING, Block, Cell, Table, stat, text
from bench.core.store import safe_name

PAPER_DIR = Path(__file__).resolve().parents[2] / "results" / "paper"
NUMBERS_FILE = "dong2021_accuracy_under_attack.csv"
SETTING_FILE = "setting.yaml"
NUMBER_COLUMNS = ["table", "dataset", "model", "method", "attack", "mean", "std"]


@dataclass
class Paper:
    numbers: pd.DataFrame  # NUMBER_COLUMNS; mean/std in %
    setting: dict


def load_paper(folder: Path | None = None) -> Paper:
    """The paper's numbers and setting; a clear error when the data folder is missing or malformed."""
    folder = Path(folder) if folder else PAPER_DIR
    numbers_file, setting_file = folder / NUMBERS_FILE, folder / SETTING_FILE
    for f in (numbers_file, setting_file):
        if not f.exists():
            raise BenchError(f"the paper's numbers are missing: {f} does not exist (pass --paper DIR: a folder "
                             f"with {NUMBERS_FILE} and {SETTING_FILE}, as in the repository's results/paper/)")
    numbers = pd.read_csv(numbers_file, dtype={"table": str})
    if list(numbers.columns) != NUMBER_COLUMNS:
        raise BenchError(f"{numbers_file}: expected columns {NUMBER_COLUMNS}, got {list(numbers.columns)}")
    try:
        setting = yaml.safe_load(setting_file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise BenchError(f"{setting_file}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(setting, dict) or not {"models", "datasets", "nearest_model", "scale"} <= set(setting):
        raise BenchError(f"{setting_file}: expected keys models, datasets, nearest_model, scale")
    return Paper(numbers, setting)


def _paper_cell(row: pd.Series | None) -> Cell:
    if row is None:
        return Cell()
    std = None if pd.isna(row["std"]) else float(row["std"])
    label = f"{row['mean']:.1f}" + (f" ± {std:.1f}" if std is not None else "")
    return Cell(label, float(row["mean"]), std, None, 1)


def _delta(ours: Cell, paper: Cell) -> Cell:
    if not ours.is_stat or not paper.is_stat:
        return Cell()
    d = ours.mean - paper.mean
    return text(f"{d:+.1f}")


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if value is None:
        return "all"
    return str(value)


def _expected(value: object, dataset: str) -> object:
    """A protocol value, or its per-dataset entry when it is a mapping by dataset."""
    return value.get(dataset) if isinstance(value, dict) else value


def protocol_differences(row: dict, protocol: dict) -> tuple[list[tuple[str, object, object]], list[str], list[str]]:
    """Compare one record's resolved configuration (a ``records_frame`` row) with the paper's protocol.

    Returns (differences as (setting, ours, paper), settings the paper leaves unstated as "name=ours", settings
    declared nowhere in the protocol). Every scale field, method hyperparameter and attack setting of the
    record is visited, so a setting added to the code later shows up here until the protocol declares it.
    """
    dataset, method, attack = row["dataset"], row["method"], row["attack"]
    diffs: list[tuple[str, object, object]] = []
    unstated: list[str] = []
    undeclared: list[str] = []
    scale_protocol = protocol.get("scale", {})
    per_dataset = protocol.get("per_dataset", {}).get(dataset, {})
    skip = set(protocol.get("no_counterpart", []))
    scale_settings = dict(row.get("scale_settings") or {})
    for name in sorted((set(scale_protocol) | set(per_dataset)) - set(scale_settings) - {"max_length"}):
        diffs.append((name, "not recorded", _expected(scale_protocol.get(name, per_dataset.get(name)), dataset)))
    for name, ours in sorted(scale_settings.items()):
        if name in skip:
            continue
        if name in per_dataset:
            paper = per_dataset[name]
        elif name in scale_protocol:
            paper = _expected(scale_protocol[name], dataset)
        else:
            undeclared.append(f"{name}={_fmt(ours)}")
            continue
        if ours != paper:
            diffs.append((name, ours, paper))
    if "max_length" in per_dataset and row.get("max_length") is not None and row["max_length"] != per_dataset["max_length"]:
        diffs.append(("max_length", row["max_length"], per_dataset["max_length"]))
    groups = [("method." , protocol.get("methods", {}).get(method, {}), protocol.get("unstated_methods", {}).get(method, []),
               [], row.get("hparams") or {}),
              ("attack.", protocol.get("attacks", {}).get(attack), protocol.get("unstated_attacks", {}).get(attack, []),
               protocol.get("no_counterpart_attacks", {}).get(attack, []), row.get("attack_settings") or {})]
    for prefix, declared, unstated_names, no_counterpart, values in groups:
        if declared is None:  # an attack the paper did not run: nothing to compare its settings with
            continue
        for name, ours in sorted(values.items()):
            if name in no_counterpart:
                continue
            if name in unstated_names:
                unstated.append(f"{prefix}{name}={_fmt(ours)}")
            elif name in declared:
                paper = _expected(declared[name], dataset)
                if ours != paper and not (isinstance(ours, (list, tuple)) and list(ours) == paper):
                    diffs.append((prefix + name, ours, paper))
            else:
                undeclared.append(f"{prefix}{name}={_fmt(ours)}")
    return diffs, unstated, undeclared


def _values(values: list[object]) -> str:
    distinct = list(dict.fromkeys(_fmt(v) for v in values))
    return " / ".join(distinct)


def differences(ours: pd.DataFrame, dataset: str, model: str, paper_model: str, paper: Paper) -> list[str]:
    """Plain sentences saying how our setting differs from the paper's for one comparison, computed from the
    records' resolved configurations (nothing hand-written per run)."""
    setting = paper.setting
    data = setting["datasets"].get(dataset, {})
    lines = []
    if model != paper_model:
        lines.append(f"Model: ours {display(model, MODEL_NAMES)} ({model}), paper {display(paper_model, MODEL_NAMES)}"
                     + (" (the paper's nearest encoder to ours)" if model not in setting["models"] else "") + ".")
    n_train = ", ".join(f"{int(v):,}" for v in sorted(ours["n_train"].dropna().unique())) or "?"
    splits = sorted(set(ours["train_split"].dropna()))
    lines.append(f"Training data: ours {n_train} examples of the '{', '.join(splits)}' split, paper "
                 f"{data.get('train_data', 'unknown')}.")
    if splits != [data.get("train_split", "train")]:
        lines.append(f"Training split: ours '{', '.join(splits)}', paper '{data.get('train_split', 'train')}' "
                     "(each record's data.notes says why).")
    if setting.get("model_selection"):
        metrics = sorted(set(ours["selection_metric"].dropna())) if "selection_metric" in ours else []
        lines.append(f"Model selection: ours one epoch per model by {', '.join(metrics) or 'its dev score'} on the dev "
                     f"split, before any attack; paper {setting['model_selection']}.")
    protocol = setting.get("protocol")
    if protocol:
        found: dict[str, tuple[list[object], object]] = {}
        unstated: dict[str, None] = {}
        undeclared: dict[str, None] = {}
        for row in ours.to_dict("records"):
            diffs, free, unknown = protocol_differences(row, protocol)
            for name, mine, theirs in diffs:
                found.setdefault(name, ([], theirs))[0].append(mine)
            unstated.update(dict.fromkeys(free))
            undeclared.update(dict.fromkeys(unknown))
        if found:
            lines.append("Settings that differ from the paper code's (ours vs paper): "
                         + "; ".join(f"{name} {_values(mine)} vs {_fmt(theirs)}" for name, (mine, theirs) in found.items())
                         + ".")
        else:
            lines.append("Every training, method and attack setting equals the paper code's.")
        if unstated:
            lines.append("Not stated by the paper (ours): " + ", ".join(unstated) + ".")
        if undeclared:
            lines.append("Settings of ours the paper's protocol (results/paper/setting.yaml) does not declare: "
                         + ", ".join(undeclared) + ".")
    n_test = ", ".join(str(int(v)) for v in sorted(ours["n_examples"].dropna().unique()))
    lines.append(f"Ours: {n_test} attacked test examples per cell, seeds {sorted(int(s) for s in ours['seed'].unique())}.")
    return lines


def compare_tables(frame: pd.DataFrame, paper: Paper) -> tuple[list[Table], list[str]]:
    """One table per (paper dataset, our model, scale) we have results for; plus messages for what cannot be compared."""
    numbers = paper.numbers
    messages = []
    tables = []
    datasets = sort_names(numbers["dataset"], DATASET_NAMES)
    ours_all = frame[frame["accuracy_under_attack"].notna()] if not frame.empty else frame
    # only the default configuration of a method is the paper's method; sweep variants are not compared
    ours_all = ours_all[ours_all["method_label"] == ours_all["method"]] if not ours_all.empty else ours_all
    # only the paper's methods are compared (and their settings listed); methods beyond the paper are not in it
    ours_all = ours_all[ours_all["method"].isin(set(numbers["method"]))] if not ours_all.empty else ours_all
    attacks = sort_names(numbers["attack"], ATTACK_NAMES)
    methods = sort_names(numbers["method"], METHOD_NAMES)
    for dataset in datasets:
        ours_d = ours_all[ours_all["dataset"] == dataset] if not ours_all.empty else ours_all
        if ours_d.empty:
            messages.append(f"{display(dataset, DATASET_NAMES)}: no results of ours to compare with the paper's.")
            continue
        for (model, scale), ours in ours_d.groupby(["model", "scale_label"], sort=True):
            paper_model = model if model in paper.setting["models"] else paper.setting["nearest_model"]
            ref = numbers[(numbers["dataset"] == dataset) & (numbers["model"] == paper_model)]
            block = Block(None)
            for method in methods:
                cells = []
                for attack in attacks:
                    mine = stat(ours.loc[(ours["method"] == method) & (ours["attack"] == attack), "accuracy_under_attack"],
                                100.0)
                    hit = ref[(ref["method"] == method) & (ref["attack"] == attack)]
                    theirs = _paper_cell(hit.iloc[0] if len(hit) else None)
                    cells += [mine, theirs, _delta(mine, theirs)]
                block.rows.append((display(method, METHOD_NAMES), cells))
            tables.append(Table(
                key=f"paper-{safe_name(dataset)}-{safe_name(model)}-{safe_name(scale)}",
                title=(f"Ours vs the paper: accuracy under attack (%) on {display(dataset, DATASET_NAMES)}, "
                       f"ours {display(model, MODEL_NAMES)} at scale {scale}, paper {display(paper_model, MODEL_NAMES)}"),
                columns=["Ours", "Paper", "Δ"] * len(attacks), blocks=[block],
                column_groups=[(display(a, ATTACK_NAMES), 3) for a in attacks],
                notes=["Not a reproduction of the paper's setting. What differs: "
                       + " ".join(differences(ours, dataset, model, paper_model, paper)),
                       f"Ours: mean ± std over seeds (n); paper: {paper.setting.get('metric', '')}; Δ = ours − paper; "
                       f"{MISSING} = not run (ours) or not reported (paper)."]))
    others = sorted(set(ours_all["dataset"]) - set(datasets)) if not ours_all.empty else []
    if others:
        messages.append("The paper reports no numbers for " + ", ".join(display(d, DATASET_NAMES) for d in others)
                        + "; those results are not compared.")
    return tables, messages


def paper_tables(paper: Paper) -> list[Table]:
    """The paper's own numbers in the Tables 1–2 layout (a block per model, one table per dataset), for reference."""
    numbers = paper.numbers
    attacks = sort_names(numbers["attack"], ATTACK_NAMES)
    tables = []
    for dataset in sort_names(numbers["dataset"], DATASET_NAMES):
        d = numbers[numbers["dataset"] == dataset]
        blocks = []
        for model in sort_names(d["model"], MODEL_NAMES):
            m = d[d["model"] == model]
            block = Block(display(model, MODEL_NAMES))
            for method in sort_names(m["method"], METHOD_NAMES):
                cells = []
                for attack in attacks:
                    hit = m[(m["method"] == method) & (m["attack"] == attack)]
                    cells.append(_paper_cell(hit.iloc[0] if len(hit) else None))
                block.rows.append((display(method, METHOD_NAMES), cells))
            blocks.append(block)
        tables.append(Table(key=f"paper-reference-{safe_name(dataset)}",
                            title=f"The paper's accuracy under attack (%) on {display(dataset, DATASET_NAMES)} (reference)",
                            columns=[display(a, ATTACK_NAMES) for a in attacks], blocks=blocks,
                            notes=[f"From {paper.setting.get('paper', 'the paper')}; shipped as data in results/paper/. "
                                   "Not measured by this project."]))
    return tables
