"""The paper's table layouts, built from the results frame (missing cells show "—", never a number).

* :func:`main_tables` — Tables 1–2: one table per dataset (and scale), a block per model, rows = methods,
  columns = clean accuracy and accuracy under each attack, "mean ± std (n seeds)", best per column in bold.
* :func:`ablation_table` — Table 3: RIFT with I(S;T|Y) (``rift``) vs I(S;T) (``rift-ist``).
* :func:`secondary_tables` — attack success rate, % words perturbed, queries and seconds per example.
"""

from __future__ import annotations

from typing import Iterable

import pandas as pd

from bench.report.labels import (ABLATION_METHODS, ATTACK_NAMES, ATTACK_NOTES, BEYOND_MARK, BEYOND_PAPER_ATTACKS,
                                 BEYOND_PAPER_METHODS, DATASET_NAMES, METHOD_NAMES, MODEL_NAMES, REFERENCES,
                                 attack_display, display, order_key, overrides_label, sort_names)
from bench.report.table import Block, Cell, Table, bold_best, stat
from bench.core.store import safe_name


def method_display(method: str, overrides: Iterable[tuple[str, object]] = ()) -> str:
    label = overrides_label(overrides, symbols=True)
    base = display(method, METHOD_NAMES)
    return f"{base} ({label})" if label else base


def _ordered(frame: pd.DataFrame, label: str, base: str, names: dict[str, str]) -> list[str]:
    pairs = frame[[base, label]].drop_duplicates().itertuples(index=False)
    return [lab for _, lab in sorted(pairs, key=lambda p: (order_key(p[0], names), p[1]))]


def _beyond(name: str, beyond: tuple[str, ...], mark: bool) -> str:
    return BEYOND_MARK if mark and name in beyond else ""


def _references(names: Iterable[str]) -> str:
    """``FreeLB (Zhu et al. 2020); TextFooler (Jin et al. 2020)``: each name's display and its registered reference."""
    shown = {**METHOD_NAMES, **ATTACK_NAMES}
    return "; ".join(display(n, shown) + (f" ({REFERENCES[n]})" if n in REFERENCES else "") for n in names)


def _method_rows(frame: pd.DataFrame, mark: bool = False) -> list[tuple[str, str]]:
    """(method_label, display name) in the paper's method order, sweep variants after their default; with
    ``mark``, methods beyond the paper carry ``BEYOND_MARK``."""
    firsts = frame.drop_duplicates("method_label")
    rows = [(r.method_label, method_display(r.method, r.method_overrides) + _beyond(r.method, BEYOND_PAPER_METHODS, mark),
             r.method, r.method_overrides) for r in firsts.itertuples()]
    rows.sort(key=lambda r: (order_key(r[2], METHOD_NAMES), len(r[3]) > 0, overrides_sort_key(r[3]), r[0]))
    return [(label, shown) for label, shown, _, _ in rows]


def overrides_sort_key(overrides: Iterable[tuple[str, object]]) -> tuple:
    """Swept variants in numeric order of their values (β=1, 5, 10 — not 1, 10, 5)."""
    return tuple((k, (0, v, "") if isinstance(v, (int, float)) else (1, 0, str(v))) for k, v in sorted(overrides))


def clean_per_seed(group: pd.DataFrame) -> pd.Series:
    """Clean accuracy of each trained model (a seed), on its largest test set: its attacks share the model, and
    those with the same test size share the test examples."""
    largest = group[group["n_test"] == group.groupby("seed")["n_test"].transform("max")]
    return largest.groupby("seed")["clean_accuracy"].mean()


