"""Figures (PDF + PNG, colour-blind-safe palette, one marker shape per method as a second cue).

* :func:`tradeoff_figure` — clean accuracy vs accuracy under attack, one point per trained model, a curve per
  method family through its swept variants (e.g. ``bench run --sweep method.beta=1,5,10``), the Pareto front marked.
* :func:`distance_figure` — relative L2 distance ‖θ−θ₀‖/‖θ₀‖ of the encoder over training steps, per method.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from bench.report.labels import DATASET_NAMES, METHOD_NAMES, MODEL_NAMES, display, order_key, overrides_label, sort_names
from bench.report.tables import attack_display, method_display, overrides_sort_key
from bench.core.store import safe_name

MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">"]
LINESTYLES = ["-", "--", ":", "-."]


@dataclass
class FigureFile:
    """A written figure: its title and the PDF and PNG paths."""

    kind: str
    title: str
    pdf: Path
    png: Path


def _style():
    return sns.axes_style("whitegrid"), sns.plotting_context("paper", font_scale=1.25)


# seaborn "colorblind" indices: the six paper methods get blue, orange, green, vermillion, purple, brown; further
# methods cyan, grey, pink, yellow (the light ones last).
_SLOTS = [0, 1, 2, 3, 4, 5, 9, 7, 6, 8]


def _colours(methods: list[str]) -> dict[str, tuple]:
    """A fixed colour and marker per method family: the paper's methods always get the same ones."""
    palette = sns.color_palette("colorblind", n_colors=10)
    extra = sorted(m for m in set(methods) if m not in METHOD_NAMES)
    ordered = list(METHOD_NAMES) + extra
    return {m: (palette[_SLOTS[i % len(_SLOTS)]], MARKERS[i % len(MARKERS)]) for i, m in enumerate(ordered)}


def _title(ax, text: str, scale: str) -> None:
    """Dataset and model on the first line, the (possibly long) scale with its overrides below."""
    import textwrap

    ax.set_title(text + "\n" + textwrap.shorten(f"scale {scale}", width=90, placeholder=" …"), fontsize=11)


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points not dominated in (x, y), both maximised; sorted by x."""
    front, best_y = [], float("-inf")
    for x, y in sorted(set(points), key=lambda p: (-p[0], -p[1])):
        if y > best_y:
            front.append((x, y))
            best_y = y
    return sorted(front)


def _variant_sort_key(row: pd.Series, keys: list[str]) -> tuple:
    values = [row["hparams"].get(k) if isinstance(row["hparams"], dict) else None for k in keys]
    return tuple((0, v) if isinstance(v, (int, float)) else (1, str(v)) for v in values)


def _variant_label(overrides: tuple, hparams: dict, keys: list[str]) -> str:
    """``β=5`` for a swept variant; ``β=2 (default)`` for the method's default configuration."""
    if overrides:
        return overrides_label(overrides, symbols=True)
    values = [(k, hparams.get(k)) for k in keys if isinstance(hparams, dict) and k in hparams]
    return f"{overrides_label(values, symbols=True)} (default)" if values else "default"


