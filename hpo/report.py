"""``python -m hpo.report --study NAME``: one self-contained HTML page per study, and PNGs.

``write_report`` puts in ``<out>/report.html`` what there is to see of a study: a summary (trials
by state, the best parameters, validation and test scores), Optuna's own plots, the learning
curves of the best trial and of the final retrain, the test set's confusion matrix and the best
trials in a table. plotly.js is inlined once, so the page opens offline. The learning curves and
the confusion matrix are also drawn to PNG files beside it, for a terminal.

A multi-objective study's page leads with its Pareto front (Optuna's plot, and the members with
their test scores once the final step has tested them) and draws the single-target plots on
validation accuracy.

The run (``python -m hpo.run``) writes the report at its end; this module's CLI writes it again
for any stored study, reading the final step's result from ``<out>/best.json`` if it is there.
"""

from __future__ import annotations

import argparse
import html
import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optuna.trial import TrialState

from hpo import pareto, record
from hpo._cli import EXIT_OK, main_of, positive_int, stored_study_parser
from hpo.errors import HpoError
from hpo.storage import check_url, load_existing_study

if TYPE_CHECKING:
    import optuna
    from plotly.graph_objects import Figure

logger = logging.getLogger(__name__)

REPORT_FILE = "report.html"
PAGE_TEMPLATE = "templates/report.html"
CURVES_PNG = "learning_curves.png"
CONFUSION_PNG = "confusion_matrix.png"
TOP_K = 10
PAGE_WIDTH = 1150  # pixels of content, as the page's style sets them
# The states in the order a summary lists them: the finished ones first.
STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING,
          TrialState.WAITING)
# One colour per curve, shared by the HTML and the PNG figures (plotly's defaults).
TRIAL_COLOUR, FINAL_COLOUR = "#636efa", "#ef553b"


def write_report(study: optuna.Study, out_dir: Path,
                 final: Mapping[str, Any] | None = None, top_k: int = TOP_K) -> list[Path]:
    """Write ``out_dir/report.html`` and the PNGs; returns the files written, the page first.

    ``final`` is what the final step wrote to best.json; without it the page has no test
    section. A plot that cannot be drawn (too few trials, say) becomes a note on the page.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    best = pareto.best_trial(study)
    panels = _panels(record.study_metric(study))
    curves = _curves(best, final, panels)
    matrix = final.get("confusion_matrix") if final else None
    front = [("Pareto front", _front_table(study, final))] if pareto.is_multi_objective(
        study) else []
    sections = [
        ("Summary", _summary(study, best, final)),
        ("Search space", _space_table(study, best)),
        ("How it searched", _run_table(study)),
        *front,
        ("Learning curves", _figure_or_note(
            lambda: _curves_figure(curves, panels),
            None if curves else _curves_note(best, final))),
        ("Test set: confusion matrix", _confusion_caption(final) + _figure_or_note(
            lambda: _confusion_figure(matrix), None if matrix else _confusion_note(final))),
        *(("Search: " + title, body) for title, body in _optuna_sections(study)),
        (f"Top {top_k} trials", _top_trials_table(study, top_k)),
    ]
    path = out_dir / REPORT_FILE
    path.write_text(_page(study, sections), encoding="utf-8")
    written = [path]
    if curves:
        written.append(_curves_png(curves, panels, out_dir / CURVES_PNG))
    if matrix:
        written.append(_confusion_png(matrix, final, out_dir / CONFUSION_PNG))
    return written


# -- the data the page shows -------------------------------------------------------------------

def _panels(metric: str) -> tuple[str, ...]:
    """The curves' panels: the loss, and the study's metric unless it is the loss."""
    return tuple(dict.fromkeys(("loss", metric.removeprefix("val_"))))


def _curves(best: optuna.trial.FrozenTrial | None, final: Mapping[str, Any] | None,
            panels: Sequence[str] = ("loss", "accuracy"),
            ) -> dict[str, dict[str, list[float | None]]]:
    """Per-epoch curves by label: {"trial 3 training": {"loss": [...], "accuracy": [...]}}."""
    curves: dict[str, dict[str, list[float | None]]] = {}
    history = best.user_attrs.get(record.HISTORY) if best is not None else None
    if history:
        for split, prefix in (("training", ""), ("validation", "val_")):
            metrics = {m: history.get(prefix + m) or [] for m in panels}
            if any(metrics.values()):
                curves[f"trial {best.number} {split}"] = metrics
    if final and final.get("history"):
        metrics = {m: final["history"].get(m) or [] for m in panels}
        if any(metrics.values()):
            curves[f"final retrain of trial {final.get('trial')} (train + validation)"] = metrics
    return curves


def _curves_note(best, final) -> str:
    if best is None and not final:
        return "No learning curves: no trial has completed."
    return ("No learning curves: the trials of this study were run by an hpo version that did "
            "not record a per-epoch history.")


def _confusion_note(final: Mapping[str, Any] | None) -> str:
    if not final:
        return ("No test results: the final retrain and test did not run (--no-final, or no "
                "best.json in the output directory).")
    if "test_accuracy" not in final:
        return "No confusion matrix: a regression has no classes."
    return "No confusion matrix: this best.json was written by an hpo version without one."


# -- Optuna's plots ----------------------------------------------------------------------------

# Below this many complete trials, fANOVA's importances are mostly noise: a forest fitted on
# a handful of points ranks dimensions by chance (and disagrees with the dashboard's, fitted
# with another seed). Ten is also where TPE's default start-up ends.
MIN_IMPORTANCE_TRIALS = 10
# Parallel coordinates and slices stay legible with this many dimensions at most.
MAX_PLOTTED_PARAMS = 6


def _optuna_sections(study: optuna.Study) -> list[tuple[str, str]]:
    """Optuna's own plots of the study, each a figure or a note on why it cannot be drawn."""
    plots = _OptunaPlots(study)
    return [(title, _figure_or_note(draw, f"The {title} plot {why}." if why else None))
            for title, draw, why in plots.listed()]


