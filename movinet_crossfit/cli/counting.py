"""Counting commands: count (RepNet or poses), export-counter, train-counter, evaluate-counter."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from movinet_crossfit.cli._common import (Backend, OutputFormat, app, choices, finish_batch, out, parse_int_list,
                                          parse_names, results_console, strict_option)
from movinet_crossfit.core.errors import UserError
from movinet_crossfit.posecount.count import LAYOUTS
from movinet_crossfit.repnet.export import FORMATS as REPNET_FORMATS, TFLITE_FORMATS as REPNET_TFLITE
from movinet_crossfit.repnet.infer import CountOptions

_COUNT = CountOptions()  # the library's defaults, shown in --help
_STRIDES = ",".join(map(str, _COUNT.strides))
# repnet.model.VARIANTS, copied so that --help needs no TensorFlow (a test holds them equal).
REPNET_VARIANTS = ("ckpt-70", "ckpt-88")
Variant = choices("Variant", REPNET_VARIANTS)
CountVariant = choices("CountVariant", REPNET_VARIANTS + REPNET_TFLITE)
Layout = choices("Layout", LAYOUTS)


def _value(choice) -> str | None:
    return None if choice is None else choice.value


@app.command()
def count(
    video_path: Optional[Path] = typer.Argument(None, metavar="[VIDEO]", help="video file (not with --poses)"),
    poses: Optional[Path] = typer.Option(None, "--poses", help="count from keypoints instead: a poses .npz "
                                         "(from `poses`, ViTPose `reconstruction`, or the generated corpus) "
                                         "or a RepCount pose .npy"),
    fps: Optional[float] = typer.Option(None, "--fps", help="with --poses: frame rate when the file has none "
                                        "(a RepCount .npy: 30 assumed)"),
    layout: Optional[Layout] = typer.Option(None, "--layout",
                                            help="with --poses: the keypoints' layout (default: from the file)"),
    movement: Optional[str] = typer.Option(None, "--movement", help="with --poses: the movement, when known "
                                           "(squat, push-up, pull-up, thruster, ...): reps are cut at its rest "
                                           "position instead of where the movement dwells"),
    flip_rest: bool = typer.Option(False, "--flip-rest", help="with --movement: cut the reps where it looks "
                                   "mid-rep instead (the other convention: sit-ups sat up to sat up, a pommel horse "
                                   "filmed from the other side)"),
    weights: Optional[Path] = typer.Option(None, "--weights", help="folder with the RepNet checkpoint "
                                           "(official: checkpoint, ckpt-70.*; or one written by train-counter)"),
    model: Optional[Path] = typer.Option(None, "--model", help="instead of --weights: an export-counter folder"),
    backend: Backend = typer.Option(Backend.auto, "--backend", help="with --model: its runtime"),
    variant: Optional[CountVariant] = typer.Option(None, "--variant", help="ckpt-70 | ckpt-88 (default: read from "
                                                   "the checkpoint); with --model: fp32 | fp16 | dynamic"),
    strides: str = typer.Option(_STRIDES, "--strides", help="frame strides tried (speeds)"),
    threshold: float = typer.Option(_COUNT.threshold, "--threshold", help="mean score under which the count is 0"),
    within_period_threshold: float = typer.Option(_COUNT.within_period_threshold, "--within-period-threshold",
                                                  help="score over which a frame is inside a repetition"),
    fully_periodic: bool = typer.Option(False, "--fully-periodic", help="every frame is part of a repetition"),
    constant_speed: bool = typer.Option(False, "--constant-speed", help="one period for the whole video"),
    no_median_filter: bool = typer.Option(False, "--no-median-filter", help="skip the width-5 median filters"),
    pad_short: bool = typer.Option(False, "--pad-short", help="pad a video shorter than 64 frames with its last "
                                   "frame instead of refusing it"),
    json_path: Optional[Path] = typer.Option(None, "--json", help="write the full result (per-frame) as JSON"),
    plot: Optional[Path] = typer.Option(None, "--plot", help="PNG: periodicity and count over time + self-similarity"),
    output_format: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table | json (summary to stdout)"),
) -> None:
    """Count repetitions in a video with RepNet, or in keypoints with the pose counter (both class-agnostic)."""
    import json

    from movinet_crossfit.repnet.infer import count_video, plot_count
    from movinet_crossfit.core.fileio import write_json_atomic

    if poses is not None:
        _count_poses(poses, fps, _value(layout), json_path, plot, output_format, movement, flip_rest)
        return
    if movement is not None or flip_rest:
        raise UserError(f"{'--movement' if movement is not None else '--flip-rest'} goes with --poses (the pose "
                        "counter); RepNet does not use it")
    if video_path is None:
        raise UserError("count needs a VIDEO (RepNet) or --poses FILE (pose counter)")

    options = CountOptions(strides=parse_int_list(strides, "--strides"), threshold=threshold, within_period_threshold=within_period_threshold,
                           fully_periodic=fully_periodic, constant_speed=constant_speed,
                           median_filter=not no_median_filter, pad_short=pad_short)
    if model is not None:
        from movinet_crossfit.repnet.export import load_runner

        result = count_video(video_path, runner=load_runner(model, backend.value, _value(variant) or "fp32"),
                             options=options)
    else:
        result = count_video(video_path, weights, variant=_value(variant), options=options)
    if json_path:
        write_json_atomic(json_path, result.to_dict())
    if output_format == "json":
        print(json.dumps(result.to_dict(per_frame=False), indent=2))
    else:
        out.print(f"{video_path}: [bold]{result.count:.1f} reps[/bold] (~{result.rounded}), score "
                  f"{result.score:.2f}, stride {result.stride}, {result.num_frames} frames"
                  + (f"; {result.note}" if result.note else ""))
        for rep in result.reps[:50]:
            out.print(f"  rep {rep.index:3d}: {rep.start_time:7.2f}-{rep.end_time:7.2f} s "
                      f"(frames {rep.start_frame}-{rep.end_frame})")
    said = results_console(output_format)
    if json_path:
        said.print(f"result -> [bold]{json_path}[/bold]")
    if plot:
        said.print(f"plot -> [bold]{plot_count(result, plot)}[/bold]")


def _count_poses(path: Path, fps: Optional[float], layout: Optional[str], json_path: Optional[Path],
                 plot: Optional[Path], output_format: str, movement: Optional[str] = None,
                 flip_rest: bool = False) -> None:
    import json

    from movinet_crossfit.core.fileio import write_json_atomic
    from movinet_crossfit.posecount.count import PoseCountConfig, count_poses_file, plot_pose_count
    from movinet_crossfit.posecount.looks import MID_REP, mid_rep_of

    if movement is not None and mid_rep_of(movement) is None:
        raise UserError(f"--movement {movement!r}: the pose counter does not know its rest position; known: "
                        f"{', '.join(MID_REP)} (or leave --movement out)")
    if flip_rest and movement is None:
        raise UserError(f"--flip-rest needs --movement: the movement whose rest it turns round ({', '.join(MID_REP)})")
    result = count_poses_file(path, fps=fps, layout=layout, movement=movement,
                              config=PoseCountConfig(flip_rest=flip_rest))
    rate = result.fps
    if json_path:
        write_json_atomic(json_path, {"source": str(path), **result.to_dict()})
    if output_format == "json":
        print(json.dumps({"source": str(path), **result.to_dict(per_frame=False)}, indent=2))
    else:
        out.print(f"{path}: [bold]{result.count} reps[/bold] in {len(result.sets)} set(s), period "
                  f"{result.period / rate:.2f} s, periodicity {result.score:.2f}, {result.num_frames} frames"
                  + (f"; {result.note}" if result.note else ""), highlight=False)
        # Sets and the gaps between them (rests, nobody in view), in time order.
        rows = [("set", s.start_time, s.end_time, f"{s.count} reps, {s.period_seconds:.2f} s each")
                for s in result.sets]
        rows += [(g.kind, g.start_time, g.end_time, f"frames {g.start_frame}-{g.end_frame}") for g in result.gaps]
        for kind, start, end, text in sorted(rows, key=lambda row: row[1]):
            out.print(f"  {kind:7s} {start:7.2f}-{end:7.2f} s  {text}", highlight=False)
        if movement is not None and result.reps:
            look = mid_rep_of(movement)
            if result.rest != "movement":
                out.print(f"  reps cut where the movement dwells: it does not follow the {movement} look "
                          f"({look.text}) clearly enough", highlight=False)
            elif flip_rest:
                out.print(f"  reps cut where {movement} looks mid-rep ({look.text}: --flip-rest)", highlight=False)
            else:
                out.print(f"  reps cut at the {movement} rest position (mid-rep: {look.text})", highlight=False)
        for rep in result.reps[:50]:
            out.print(f"  rep {rep.index:3d}: {rep.start_time:7.2f}-{rep.end_time:7.2f} s")
    said = results_console(output_format)
    if json_path:
        said.print(f"result -> [bold]{json_path}[/bold]")
    if plot:
        said.print(f"plot -> [bold]{plot_pose_count(result, plot, path.stem)}[/bold]")


@app.command("export-counter")
def export_counter(
    weights: Path = typer.Option(..., "--weights", help="folder with the RepNet checkpoint"),
    output: Path = typer.Option(Path("export_repnet"), "-o", "--output", help="folder to write"),
    formats: str = typer.Option(",".join(REPNET_FORMATS), "--formats", help="comma-separated"),
    variant: Optional[Variant] = typer.Option(None, "--variant", help="default: from the checkpoint"),
) -> None:
    """Export RepNet to a SavedModel and TFLite files (builtin ops), parity-checked against Keras."""
    from movinet_crossfit.repnet.export import export_repnet
    from movinet_crossfit.repnet.model import load_repnet

    report = export_repnet(load_repnet(weights, _value(variant)), output,
                           formats=parse_names(formats))
    for fmt, diff in report["parity"].items():
        size = report["files"].get(fmt, {}).get("bytes")
        out.print(f"{fmt:12s} max |diff| vs Keras {diff['max_abs']:.2e}, period argmax agreement "
                  f"{diff['period_argmax_agreement']:.0%}" + (f", {size / 1e6:.1f} MB" if size else ""))
    out.print(f"RepNet export -> [bold]{output}[/bold]")


@app.command("train-counter")
def train_counter(
    clips: List[Path] = typer.Argument(..., help="clips, folders of *.mp4, or a counting manifest"),
    run_dir: Path = typer.Option(..., "--out", help="run folder (an existing one is resumed)"),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML with any CounterTrainConfig option"),
    small: bool = typer.Option(False, "--small", help="small CPU config (16 frames, 32 px) instead of the paper's"),
    weights: Optional[Path] = typer.Option(None, "--weights", help="RepNet checkpoint folder to start from"),
    backbone_weights: Optional[Path] = typer.Option(None, "--backbone-weights",
                                                    help="Keras ResNet50V2 ImageNet notop .h5 for the trunk"),
    from_scratch: bool = typer.Option(False, "--from-scratch", help="start from random weights (explicitly)"),
    variant: Optional[Variant] = typer.Option(None, "--variant", help="the RepNet checkpoint's variant"),
    frames: Optional[int] = typer.Option(None, "--frames", help="frames per sample (paper: 64)"),
    size: Optional[int] = typer.Option(None, "--size", help="frame side in pixels (paper: 112)"),
    steps: Optional[int] = typer.Option(None, "--steps", help="training steps (paper: 400000)"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="paper: 5"),
    learning_rate: Optional[float] = typer.Option(None, "--learning-rate", help="Adam, constant (paper: 6e-6)"),
    seed: Optional[int] = typer.Option(None, "--seed"),
) -> None:
    """Train RepNet on synthetic repetitions made from real clips; writes checkpoints, logs, history."""
    from movinet_crossfit.repnet.train import CounterTrainConfig, describe
    from movinet_crossfit.repnet.train import train_counter as run_training

    options = dict(weights=weights and str(weights), backbone_weights=backbone_weights and str(backbone_weights),
                   from_scratch=from_scratch or None, variant=_value(variant), num_frames=frames, image_size=size,
                   steps=steps, batch_size=batch_size, learning_rate=learning_rate, seed=seed)
    options = {k: v for k, v in options.items() if v is not None}
    cfg = (CounterTrainConfig.from_yaml(config, **options) if config else
           CounterTrainConfig.small_cpu(**options) if small else CounterTrainConfig(**options))
    out.print(describe(run_training(clips, run_dir, cfg)), highlight=False)


@app.command("evaluate-counter")
def evaluate_counter(
    manifest_path: Path = typer.Argument(..., metavar="MANIFEST",
                                         help="counting manifest, clip manifest with counts, or corpus folder"),
    weights: Optional[Path] = typer.Option(None, "--weights", help="RepNet checkpoint folder"),
    variant: Optional[Variant] = typer.Option(None, "--variant", help="default: from the checkpoint"),
    size: Optional[int] = typer.Option(None, "--size", help="image size (default: the run's repnet.json, else 112)"),
    output: Path = typer.Option(Path("counter_eval"), "-o", "--output", help="folder for metrics.json + scatter.png"),
    strides: str = typer.Option(_STRIDES, "--strides", help="comma-separated frame strides"),
    threshold: float = typer.Option(_COUNT.threshold, "--threshold", help="mean score under which the count is 0"),
    within_period_threshold: float = typer.Option(_COUNT.within_period_threshold, "--within-period-threshold"),
    fully_periodic: bool = typer.Option(False, "--fully-periodic", help="count every frame"),
    constant_speed: bool = typer.Option(False, "--constant-speed", help="one period for the whole item"),
    raw_counts: bool = typer.Option(False, "--raw-counts", help="metrics on fractional counts (default: rounded)"),
    limit: Optional[int] = typer.Option(None, "--limit", help="evaluate the first N items only"),
    strict: bool = strict_option(),
) -> None:
    """MAE (|pred - true| / true) and off-by-one accuracy of RepNet counts, per item and overall."""
    from movinet_crossfit.repnet.evaluate import eval_counter as run_eval

    options = CountOptions(strides=parse_int_list(strides, "--strides"), threshold=threshold,
                           within_period_threshold=within_period_threshold, fully_periodic=fully_periodic,
                           constant_speed=constant_speed)
    result = run_eval(manifest_path, output, weights=weights, variant=_value(variant), image_size=size, options=options,
                      round_predictions=not raw_counts, limit=limit)
    if result.report.failed:
        result.report.print()
    for source, m in {**result.metrics["by_source"], "overall": result.metrics["overall"]}.items():
        mae = "-" if m["mae"] is None else f"{m['mae']:.3f}"
        obo = "-" if m["obo"] is None else f"{m['obo']:.3f}"
        out.print(f"{source}: {m['items']} items, MAE {mae}, OBO {obo}", highlight=False)
    out.print(f"metrics -> [bold]{result.files['metrics']}[/bold]")
    if not result.items:
        raise typer.Exit(1)
    finish_batch(result.report, None, strict, print_report=False)


# The verb's old name, hidden, kept for one release.
app.command("eval-counter", hidden=True, help="Old name of evaluate-counter.")(evaluate_counter)
