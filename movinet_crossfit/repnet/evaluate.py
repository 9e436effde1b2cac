"""Evaluate a repetition counter on a counting manifest: MAE and OBO, the metrics of the RepNet
and TransRAC papers, as ``core.metrics.count_metrics`` defines them for both counters (predictions
rounded to whole reps first, MAE over the items whose true count is above 0, OBO over all;
``round_predictions=False`` scores the raw fractional counts).

Every item is counted by ``infer.count_video`` (a whole video) or ``infer.count_frames`` on the
item's frame range, cut from the decoded stream in memory. An item that cannot be counted (missing
file, fewer frames than the model's window, unreadable) is reported and left out of the metrics.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.fileio import save_figure, write_json_atomic
from movinet_crossfit.core.metrics import count_metrics
from movinet_crossfit.core.progress import BatchReport, progress_bar


@dataclass
class CounterEvalResult:
    out_dir: Path
    metrics: dict
    items: list
    report: BatchReport
    files: dict = field(default_factory=dict)


def plot_count_scatter(items: Sequence[dict], png: str | os.PathLike, title: str = "") -> Path:
    """Predicted against true count, with the diagonal and the off-by-one band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    true = np.array([it["true"] for it in items], dtype=float)
    pred = np.array([it["predicted"] for it in items], dtype=float)
    top = max(1.0, float(true.max(initial=0)), float(pred.max(initial=0))) * 1.08 + 1
    fig, ax = plt.subplots(figsize=(5.5, 5.2), constrained_layout=True)
    line = np.array([0.0, top])
    ax.fill_between(line, line - 1, line + 1, color="tab:green", alpha=0.12, label="off by at most one")
    ax.plot(line, line, color="grey", lw=1, ls="--", label="predicted = true")
    sources = sorted({it.get("source") or "?" for it in items})
    for source in sources:
        keep = np.array([(it.get("source") or "?") == source for it in items])
        ax.scatter(true[keep], pred[keep], s=22, alpha=0.8, label=source)
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("true count")
    ax.set_ylabel("predicted count")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    return save_figure(fig, png)


def eval_counter(manifest: str | os.PathLike | Sequence, out_dir: str | os.PathLike, *,
                 weights: str | os.PathLike | None = None, model=None, variant: str | None = None,
                 image_size: Optional[int] = None, options=None, round_predictions: bool = True,
                 limit: Optional[int] = None, show_progress: bool = True) -> CounterEvalResult:
    """Count every item of ``manifest`` (a path, see ``load_counting_items``, or a list of
    ``CountingItem``) with RepNet ``weights`` (or a ready ``model``) and write
    ``out_dir/metrics.json`` (overall and per item) and ``out_dir/scatter.png``. The model is built
    at ``image_size``, else the size in ``repnet.json`` beside the weights (a ``train-counter``
    run's), else 112 (the public weights')."""
    from movinet_crossfit.data.counting_manifest import iter_frame_range, load_counting_items
    from movinet_crossfit.repnet.infer import CountOptions, count_frames, count_video, keras_runner
    from movinet_crossfit.core.video import probe

    options = options or CountOptions()
    items = list(manifest) if isinstance(manifest, (list, tuple)) else load_counting_items(manifest)
    if limit is not None:
        items = items[:limit]
    if not items:
        raise UserError(f"{manifest}: no items to evaluate")
    if model is None:
        from movinet_crossfit.repnet.model import how_to_get_weights, load_repnet

        if weights is None:
            raise UserError("eval-counter needs RepNet weights (--weights DIR); " + how_to_get_weights())
        model = load_repnet(weights, variant, image_size=image_size)
    runner = keras_runner(model)
    cfg = model.config
    report = BatchReport("eval-counter")
    rows: list[dict] = []
    with progress_bar(len(items), "counting") if show_progress else _silent() as advance:
        for item in items:
            started = time.perf_counter()
            try:
                if item.whole_video:
                    result = count_video(item.video, model=model, runner=runner, options=options,
                                         show_progress=False)
                    start, end = 0, result.num_frames
                else:
                    info = probe(item.video)
                    start, end = item.frame_range(info.fps)
                    end = min(end, info.num_frames) if end is not None else info.num_frames
                    if start >= end:
                        raise UserError(f"{item.video}: range starts at frame {start}, the video has "
                                        f"{info.num_frames} frames")
                    result = count_frames(iter_frame_range(item.video, start, end), runner,
                                          num_frames=cfg.num_frames, image_size=cfg.image_size,
                                          period_offset=cfg.period_offset, temperature=cfg.temperature,
                                          fps=info.fps, options=options, source=f"{item.video}[{start}:{end}]")
            except (UserError, OSError) as exc:
                report.fail(item.id, str(exc))
                advance(1)
                continue
            predicted = float(result.count)
            shown = round(predicted) if round_predictions else predicted
            rows.append({"id": item.id, "video": item.video, "source": item.source, "label": item.label,
                         "start_frame": start, "end_frame": end, "true": item.count,
                         "predicted": round(predicted, 4), "predicted_rounded": int(round(predicted)),
                         "absolute_error": round(abs(shown - item.count), 4),
                         "relative_error": round(abs(shown - item.count) / item.count, 4) if item.count else None,
                         "off_by_one": bool(abs(shown - item.count) <= 1), "score": round(float(result.score), 4),
                         "stride": result.stride, "note": result.note,
                         "seconds": round(time.perf_counter() - started, 3)})
            report.ok(item.id)
            advance(1)
    overall = count_metrics([r["predicted"] for r in rows], [r["true"] for r in rows], round_predictions)
    by_source = {}
    for source in sorted({r["source"] for r in rows}):
        picked = [r for r in rows if r["source"] == source]
        by_source[source] = count_metrics([r["predicted"] for r in picked], [r["true"] for r in picked],
                                          round_predictions)
    overall.update(failed=len(report.failed), requested=len(items))
    out = Path(out_dir)
    metrics = {"overall": overall, "by_source": by_source,
               "model": {"variant": cfg.variant, "num_frames": cfg.num_frames, "image_size": cfg.image_size,
                         "weights": None if weights is None else str(weights)},
               "options": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(options).items()},
               "items": rows, "failed": report.to_dict()["failed"]}
    files = {"metrics": out / "metrics.json"}
    write_json_atomic(files["metrics"], metrics)
    if rows:
        mae = "-" if overall["mae"] is None else f"{overall['mae']:.3f}"
        files["scatter"] = plot_count_scatter(rows, out / "scatter.png",
                                              f"{len(rows)} items: MAE {mae}, OBO {overall['obo']:.3f}")
    return CounterEvalResult(out, metrics, rows, report, files)


class _silent:
    def __enter__(self):
        return lambda n=1: None

    def __exit__(self, *exc):
        return False