class _OptunaPlots:
    """``optuna.visualization``'s plots of one study, with hpo's axes and titles."""

    def __init__(self, study: optuna.Study) -> None:
        self.study = study
        self.trials = trials = study.get_trials(deepcopy=False)
        self.n_complete = sum(t.state == TrialState.COMPLETE for t in trials)
        self.multi = pareto.is_multi_objective(study)
        # Optuna's single-target plots need a target for a multi-objective study: the study's
        # metric. Its trials report no epochs (they cannot be pruned).
        self.metric = metric = record.study_metric(study)
        self.on = {"target": pareto.accuracy, "target_name": metric} if self.multi else \
            {"target_name": metric}
        self.enough = self.n_complete >= MIN_IMPORTANCE_TRIALS
        importances = self._importances() if self.enough else {}
        self.important = bool(importances)
        self.varied = [n for n, _ in sorted(importances.items(), key=lambda kv: -kv[1])] or \
            _varied_names(trials)
        self.shown = self.varied[:MAX_PLOTTED_PARAMS] or None

    def _importances(self) -> dict[str, float]:
        from optuna.importance import FanovaImportanceEvaluator, get_param_importances

        try:
            return get_param_importances(self.study, evaluator=FanovaImportanceEvaluator(seed=0),
                                         target=pareto.accuracy if self.multi else None)
        except (ValueError, RuntimeError):
            return {}

    def listed(self) -> list[tuple[str, Callable[[], Figure], str | None]]:
        """(title, draw, why it cannot be drawn or None) for each plot."""
        from optuna import visualization as vis

        study, metric, on, multi = self.study, self.metric, self.on, self.multi
        complete = None if self.n_complete else \
            f"needs a complete trial; this study has {self.n_complete}"
        steps = None if any(t.intermediate_values for t in self.trials) else (
            "has nothing to show: multi-objective trials report no per-epoch values, as Optuna "
            "cannot prune them" if multi else "needs a trial that reported an epoch")
        few = None if self.enough else (
            f"needs at least {MIN_IMPORTANCE_TRIALS} complete trials to say more than noise; "
            f"this study has {self.n_complete}")
        which = f" ({self.which})" if self.which else ""
        plots: list[tuple[str, Callable[[], Figure], str | None]] = [
            ("optimization history", self.history, complete),
            (f"intermediate values ({metric} per epoch)", self.intermediate, steps),
            ("parameter importances" + (f" for {metric}" if multi else ""), self.importance,
             few),
            ("parallel coordinate" + which,
             lambda: vis.plot_parallel_coordinate(study, params=self.shown, **on), complete),
            ("slice" + which,
             lambda: _axes(vis.plot_slice(study, params=self.shown, **on), None, metric),
             complete),
        ]
        if multi:
            plots.insert(0, ("Pareto front", lambda: vis.plot_pareto_front(study), complete))
        return plots

    @property
    def which(self) -> str | None:
        """Which dimensions the per-parameter plots show, when not all of them."""
        shown, varied = self.shown, self.varied
        if not shown or len(varied) <= len(shown):
            return None
        return (f"the {len(shown)} most important of {len(varied)} dimensions"
                if self.important else f"{len(shown)} of the {len(varied)} searched dimensions")

    def history(self) -> Figure:
        from optuna import visualization as vis

        return _axes(vis.plot_optimization_history(self.study, **self.on), "trial", self.metric)

    def intermediate(self) -> Figure:
        from optuna import visualization as vis

        figure = vis.plot_intermediate_values(self.study)
        for trace in figure.data:  # Optuna's steps count epochs from 0; hpo from 1
            if trace.x is not None:
                trace.x = [x + 1 for x in trace.x]
        return _axes(figure, "epoch", self.metric)

    def importance(self) -> Figure:
        from optuna import visualization as vis
        from optuna.importance import FanovaImportanceEvaluator

        figure = vis.plot_param_importances(
            self.study, evaluator=FanovaImportanceEvaluator(seed=0), **self.on)
        figure.update_layout(title=f"Hyperparameter importances for {self.metric}, from "
                                   f"{self.n_complete} complete trials (fANOVA)")
        return figure