def _setting_notes(frame: pd.DataFrame) -> list[str]:
    """What the numbers were measured on: training split and size, test size, scale."""
    notes = []
    for (model, split), g in frame.groupby(["model", "train_split"], dropna=False, sort=True):
        n_train = ", ".join(str(int(v)) for v in sorted(g["n_train"].dropna().unique())) or "?"
        n_test = ", ".join(str(int(v)) for v in sorted(g["n_examples"].dropna().unique())) or "?"
        epochs = ", ".join(str(int(v)) for v in sorted(g["epochs"].dropna().unique())) or "?"
        notes.append(f"{display(model, MODEL_NAMES)}: fine-tuned on {n_train} examples of the '{split}' split "
                     f"for {epochs} epoch(s); {n_test} test examples attacked.")
    if (frame["train_split"] != "train").any():
        notes.append("A training split other than 'train' means the dataset's train split was not available offline "
                     "(see each record's data.notes).")
    return notes


def _accuracy_block(group: pd.DataFrame, title: str | None, rows: list[tuple[str, str]],
                    attacks: list[str]) -> Block:
    block = Block(title)
    for label, shown in rows:
        g = group[group["method_label"] == label]
        cells = [stat(clean_per_seed(g), 100.0)]
        cells += [stat(g.loc[g["attack_label"] == a, "accuracy_under_attack"], 100.0) for a in attacks]
        block.rows.append((shown, cells))
    bold_best(block)
    return block


def _groups(frame: pd.DataFrame) -> list[tuple[tuple[str, str], pd.DataFrame]]:
    keyed = frame.groupby(["dataset", "scale_label"], sort=False)
    return sorted(keyed, key=lambda kv: (order_key(kv[0][0], DATASET_NAMES), kv[0][1]))


def _valid(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["accuracy_under_attack"].notna()] if not frame.empty else frame


def main_tables(frame: pd.DataFrame) -> list[Table]:
    """Tables 1–2: one per (dataset, scale); a block per model; rows = methods; columns = clean + attacks."""
    frame = _valid(frame)
    frame = frame[frame["method"] != "rift-ist"] if not frame.empty else frame
    tables = []
    for (dataset, scale), group in _groups(frame):
        attacks = _ordered(group, "attack_label", "attack", ATTACK_NAMES)
        rows = _method_rows(group, mark=True)
        blocks = [_accuracy_block(group[group["model"] == model], display(model, MODEL_NAMES), rows, attacks)
                  for model in sort_names(group["model"], MODEL_NAMES)]
        beyond = sort_names(set(group["method"]) & set(BEYOND_PAPER_METHODS), METHOD_NAMES) + \
            sort_names(set(group["attack"]) & set(BEYOND_PAPER_ATTACKS), ATTACK_NAMES)
        tables.append(Table(
            key=f"main-{safe_name(dataset)}-{safe_name(scale)}",
            title=f"Accuracy under attack (%) on {display(dataset, DATASET_NAMES)}, scale {scale}",
            columns=["Clean"] + [attack_display(a) + _beyond(a.partition(" (")[0], BEYOND_PAPER_ATTACKS, True)
                                 for a in attacks], blocks=blocks,
            notes=["Mean ± sample std over training seeds (n = number of seeds); best per column and model in bold; "
                   "— = not run.",
                   *([f"{BEYOND_MARK} Beyond the paper (not in Dong et al. 2021): {_references(beyond)}."]
                     if beyond else []),
                   *_setting_notes(group)]))
    return tables


OBJECTIVES = {"rift": "I(S;T|Y)", "rift-ist": "I(S;T)"}