def tradeoff_figure(frame: pd.DataFrame, title: str, scale: str, attack_label: str) -> Figure:
    """Clean vs robust accuracy for the cells of one (dataset, model, scale, attack)."""
    axes_style, context = _style()
    with axes_style, context:
        fig = Figure(figsize=(8.0, 4.8), layout="constrained")
        ax = fig.add_subplot()
        colours = _colours(list(frame["method"].unique()))
        points = []
        for method in sort_names(frame["method"], METHOD_NAMES):
            fam = frame[frame["method"] == method].copy()
            colour, marker = colours[method]
            x, y = fam["clean_accuracy"] * 100, fam["accuracy_under_attack"] * 100
            points += list(zip(x, y))
            ax.scatter(x, y, color=colour, marker=marker, s=28, alpha=0.45, linewidths=0, zorder=3, clip_on=False)
            keys = sorted({k for ov in fam["method_overrides"] for k, _ in ov})
            means = (fam.groupby("method_label")
                        .agg(clean=("clean_accuracy", "mean"), robust=("accuracy_under_attack", "mean"),
                             n=("seed", "nunique"), overrides=("method_overrides", "first"), hparams=("hparams", "first"))
                        .reset_index())
            means["order"] = [_variant_sort_key(r, keys) for _, r in means.iterrows()]
            means = means.sort_values("order")
            means["label"] = [_variant_label(r["overrides"], r["hparams"], keys) for _, r in means.iterrows()]
            n_models = len(fam)
            label = f"{display(method, METHOD_NAMES)} ({n_models} model{'s' if n_models != 1 else ''})"
            ax.plot(means["clean"] * 100, means["robust"] * 100, color=colour, marker=marker, markersize=8,
                    markeredgecolor="white", linewidth=1.8, label=label, zorder=4, clip_on=False)
            if len(means) > 1:  # one label per distinct point (variants with equal scores share it)
                spots: dict[tuple[float, float], list[str]] = {}
                for _, r in means.iterrows():
                    spots.setdefault((round(r["clean"] * 100, 6), round(r["robust"] * 100, 6)), []).append(r["label"])
                for i, ((cx, cy), names) in enumerate(spots.items()):
                    ax.annotate(", ".join(names), (cx, cy), textcoords="offset points",
                                xytext=(7, 5 if i % 2 == 0 else -12), fontsize=9, color=colour, fontweight="bold")
        front = pareto_front(points)
        if front:
            fx, fy = zip(*front)
            on_front = sum(1 for p in points if p in set(front))  # models with equal scores all count
            ax.plot(fx, fy, color="0.15", linestyle="--", linewidth=1.0, zorder=2,
                    label=f"Pareto front ({on_front} model{'s' if on_front != 1 else ''})")
            ax.scatter(fx, fy, facecolors="none", edgecolors="0.15", s=110, linewidths=1.1, zorder=5, clip_on=False)
        for axis, values in ((ax.set_xlim, [p[0] for p in points]), (ax.set_ylim, [p[1] for p in points])):
            lo, hi = (min(values), max(values)) if values else (0.0, 100.0)
            pad = max(4.0, 0.08 * (hi - lo))
            axis(max(0.0, lo - pad), min(100.0, hi + pad))
        ax.set_xlabel("Clean accuracy (%)")
        ax.set_ylabel(f"Accuracy under {attack_display(attack_label)} (%)")
        _title(ax, title, scale)
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, fontsize=9,
                  title="small: one trained model\nlarge: mean per setting", title_fontsize=8)
    return fig


def _default_variants(steps: pd.DataFrame) -> pd.DataFrame:
    """Per method, only its default configuration when it has one (sweeps would crowd the figure)."""
    keep = []
    for _, g in steps.groupby("method"):
        default = g[g["method_overrides"].map(len) == 0]
        keep.append(default if not default.empty else g)
    return pd.concat(keep) if keep else steps


