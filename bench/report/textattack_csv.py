"""Export per-example attack results in TextAttack's CSV schema (its ``CSVLogger`` with ``color_method="file"``).

Columns: ``original_text, perturbed_text, original_score, perturbed_score, original_output,
perturbed_output, ground_truth_output, num_queries, result_type``. As in TextAttack, changed words are
wrapped in ``[[…]]``, a text pair is written ``Premise: …<SPLIT>Hypothesis: …``, the score is the
untargeted goal ``1 − p(gold)``, and ``result_type`` is ``Successful``, ``Failed`` or ``Skipped``.
``num_queries`` is our count of texts the attack asked the model about (see ``ExampleLine.queries``).

Command line: ``bench export CELL.examples.jsonl [--out OUT.csv]``.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Iterable

from bench.core.text import Words

COLUMNS = ["original_text", "perturbed_text", "original_score", "perturbed_score", "original_output",
           "perturbed_output", "ground_truth_output", "num_queries", "result_type"]
SPLIT_TOKEN = "<SPLIT>"
RESULT_TYPES = {"success": "Successful", "failed": "Failed", "skipped": "Skipped"}


def _mark(text: str, other: str) -> str:
    """``text`` with the words that differ from ``other`` (position by position) wrapped in [[…]]."""
    a, b = Words.split(text), Words.split(other)
    if len(a) != len(b):  # insertions (AddSent): mark the words of the longer text missing from the shorter
        if len(a) < len(b):
            return text
        import difflib

        wa, wb = [a.word(i) for i in range(len(a))], [b.word(i) for i in range(len(b))]
        changed = {i for tag, i1, i2, _, _ in difflib.SequenceMatcher(a=wa, b=wb, autojunk=False).get_opcodes()
                   if tag != "equal" for i in range(i1, i2)}
    else:
        changed = {i for i in range(len(a)) if a.word(i) != b.word(i)}
    return a.replace({i: f"[[{a.word(i)}]]" for i in changed}, keep_case=False)


def _printable(value: Any, other: Any) -> str:
    if isinstance(value, str):
        return _mark(value, other).replace("\n", SPLIT_TOKEN)
    premise, hypothesis = (_mark(v, o) for v, o in zip(value, other))
    return f"Premise: {premise}\nHypothesis: {hypothesis}".replace("\n", SPLIT_TOKEN)


def textattack_row(row: dict[str, Any]) -> dict[str, Any]:
    original, adversarial = row["original"], row["adversarial"]
    label = int(row["label"])
    return {
        "original_text": _printable(original, adversarial),
        "perturbed_text": _printable(adversarial, original),
        "original_score": 1.0 - float(row["original_probs"][label]),
        "perturbed_score": 1.0 - float(row["final_probs"][label]),
        "original_output": int(row["original_pred"]),
        "perturbed_output": int(row["final_pred"]),
        "ground_truth_output": label,
        "num_queries": int(row["queries"]),
        "result_type": RESULT_TYPES[row["status"]],
    }


def write_textattack_csv(rows: Iterable[dict[str, Any]], path: Path) -> int:
    """Write ``rows`` (lines of a cell's ``.examples.jsonl``, or ``ExampleLine.to_json()``); returns the count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, quoting=csv.QUOTE_NONNUMERIC)
        writer.writeheader()
        for row in rows:
            writer.writerow(textattack_row(row))
            n += 1
    return n


def export(source: Path, out: Path | None = None) -> int:
    """``bench export``: a cell's examples file as TextAttack CSV (default: beside it, ``.textattack.csv``)."""
    from bench.core.checks import check_out_file
    from bench.core.errors import ConfigError
    from bench.core.store import read_example_lines

    if not source.is_file():
        raise ConfigError(f"{source}: no such examples file (a cell's <id>.examples.jsonl)")
    out = out or source.with_suffix(".textattack.csv")
    check_out_file("--out", out)
    print(f"{write_textattack_csv(read_example_lines(source), out)} rows → {out}")
    return 0