def _varied_names(trials: Sequence[optuna.trial.FrozenTrial]) -> list[str]:
    """Parameters that took more than one value, in the order trials first set them."""
    values: dict[str, set[str]] = {}
    for t in trials:
        for name, value in t.params.items():
            values.setdefault(name, set()).add(repr(value))
    return [name for name, seen in values.items() if len(seen) > 1]


def _axes(figure: Figure, x: str | None, y: str) -> Figure:
    """Name the axes as an ML engineer reads them: "epoch", "val_accuracy"."""
    if x:
        figure.update_xaxes(title_text=x)
    figure.update_layout(yaxis_title=y)
    return figure


def _figure_or_note(draw: Callable[[], Figure | None], note: str | None) -> str:
    """The figure as an HTML fragment, or a note saying why there is none.

    ``note`` given means the figure is known in advance not to be drawable.
    """
    if note is None:
        try:
            figure = draw()
        # A plot that fails must not cost the rest of the page (nor the run that writes it).
        except Exception as e:  # noqa: BLE001
            logger.warning("report: a plot could not be drawn: %s: %s", type(e).__name__, e)
            return _note(f"This plot could not be drawn ({type(e).__name__}: {e}).")
        if figure is not None and figure.data:
            return _figure_html(figure)
        note = "This plot has nothing to show yet."
    return _note(note)


def _figure_html(figure: Figure) -> str:
    figure.update_layout(height=figure.layout.height or 460)
    fragment = figure.to_html(full_html=False, include_plotlyjs=False,
                              config={"displaylogo": False, "responsive": True})
    # Some of Optuna's figures are wider than the page (the slice plot: 300 px a parameter);
    # they scroll sideways inside their box instead of widening the page.
    wide = (figure.layout.width or 0) > PAGE_WIDTH
    return (_note("Wider than the page: scroll sideways to see all of it.") if wide else "") + \
        f'<div class="figure">{fragment}</div>'


def _note(text: str) -> str:
    return f'<p class="note">{html.escape(text)}</p>'


# -- our own figures ---------------------------------------------------------------------------