def ablation_table(frame: pd.DataFrame) -> Table | None:
    """Table 3: RIFT with I(S;T|Y) vs I(S;T), a block per (dataset, model, scale); None without ``rift-ist`` records."""
    frame = _valid(frame)
    if frame.empty or not (frame["method"] == "rift-ist").any():
        return None
    frame = frame[frame["method"].isin(ABLATION_METHODS)]
    attacks = _ordered(frame, "attack_label", "attack", ATTACK_NAMES)
    blocks = []
    for (dataset, scale), group in _groups(frame):
        for model in sort_names(group["model"], MODEL_NAMES):
            g = group[group["model"] == model]
            if not (g["method"] == "rift-ist").any():
                continue
            firsts = g.drop_duplicates("method_label")
            rows = sorted(((r.method_label, r.method, r.method_overrides) for r in firsts.itertuples()),
                          key=lambda r: (ABLATION_METHODS.index(r[1]), r[0]))
            rows = [(label, "RIFT, " + (f"{OBJECTIVES[method]} ({overrides_label(ov, symbols=True)})" if ov
                                        else OBJECTIVES[method])) for label, method, ov in rows]
            if "rift" not in set(g["method"]):
                rows.insert(0, ("rift", "RIFT, " + OBJECTIVES["rift"]))
            title = f"{display(dataset, DATASET_NAMES)} · {display(model, MODEL_NAMES)} · {scale}"
            blocks.append(_accuracy_block(g, title, rows, attacks))
    return Table(key="ablation-ist", title="RIFT: I(S;T|Y) vs I(S;T) — accuracy under attack (%)",
                 columns=["Clean"] + [attack_display(a) for a in attacks], blocks=blocks, row_header="Objective",
                 notes=["Mean ± sample std over training seeds (n); best per column and block in bold; — = not run.",
                        *_setting_notes(frame)])


SECONDARY = [("attack_success_rate", "Attack success (%)", 100.0, 1), ("mean_perturbed_pct", "Words perturbed (%)", 1.0, 1),
             ("unattackable_share", "Unattackable (%)", 100.0, 1),
             ("accuracy_under_attack_attackable", "Acc. under attack, attackable (%)", 100.0, 1),
             ("median_clean_margin", "Clean margin", 1.0, 2),
             ("mean_queries", "Queries", 1.0, 0), ("seconds_per_example", "Seconds / example", 1.0, 2),
             ("mean_similarity", "USE similarity", 1.0, 3)]
OPTIONAL_SECONDARY = ("median_clean_margin", "mean_similarity")  # shown only where some cell has a value
#: shown only where some cell has examples its recipe could not attack
ATTACKABILITY = ("unattackable_share", "accuracy_under_attack_attackable")


def secondary_tables(frame: pd.DataFrame) -> list[Table]:
    """Attack cost and effect per (method, attack): rows "method · attack", a block per model."""
    frame = _valid(frame)
    tables = []
    for (dataset, scale), group in _groups(frame):
        attacks = _ordered(group, "attack_label", "attack", ATTACK_NAMES)
        rows = _method_rows(group)
        some_unattackable = bool((group["unattackable_share"].fillna(0) > 0).any())
        columns = [c for c in SECONDARY if (c[0] not in OPTIONAL_SECONDARY or group[c[0]].notna().any())
                   and (c[0] not in ATTACKABILITY or some_unattackable)]
        shown = {c[0] for c in columns}
        blocks = []
        for model in sort_names(group["model"], MODEL_NAMES):
            g = group[group["model"] == model]
            block = Block(display(model, MODEL_NAMES))
            for label, shown in rows:
                for attack in attacks:
                    cell = g[(g["method_label"] == label) & (g["attack_label"] == attack)]
                    if cell.empty:
                        continue
                    block.rows.append((f"{shown} · {attack_display(attack)}",
                                       [stat(cell[col], scale_, digits) for col, _, scale_, digits in columns]))
            blocks.append(block)
        tables.append(Table(
            key=f"secondary-{safe_name(dataset)}-{safe_name(scale)}",
            title=f"Attack statistics on {display(dataset, DATASET_NAMES)}, scale {scale}",
            columns=[name for _, name, _, _ in columns], blocks=blocks, row_header="Method · attack",
            notes=["Mean ± sample std over training seeds (n). Attack success: flipped / correctly classified; "
                   "words perturbed: over successful attacks; "
                   + ("unattackable: examples classified right for which the recipe had no edit it may make (e.g. "
                      "AddSent without an admissible distractor), which the accuracy under attack counts as robust; "
                      "acc. under attack, attackable: the same accuracy without them; " if some_unattackable else "")
                   + ("clean margin: p(gold) − the largest other class probability on the clean text, median over "
                      "the attacked examples (a model with small margins is flipped by small changes); "
                      if "median_clean_margin" in shown else "")
                   + "queries: model queries per attacked example; "
                   "seconds: wall time per test example (machine-dependent)"
                   + ("; USE similarity: cosine of the universal-sentence-encoder embeddings of adversarial and "
                      "original text, over successful attacks." if "mean_similarity" in shown else ".")
                   + "".join(f" {ATTACK_NOTES[name]}" for name in sort_names(group["attack"], ATTACK_NAMES)
                             if name in ATTACK_NOTES)]))
    return tables