def distance_figure(steps: pd.DataFrame, title: str, scale: str) -> Figure:
    """‖θ−θ₀‖/‖θ₀‖ over training steps: a thin line per trained model, a thick mean line per method (variant)."""
    axes_style, context = _style()
    with axes_style, context:
        fig = Figure(figsize=(8.0, 4.4), layout="constrained")
        ax = fig.add_subplot()
        colours = _colours(list(steps["method"].unique()))
        steps = _default_variants(steps)
        labels = steps.drop_duplicates("method_label")[["method", "method_label", "method_overrides"]]
        ordered = sorted(labels.itertuples(index=False),
                         key=lambda r: (order_key(r.method, METHOD_NAMES), len(r.method_overrides) > 0,
                                        overrides_sort_key(r.method_overrides)))
        variant_index: dict[str, int] = {}
        for method, label, _ in ordered:
            g = steps[steps["method_label"] == label]
            colour, marker = colours[method]
            style = LINESTYLES[variant_index.setdefault(method, 0) % len(LINESTYLES)]
            variant_index[method] += 1
            for _, run in g.groupby("train_key"):
                run = run.sort_values("step")
                ax.plot(run["step"], run["rel_weight_distance"], color=colour, linestyle=style, linewidth=0.8,
                        alpha=0.35)
            mean = g.groupby("step")["rel_weight_distance"].mean()
            n = g["train_key"].nunique()
            name = method_display(method, g["method_overrides"].iloc[0])
            ax.plot(mean.index, mean.values, color=colour, linestyle=style, linewidth=2.2, marker=marker,
                    markevery=max(1, len(mean) // 8), markersize=6, markeredgecolor="white",
                    label=f"{name} ({f'mean of {n} runs' if n > 1 else '1 run'})")
        ax.set_xlabel("Training step")
        ax.set_ylabel(r"$\|\theta-\theta_0\|_2\,/\,\|\theta_0\|_2$ (encoder)")
        top = float(steps["rel_weight_distance"].max())
        ax.set_ylim(0, 1.08 * top if top == top and top > 0 else None)  # (top == top: not NaN)
        ax.set_xlim(0, 1.03 * float(steps["step"].max()))
        _title(ax, title, scale)
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, fontsize=9,
                  title="thin: one trained model\nthick: mean", title_fontsize=8)
    return fig


def save_figure(fig: Figure, out: Path, stem: str) -> tuple[Path, Path]:
    """Write ``stem.pdf`` and ``stem.png`` (without timestamps, so reruns give identical PDFs), each atomically."""
    import io

    from bench.core.store import atomic_write_bytes

    out.mkdir(parents=True, exist_ok=True)
    pdf, png = out / f"{stem}.pdf", out / f"{stem}.png"
    for path, kwargs in ((pdf, {"format": "pdf", "metadata": {"CreationDate": None, "ModDate": None}}),
                         (png, {"format": "png", "dpi": 200})):
        buffer = io.BytesIO()  # rendered in memory, then written atomically: a killed report leaves the old figure
        fig.savefig(buffer, **kwargs)
        atomic_write_bytes(path, buffer.getvalue())
    return pdf, png


def write_figures(frame: pd.DataFrame, steps: pd.DataFrame, out: Path) -> list[FigureFile]:
    """Every tradeoff figure (per dataset, model, scale, attack) and distance figure (per dataset, model, scale)."""
    files = []
    valid = frame[frame["accuracy_under_attack"].notna() & frame["clean_accuracy"].notna()] if not frame.empty else frame
    for (dataset, model, scale, attack), g in valid.groupby(["dataset", "model", "scale_label", "attack_label"]):
        title = f"{display(dataset, DATASET_NAMES)} · {display(model, MODEL_NAMES)}"
        stem = "tradeoff-" + "-".join(safe_name(s) for s in (dataset, model, scale, attack))
        pdf, png = save_figure(tradeoff_figure(g, title, scale, attack), out, stem)
        files.append(FigureFile("tradeoff", f"Robustness/accuracy tradeoff: {title}, scale {scale}, "
                                f"{attack_display(attack)}", pdf, png))
    if not steps.empty:
        for (dataset, model, scale), g in steps.groupby(["dataset", "model", "scale_label"]):
            title = f"{display(dataset, DATASET_NAMES)} · {display(model, MODEL_NAMES)}"
            stem = "distance-" + "-".join(safe_name(s) for s in (dataset, model, scale))
            pdf, png = save_figure(distance_figure(g, title, scale), out, stem)
            files.append(FigureFile("distance", f"Relative L2 distance from the pre-trained weights: {title}, "
                                    f"scale {scale}", pdf, png))
    order = {"tradeoff": 0, "distance": 1}
    return sorted(files, key=lambda f: (order[f.kind], f.pdf.name))