def _curves_figure(curves: Mapping[str, Mapping[str, list[float | None]]],
                   panels: Sequence[str] = ("loss", "accuracy")) -> Figure | None:
    if not curves:
        return None
    from plotly.subplots import make_subplots

    figure = make_subplots(rows=1, cols=len(panels), subplot_titles=tuple(panels))
    for label, metrics in curves.items():
        colour, dash = _style(label)
        for col, metric in enumerate(panels, start=1):
            values = metrics.get(metric) or []
            figure.add_scatter(
                x=list(range(1, len(values) + 1)), y=values, name=label, legendgroup=label,
                showlegend=col == 1, mode="lines+markers",
                line={"color": colour, "dash": dash}, row=1, col=col,
            )
        figure.update_xaxes(title_text="epoch", dtick=1)
    figure.update_layout(legend={"orientation": "h", "y": -0.2})
    return figure


def _confusion_figure(matrix: Sequence[Sequence[int]] | None) -> Figure | None:
    if not matrix:
        return None
    import plotly.graph_objects as go

    labels = [str(i) for i in range(len(matrix))]
    figure = go.Figure(go.Heatmap(
        z=matrix, x=labels, y=labels, text=matrix, texttemplate="%{text}",
        colorscale="Blues", hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>",
    ))
    figure.update_layout(
        width=620, height=560, margin={"t": 40},
        xaxis={"title": "predicted class", "type": "category"},
        yaxis={"title": "true class", "type": "category", "autorange": "reversed"},
    )
    return figure


def _confusion_caption(final: Mapping[str, Any] | None) -> str:
    if not final:
        return ""
    if "test_accuracy" not in final:
        return (f"<p>Test {html.escape(_metric_name(final))} {final['test_score']:.4g} on "
                f"{_fmt(final.get('n_test'))} held-out examples, trial "
                f"{html.escape(str(final.get('trial')))} retrained.</p>")
    return (f"<p>Test accuracy {final['test_accuracy']:.4f} on {_fmt(final.get('n_test'))} "
            f"held-out examples, trial {html.escape(str(final.get('trial')))} retrained; rows "
            f"are the true classes, columns the predicted ones.</p>")


def _style(label: str) -> tuple[str, str]:
    if label.startswith("final"):
        return FINAL_COLOUR, "solid"
    return TRIAL_COLOUR, "dash" if label.endswith("validation") else "solid"


def _metric_name(final: Mapping[str, Any]) -> str:
    return str(final.get("metric", "val_accuracy")).removeprefix("val_")


def _curves_png(curves: Mapping[str, Mapping[str, list[float | None]]], panels: Sequence[str],
                path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure
    from matplotlib.ticker import MaxNLocator

    figure = MplFigure(figsize=(11, 4.2), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    for ax, metric in zip(axes, panels):
        for label, metrics in curves.items():
            values = [math.nan if v is None else v for v in metrics.get(metric) or []]
            colour, dash = _style(label)
            ax.plot(range(1, len(values) + 1), values, marker="o", color=colour,
                    linestyle="--" if dash == "dash" else "-", label=label)
        ax.set_title(metric)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize="small")
    figure.savefig(path, dpi=100)
    return path


def _confusion_png(matrix: Sequence[Sequence[int]], final: Mapping[str, Any], path: Path
                   ) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure

    n = len(matrix)
    figure = MplFigure(figsize=(6.4, 5.6), layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.subplots()
    image = ax.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=ax)
    top = max((max(row) for row in matrix), default=0)
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            ax.text(j, i, str(count), ha="center", va="center", fontsize="small",
                    color="white" if count > top / 2 else "black")
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"test set: accuracy {final['test_accuracy']:.4f} on "
                 f"{_fmt(final.get('n_test'))} (trial {final.get('trial')} retrained)")
    figure.savefig(path, dpi=100)
    return path


# -- tables and the page -----------------------------------------------------------------------

