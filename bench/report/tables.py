"""Tables from the results frame. Cells without results show "—"; numbers are mean ± std over seeds."""

from __future__ import annotations


import pandas as pd


def _fmt(values: pd.Series, percent: bool = True) -> str:
    values = values.dropna().astype(float)
    if values.empty:
        return "—"
    scale = 100.0 if percent else 1.0
    mean = values.mean() * scale
    if len(values) == 1:
        return f"{mean:.1f} (n=1)"
    std = values.std(ddof=1) * scale
    return f"{mean:.1f} ± {std:.1f} (n={len(values)})"


def summary_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows: dataset · model · scale · method; columns: clean accuracy and accuracy under each attack (%)."""
    if frame.empty:
        return pd.DataFrame()
    keys = ["dataset", "model", "scale", "method"]
    attacks = sorted(frame["attack"].unique())
    rows = []
    for key, group in frame.groupby(keys, sort=True):
        row = dict(zip(keys, key))
        # Clean accuracy per trained model: one value per seed (the attacks of a seed share the model and test set).
        per_seed = group.groupby("seed")["clean_accuracy"].first()
        row["clean"] = _fmt(per_seed)
        for attack in attacks:
            row[attack] = _fmt(group.loc[group["attack"] == attack, "accuracy_under_attack"])
        splits = sorted(set(group["train_split"].dropna()))
        row["trained on"] = ", ".join(splits)
        rows.append(row)
    return pd.DataFrame(rows)


def to_markdown(table: pd.DataFrame) -> str:
    if table.empty:
        return "_no results yet_"
    return table.to_markdown(index=False)


