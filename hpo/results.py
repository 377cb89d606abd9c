"""The study as a table: one row per trial (a setting of a notebook experiment), CSV and Markdown.

Columns: the trial, the parameters the study varies, its state, its validation score (with the
spread over folds when cross-validated), the epochs it ran, its size and speed, the held-out test
score when the final step tested it, and why it failed or was pruned. A multi-objective study's
table marks the members of its Pareto front (``front_rows`` picks them out). A study whose trials
all share one configuration (repeats over seeds) gets a last row with mean ± sd.
"""

from __future__ import annotations

import csv
import math
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from hpo import pareto, record
from hpo.record import INTERRUPTED, SURPLUS, trial_seed
from hpo.space import Fixed
from hpo.spec import StudySpec

CSV_FILE = "results.csv"
MARKDOWN_FILE = "results.md"


def results_rows(spec: StudySpec, study: optuna.Study,
                 tests: Mapping[int, float] | None = None) -> list[dict[str, Any]]:
    """One dict per finished trial, in trial order; ``tests`` maps trial number -> test score."""
    tests = tests or {}
    varied = varied_params(spec, study)
    marks: dict[int, str] = {}
    if spec.multi_objective:
        marks = {t.number: FRONT for t in pareto.front(study)}
        chosen = pareto.best_trial(study)
        if chosen is not None:
            marks[chosen.number] = RECOMMENDED
    rows = []
    for trial in study.trials:
        if not trial.state.is_finished():
            continue
        if trial.user_attrs.get(record.FAIL_REASON) in _NOT_RUN:
            continue
        attrs = trial.user_attrs
        row: dict[str, Any] = {"trial": trial.number}
        row.update({name: _param(trial.params.get(name, "")) for name in varied})
        if not varied:  # repeats of one configuration: the seed is what tells them apart
            row["seed"] = trial_seed(spec.seed, trial.number)
        row["state"] = trial.state.name.lower()
        row["validation"] = _value(trial)
        row["cv_sd"] = attrs.get("cv_std")
        row["epochs"] = attrs.get("epochs")
        row["n_params"] = attrs.get(record.N_PARAMS)
        row["s_per_epoch"] = attrs.get("seconds_per_epoch")
        row["test"] = tests.get(trial.number)
        row["note"] = record.failure(trial) or ""
        if spec.multi_objective:
            row["front"] = marks.get(trial.number, "")
        rows.append(row)
    rows.sort(key=lambda r: _setting_order(spec, varied, r))
    if not any(r["cv_sd"] is not None for r in rows):
        for r in rows:
            del r["cv_sd"]
    if not tests:
        for r in rows:
            del r["test"]
    return rows


# Trials that never trained: the surplus of a full study, a Ctrl-C.
_NOT_RUN = (SURPLUS, INTERRUPTED)
# The "front" column of a multi-objective study: a member, and the one the final step picks.
FRONT, RECOMMENDED = "yes", "recommended"


def front_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The Pareto front members of ``results_rows``, smallest model first, scores before the
    parameters: trial, validation, n_params, test (if tested), front, then the varied ones."""
    members = sorted((r for r in rows if r.get("front")),
                     key=lambda r: (r["n_params"], -r["validation"], r["trial"]))
    if not members:
        return []
    first = ["trial", "validation", "n_params", *(["test"] if "test" in members[0] else []),
             "front"]
    params = [c for c in members[0] if c not in _ROW_COLUMNS]
    return [{c: r[c] for c in first + params} for r in members]


def varied_params(spec: StudySpec, study: optuna.Study) -> list[str]:
    """The parameters that tell the rows apart: those the study searches, in trial order."""
    names: list[str] = []
    searched = {name for name, domain in spec.space.items()
                if not (isinstance(domain, Fixed) or domain.grid() and len(domain.grid()) == 1)}
    for trial in study.trials:
        for name in trial.params:
            base = name.rpartition("_")[0] if name.rpartition("_")[2].isdigit() else name
            if (name in searched or base in searched) and name not in names:
                names.append(name)
    return names


def summary_row(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Mean ± sd of the validation (and test) scores over completed rows; None below two."""
    done = [r for r in rows if r["state"] == "complete" and r["validation"] is not None]
    if len(done) < 2:
        return None
    row: dict[str, Any] = {"trial": f"mean ± sd of {len(done)}"}
    row["validation"] = _mean_sd([r["validation"] for r in done])
    tests = [r["test"] for r in done if r.get("test") is not None]
    if len(tests) >= 2:
        row["test"] = _mean_sd(tests)
    return row