def _space_table(study: optuna.Study, best) -> str:
    """Each searched dimension's domain and the best trial's value, flagged at a bound."""
    from hpo.space import Range

    search = study.user_attrs.get(record.SEARCH) or {}
    space = search.get("space")
    if not space:
        return _note("This study was run by an hpo version that did not record its space.")
    rows, flagged = [], 0
    params = best.params if best is not None else {}
    for name, domain in space.items():
        if "low" in domain:
            text = f"{_fmt(domain['low'])} to {_fmt(domain['high'])}" + (
                ", log scale" if domain.get("log") else "") + (
                f", step {_fmt(domain['step'])}" if domain.get("step") else "")
        elif "choices" in domain:
            text = "one of " + ", ".join(map(str, domain["choices"]))
        else:
            text = f"pinned to {domain['value']}"
        values = [v for k, v in params.items() if k == name or (
            k.rpartition("_")[0] == name and k.rpartition("_")[2].isdigit())]
        note = ""
        if "low" in domain:
            integer = isinstance(domain["low"], int) and isinstance(domain["high"], int)
            rng = Range(domain["low"], domain["high"], bool(domain.get("log")),
                        domain.get("step"), integer)
            ends = {rng.at_bound(v) for v in values} - {None}
            if ends:
                flagged += 1
                end = " and ".join(sorted(ends))
                note = f"AT THE {end.upper()} BOUND: the best may lie beyond; widen the range"
        shown = ", ".join(_fmt(v) for v in values) if values else "–"
        rows.append((name, text, shown, note))
    caption = ("The dimensions the study searches, each with the best trial's value"
               + (f"; {flagged} of them at a bound of its range." if flagged else "."))
    return _note(caption) + _table(("dimension", "domain", "best", ""), rows,
                                   highlight=lambda row: bool(row[3]))


def _run_table(study: optuna.Study) -> str:
    search = study.user_attrs.get(record.SEARCH) or {}
    trials = study.get_trials(deepcopy=False)
    starts = [t.datetime_start for t in trials if t.datetime_start]
    ends = [t.datetime_complete for t in trials if t.datetime_complete]
    wall = (max(ends) - min(starts)).total_seconds() if starts and ends else None

    def component(c: Mapping[str, Any] | None) -> str:
        if not c:
            return "–"
        options = ", ".join(f"{k}={v}" for k, v in c.items() if k != "name")
        return c.get("name", "?") + (f" ({options})" if options else "")

    budget = search.get("budget") or {}
    versions = search.get("versions") or {}
    rows = [
        ("metric", f"{record.study_metric(study)}, {study.directions[0].name.lower()}d"
                   + (f", on {search['n_validation']} validation examples"
                      if search.get("n_validation") else "")),
        ("sampler", component(search.get("sampler"))),
        ("pruner", component(search.get("pruner"))),
        ("seed", _fmt(search.get("seed"))),
        ("budget", ", ".join(f"{k} {v}" for k, v in budget.items() if v) or "–"),
        ("first trials", _first_trials(study, search)),
        ("final step", f"the best trial retrained with {search.get('final_seeds', 1)} seed(s)"),
        ("wall time", f"{wall / 60:.1f} min from the first trial's start to the last one's "
                      f"end" if wall is not None else "–"),
        ("versions", ", ".join(f"{k} {v}" for k, v in versions.items() if v) or "–"),
    ]
    return _table(None, rows)


def _first_trials(study: optuna.Study, search: Mapping[str, Any]) -> str:
    """What the study tried before its sampler: a warm start, the textbook network, a file's."""
    warm = study.user_attrs.get(record.WARM_START)
    parts = []
    if warm:
        parts.append(f"warm-started from study {warm.get('study')} ({warm.get('trials')} of its "
                     f"trials inform the sampler)")
    if search.get("start"):
        parts.append(search["start"])
    return "; ".join(parts) or "the sampler's from the first"