#: loss terms a method reports (bench.core.train's per-epoch means), in display order: (key, column, digits)
LOSS_TERMS = [("ce", "CE", 3), ("kl", "KL", 3), ("info_bound", "Î (nats)", 3), ("weight_distance", "‖θ−θ₀‖₂", 3)]


def _epochs_kept(models: pd.DataFrame) -> Cell:
    """The epoch each seed's model kept, in seed order, over the epochs trained: "3 · 2 · 3 of 3"."""
    kept = models.sort_values("seed")
    epochs = ["—" if pd.isna(e) else str(int(e)) for e in kept["selected_epoch"]]
    trained = sorted({int(e) for e in kept["epochs"].dropna()})
    return Cell(" · ".join(epochs) + (f" of {'/'.join(map(str, trained))}" if trained else ""))


def training_tables(frame: pd.DataFrame) -> list[Table]:
    """Per trained model: the mean of each loss term over the selected epoch, dev accuracy and weight distance
    (mean ± std over seeds), so that a term that does nothing is visible. Records sharing a model count once."""
    frame = _valid(frame)
    if frame.empty or "loss_terms" not in frame:
        return []
    models = frame.drop_duplicates("train_key") if frame["train_key"].notna().all() else frame
    tables = []
    for (dataset, scale), group in _groups(models):
        terms = [t for t in LOSS_TERMS if any(t[0] in (row or {}) for row in group["loss_terms"])]
        if not terms:
            continue
        rows = _method_rows(group)
        blocks = []
        for model in sort_names(group["model"], MODEL_NAMES):
            g = group[group["model"] == model]
            block = Block(display(model, MODEL_NAMES))
            for label, shown in rows:
                m = g[g["method_label"] == label]
                if m.empty:
                    continue
                cells = [stat(pd.Series([row.get(key) for row in m["loss_terms"]], dtype="float64").dropna(), 1.0, digits)
                         for key, _, digits in terms]
                cells.append(_epochs_kept(m))
                cells.append(stat(m["selected_dev_accuracy"], 100.0))
                cells.append(stat(m["rel_weight_distance"], 1.0, 4))
                off = sorted({t for ts in m["inactive_terms"] for t in ts})
                block.rows.append((shown + (f" [off: {'; '.join(off)}]" if off else ""), cells))
            blocks.append(block)
        tables.append(Table(
            key=f"training-{safe_name(dataset)}-{safe_name(scale)}",
            title=f"Training: mean loss terms of the selected epoch on {display(dataset, DATASET_NAMES)}, scale {scale}",
            columns=[name for _, name, _ in terms] + ["Epoch kept", "Dev acc (%)", "‖θ−θ₀‖/‖θ₀‖"], blocks=blocks,
            notes=["Mean ± sample std over trained models (seeds); each term is its mean over the steps of the epoch "
                   "that model selection kept. Epoch kept: that epoch per seed, in seed order, of the epochs trained. "
                   "Î: the InfoNCE bound (RIFT: Î(S;T|Y), RIFT I(S;T): Î(S;T)); "
                   "‖θ−θ₀‖₂: PTWD's penalty before λ. — = the method has no such term. [off: …] = a term the "
                   "settings switched off (logged, not trained)."]))
    return tables