def write_results(rows: Sequence[Mapping[str, Any]], out_dir: Path,
                  summary: Mapping[str, Any] | None = None) -> list[Path]:
    """Write ``results.csv`` and ``results.md`` into ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    columns = list(rows[0]) if rows else ["trial"]
    every = [*rows, summary] if summary else list(rows)
    csv_path = out_dir / CSV_FILE
    with csv_path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in every:
            writer.writerow({k: _cell(row.get(k)) for k in columns})
    md_path = out_dir / MARKDOWN_FILE
    md_path.write_text(markdown_table(every, columns) + "\n", encoding="utf-8")
    return [csv_path, md_path]


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None
                   ) -> str:
    """A Markdown table, readable as plain text too: columns padded to their widths."""
    from tabulate import tabulate

    columns = list(columns or (rows[0] if rows else ["trial"]))
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    return tabulate(cells, headers=columns, tablefmt="github", disable_numparse=True)


# Short column names for the terminal summary (the files keep the full names).
SHORT = {
    "learning_rate": "lr", "batch_size": "batch", "optimizer": "opt", "activation": "act",
    "initializer": "init", "n_layers": "depth", "dropout": "drop", "momentum": "mom",
    "nesterov": "nest", "beta_1": "b1", "beta_2": "b2", "activity_l1": "act_l1",
    "activity_l2": "act_l2", "conv_blocks": "blocks", "kernel_size": "kernel",
    "conv_dropout": "cdrop", "validation": "val", "n_params": "size", "s_per_epoch": "s/ep",
    "epochs": "ep", "state": "state", "trial": "#", "test": "test", "cv_sd": "cv_sd",
    "seed": "seed", "front": "front",
}
SUMMARY_WIDTH = 120
SUMMARY_ROWS = 10


def short_name(column: str) -> str:
    base, _, index = column.rpartition("_")
    if index.isdigit() and base in ("units", "filters"):
        return f"{base[0]}{index}"  # units_2 -> u2
    return SHORT.get(column, column if len(column) <= 12 else column[:11] + "~")


def compact_table(rows: Sequence[Mapping[str, Any]], summary: Mapping[str, Any] | None = None,
                  maximize: bool = True, limit: int = SUMMARY_ROWS,
                  width: int = SUMMARY_WIDTH, n_val: int | None = None,
                  n_test: int | None = None) -> str:
    """The terminal's summary: the best ``limit`` trials first (complete ones by score, then
    pruned, then failed), the varied parameters under short names, rounded numbers, at most
    ``width`` characters a line (parameter columns left out from the right to fit). Scores
    are rounded to what ``n_val`` and ``n_test`` examples support."""
    if not rows:
        return "(no finished trials)"
    order = {"complete": 0, "pruned": 1, "fail": 2}
    sign = -1.0 if maximize else 1.0
    ranked = sorted(rows, key=lambda r: (
        order.get(r["state"], 3), math.inf if r["validation"] is None
        else sign * r["validation"], r["trial"]))
    shown = ranked[:limit] + ([dict(summary)] if summary else [])
    scores = [c for c in ("validation", "test", "cv_sd") if c in rows[0]]
    tail = [c for c in ("epochs", "n_params", "s_per_epoch") if c in rows[0]]
    params = [c for c in rows[0] if c not in _ROW_COLUMNS]
    extra = [c for c in ("seed", "front") if c in rows[0]]
    columns = ["trial", *scores, "state", *extra, *params, *tail]
    sizes = {"validation": n_val, "test": n_test}
    cells = [[_short_cell(c, r.get(c), sizes.get(c)) for c in columns] for r in shown]
    dropped = 0
    while True:
        widths = [max([len(short_name(c))] + [len(row[i]) for row in cells])
                  for i, c in enumerate(columns)]
        if sum(widths) + 2 * (len(widths) - 1) <= width or not params:
            break
        i = columns.index(params.pop())
        columns.pop(i)
        for row in cells:
            row.pop(i)
        dropped += 1
    lines = ["  ".join(short_name(c).ljust(w) for c, w in zip(columns, widths)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    notes = []
    if len(rows) > limit:
        notes.append(f"the best {limit} of {len(rows)} trials")
    if dropped:
        notes.append(f"{dropped} more parameter column{'s' if dropped > 1 else ''}")
    if notes:
        lines.append(f"({'; '.join(notes)}: all in {MARKDOWN_FILE})")
    return "\n".join(lines)


def _short_cell(column: str, value: Any, n: int | None = None) -> str:
    if value is None or value == "":
        return ""
    if column == "n_params" and isinstance(value, int):
        return f"{value / 1e6:.2g}M" if value >= 1e6 else (
            f"{value / 1e3:.3g}k" if value >= 1e4 else str(value))
    if column == "state":
        return {"complete": "done"}.get(value, value)
    if isinstance(value, float):
        if column in ("validation", "test"):
            return record.format_score(value, n)
        return f"{value:.3g}"
    if isinstance(value, str):
        try:  # a parameter stored as text ("1e-07", "0.00100045"): rounded too
            number = float(value)
        except ValueError:
            return value if len(value) <= 14 else value[:13] + "~"
        return f"{number:.3g}" if "." in value or "e" in value else value
    return str(value)


def _setting_order(spec: StudySpec, varied: Sequence[str], row: Mapping[str, Any]
                   ) -> tuple[int, ...]:
    """Rows in the order the study file lists the values (a grid runs them shuffled)."""
    order = []
    for name in varied:
        domain = spec.space.get(name)
        listed = [_param(v) for v in (domain.grid() or [])] if domain is not None else []
        order.append(listed.index(row[name]) if row[name] in listed else len(listed))
    return (*order, row["trial"])


def _param(value: Any) -> Any:
    # 1e-07 and 100 as written in a study file, not 0.0000 and 100.0000.
    return f"{value:g}" if isinstance(value, float) else value


def tested(final: Mapping[str, Any] | None) -> dict[int, Mapping[str, Any]]:
    """The test results in a final step's result (best.json) by trial number: the retrained
    best trial's and those of the ``others`` tested with it."""
    if not final:
        return {}
    return {**{int(n): r for n, r in final.get("others", {}).items()}, final["trial"]: final}


# The columns of a results row that are not parameters.
_ROW_COLUMNS = ("trial", "seed", "state", "validation", "cv_sd", "epochs", "n_params",
                "s_per_epoch", "test", "note", "front")


def _value(trial: optuna.trial.FrozenTrial) -> float | None:
    if trial.state == TrialState.COMPLETE and trial.values:
        return trial.values[0]
    # A pruned trial's last reported score says how far it had got.
    if trial.intermediate_values:
        return trial.intermediate_values[max(trial.intermediate_values)]
    return None


def _mean_sd(values: Sequence[float]) -> str:
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.4f}" if abs(value) >= 1e-3 or value == 0 else f"{value:.3g}"
    text = str(value)
    return text if len(text) <= 90 else text[:87] + "..."