def _summary(study: optuna.Study, best, final: Mapping[str, Any] | None) -> str:
    trials = study.get_trials(deepcopy=False)
    states = [t.state for t in trials]
    counts = ", ".join(f"{states.count(s)} {s.name.lower()}" for s in STATES if states.count(s))
    attrs = study.user_attrs
    rows = [
        ("model", f"{attrs.get('family', '?')} on {attrs.get('dataset', '?')} "
                  f"(input {tuple(attrs.get('input_shape', ()))}, "
                  f"{attrs.get('n_classes', '?')} classes)"),
        ("trials", f"{len(trials)} ({counts or 'none yet'})"),
    ]
    multi = pareto.is_multi_objective(study)
    label = "recommended trial" if multi else "best trial"
    if multi:
        rows.append(("objectives", f"{study.directions[0].name.lower()} "
                                   f"{record.study_metric(study)}, minimize parameters; "
                                   f"{len(study.best_trials)} trials on the Pareto front"))
    if best is None:
        rows.append((label, "none: no trial has completed"))
    else:
        rows += [
            (label, f"{best.number}: {record.study_metric(study)} "
                    f"{pareto.accuracy(best):.4g}, "
                    f"{_fmt(best.user_attrs.get('n_params'))} parameters, best epoch "
                    f"{_fmt(best.user_attrs.get('best_epoch'))} of "
                    f"{_fmt(best.user_attrs.get('epochs'))}"
                    + (f" ({pareto.RULE}, chosen on validation)" if multi else "")),
        ]
    if final:
        rows += [
            (f"test {_metric_name(final)}",
             f"{final.get('test_score', final.get('test_accuracy')):.4g}"
             + (f" (accuracy {final['test_accuracy']:.4f})" if "test_accuracy" in final and
                _metric_name(final) != "accuracy" else "")
             + f", tested once on {_fmt(final.get('n_test'))} held-out examples"
             + (f"; over {len(final['seeds'])} seeds: {final['test_mean']:.4g} ± "
                f"{final['test_sd']:.2g}, 95% interval {final['test_ci95'][0]:.4g} to "
                f"{final['test_ci95'][1]:.4g}" if final.get("test_ci95") else "")),
            ("final retrain", f"trial {final.get('trial')} on {_fmt(final.get('n_train'))} "
                              f"examples (train + validation) for {_fmt(final.get('epochs'))} "
                              f"epochs"),
        ]
        if best is not None and final.get("trial") != best.number:
            rows.append(("note", f"the final retrain is of trial {final.get('trial')}, but the "
                                 f"study's {label} is now trial {best.number}; rerun "
                                 f"python -m hpo.run without --no-final to test it"))
    else:
        rows.append(("test", "not run (--no-final, or no best.json in the output directory)"))
    parts = [_table(None, rows)]
    if best is not None:
        parts.append(f"<h3>{'Recommended' if multi else 'Best'} parameters</h3>")
        parts.append(_table(("parameter", "value"),
                            [(k, _fmt(v)) for k, v in best.params.items()]))
    return "\n".join(parts)


def _ranked_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Complete trials best first, then pruned, failed and unfinished ones by number."""
    trials = study.get_trials(deepcopy=False)
    sign = -1.0 if study.directions[0].name == "MAXIMIZE" else 1.0
    order = {s: i for i, s in enumerate(STATES)}

    def key(t: optuna.trial.FrozenTrial) -> tuple[int, float, int]:
        value = sign * t.values[0] if t.state == TrialState.COMPLETE and t.values else 0.0
        return order.get(t.state, len(order)), value, t.number

    return sorted(trials, key=key)


def _top_trials_table(study: optuna.Study, k: int) -> str:
    trials = _ranked_trials(study)
    if not trials:
        return _note("No trials yet.")
    rows = []
    for t in trials[:k]:
        attrs = t.user_attrs
        why = record.failure(t) or ""
        value = pareto.accuracy(t)
        rows.append((
            str(t.number), t.state.name.lower() + (f": {why}" if why else ""),
            f"{value:.4g}" if value is not None and math.isfinite(value) else "",
            _fmt(attrs.get(record.N_PARAMS)), _fmt(attrs.get("epochs")),
            _fmt(attrs.get("seconds_per_epoch")),
            " ".join(f"{name}={_fmt(v)}" for name, v in t.params.items()),
        ))
    caption = (f"The {min(k, len(trials))} best of {len(trials)} trials: complete ones by "
               f"{record.study_metric(study)}, then pruned and failed ones.")
    return _note(caption) + _table(
        ("trial", "state", "value", "n_params", "epochs", "s/epoch", "params"), rows)


def _front_table(study: optuna.Study, final: Mapping[str, Any] | None) -> str:
    """A multi-objective study's Pareto front, smallest first, with the members' test scores
    if the final step tested them (best.json holds them)."""
    members = pareto.front(study)
    if not members:
        return _note("No Pareto front: no trial has completed.")
    from hpo.results import tested

    scores = tested(final)
    chosen = pareto.best_trial(study)
    rows = []
    for t in members:
        test = scores.get(t.number)
        rows.append((
            str(t.number), f"{pareto.accuracy(t):.4g}", str(pareto.size(t)),
            f"{test.get('test_score', test.get('test_accuracy')):.4g}" if test else "–",
            "recommended" if t.number == chosen.number else "",
            " ".join(f"{name}={_fmt(v)}" for name, v in t.params.items()),
        ))
    caption = (f"The {len(members)} trials no other trial beats on both "
               f"{record.study_metric(study)} and "
               f"size, smallest first. Recommended, on validation only: {pareto.RULE}."
               + ("" if final else " Test scores come once the final step has run."))
    return _note(caption) + _table(
        ("trial", "validation", "n_params", "test", "", "params"), rows)


def _table(header: Sequence[str] | None, rows: Sequence[Sequence[str]],
           highlight: Callable[[Sequence[str]], bool] | None = None) -> str:
    head = ("<thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header)
            + "</tr></thead>") if header else ""
    body = "".join(
        ("<tr class=\"flag\">" if highlight and highlight(row) else "<tr>")
        + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table>{head}<tbody>{body}</tbody></table>"


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _page(study: optuna.Study, sections: Sequence[tuple[str, str]]) -> str:
    """The page: hpo/templates/report.html (its layout and style) filled in."""
    from importlib import resources
    from string import Template

    from plotly.offline import get_plotlyjs

    page = Template(resources.files("hpo").joinpath(PAGE_TEMPLATE).read_text("utf-8"))
    return page.substitute(
        name=html.escape(study.study_name), plotly=get_plotlyjs(),
        generated=datetime.now().strftime("%Y-%m-%d %H:%M"),
        sections="\n".join(f"<section>\n<h2>{html.escape(title)}</h2>\n{content}\n</section>"
                           for title, content in sections))


# -- the command line --------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = stored_study_parser("hpo.report", "Write report.html (and PNGs of the learning "
               "curves and the confusion matrix) for a stored study.")
    p.add_argument("--out", metavar="DIR",
                   help="where the report goes, and where the run's best.json is read from if "
                   "there (default: the folder the study's latest run wrote to)")
    p.add_argument("--top", type=positive_int, default=TOP_K, metavar="K",
                   help=f"trials in the table of the best ones (default: {TOP_K})")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return main_of("hpo.report", build_parser(), _report, argv)


def _report(args: argparse.Namespace) -> int:
    url = check_url(args.storage)
    study = load_existing_study(url, args.study)
    out_dir = Path(args.out) if args.out else record.out_dir(study)
    final = read_final(out_dir / "best.json", args.study)
    html_path, *images = write_report(study, out_dir, final, args.top)
    print(f"wrote {html_path}" + "".join(f", {p}" for p in images)
          + ("" if final else f" (no test results: no best.json in {out_dir})"))
    return EXIT_OK


def read_final(path: Path, study_name: str) -> dict[str, Any] | None:
    """The final step's result from best.json, or None if there is none."""
    if not path.is_file():
        return None
    try:
        final = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise HpoError(f"cannot read {path}: {e}; delete it, or rerun the study to rewrite "
                       f"it") from None
    if not isinstance(final, dict) or not ({"test_score"} & set(final) or
                                           {"test_accuracy", "test_loss"} <= set(final)):
        raise HpoError(f"{path} is not a best.json written by hpo's final step")
    if final.get("study") != study_name:
        raise HpoError(f"{path} is from study '{final.get('study')}', not '{study_name}'; "
                       f"pass --out with the directory of {study_name}'s run")
    return final


if __name__ == "__main__":
    raise SystemExit(main())
