"""``movinet-crossfit``: one subcommand per pipeline stage. No logic lives here: each command
parses its options, calls one library function, and prints what it did and where it went."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

import movinet_crossfit  # noqa: F401  (environment before TensorFlow)
from movinet_crossfit.demo import DemoConfig
from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.progress import console

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="CrossFit movement classification and rep counting: corpus -> MoViNet -> phone.")


@app.command()
def manifest(
    export: List[Path] = typer.Argument(..., help="Supervisely project folder(s), ann folders or *.json files"),
    output: Path = typer.Option(Path("manifest.json"), "-o", "--output", help="manifest.json to write"),
    videos: Optional[Path] = typer.Option(None, "--videos", help="folder of the source videos (fps, frame checks)"),
    fps: Optional[float] = typer.Option(None, "--fps", help="frame rate to assume when videos are absent"),
    alias: List[str] = typer.Option([], "--alias", help="extra label alias FROM=TO (repeatable)"),
    classes: Optional[str] = typer.Option(None, "--classes", help="comma-separated class list (default: the 9)"),
    keep_unknown: bool = typer.Option(False, "--keep-unknown", help="keep labels outside the class list"),
    keep_overlapping: bool = typer.Option(False, "--keep-overlapping",
                                          help="keep overlapping segments with different labels (default: drop both)"),
) -> None:
    """Turn a Supervisely export into a validated manifest.json."""
    from movinet_crossfit.data.annotations import summary_line, vocabulary_from_options, write_manifest

    result, report = write_manifest(export, output, videos_dir=videos, fps=fps,
                                    vocabulary=vocabulary_from_options(classes, alias),
                                    keep_unknown=keep_unknown, keep_overlapping=keep_overlapping)
    report.print()
    if not result.clips:
        console.print(f"{output}: nothing written, no clips")
        raise typer.Exit(1)
    console.print(summary_line(result, output))


@app.command()
def download(
    sources: List[str] = typer.Argument(..., help="URL lists (#title lines), CSVs (url or video_id), Countix CSVs, URLs"),
    output: Path = typer.Option(Path("videos"), "-o", "--output", help="videos folder (+ metadata, archive, report)"),
    format: Optional[str] = typer.Option(None, "--format", help="yt-dlp format (default: mp4, height <= 720)"),
    workers: int = typer.Option(2, "--workers", help="parallel downloads"),
    retries: int = typer.Option(5, "--retries", help="retries per transfer, each resuming"),
    backoff: float = typer.Option(2.0, "--backoff", help="seconds before the first retry, doubling"),
    rate_limit: Optional[str] = typer.Option(None, "--rate-limit", help="bytes/s per download, e.g. 2M"),
    sleep: float = typer.Option(0.0, "--sleep", help="seconds to wait before each download"),
    max_sleep: Optional[float] = typer.Option(None, "--max-sleep", help="random wait in [--sleep, --max-sleep]"),
    sleep_requests: float = typer.Option(0.0, "--sleep-requests", help="seconds between extraction requests"),
    whole_videos: bool = typer.Option(False, "--whole-videos", help="never cut to the Countix/CSV time range"),
    cookies: Optional[str] = typer.Option(None, "--cookies", help="Netscape cookie file for yt-dlp"),
    url_template: Optional[str] = typer.Option(None, "--url-template", help="URL of a video id, with {id}"),
    report_stem: Optional[Path] = typer.Option(None, "--report", help="report stem (default: OUTPUT/download-report)"),
    status: bool = typer.Option(False, "--status", help="download nothing: present/missing, OUTPUT/missing.txt"),
) -> None:
    """Download source videos with yt-dlp: resumable, archived, reported (CSV + JSON)."""
    from movinet_crossfit.data.sources import (DEFAULT_FORMAT, YOUTUBE_URL_TEMPLATE, DownloadOptions, download_sources,
                                          source_status)

    options = DownloadOptions(format=format or DEFAULT_FORMAT, workers=workers, retries=retries, backoff=backoff,
                              rate_limit=rate_limit, sleep=sleep, max_sleep=max_sleep, sleep_requests=sleep_requests,
                              cut_ranges=not whole_videos, cookies=cookies,
                              url_template=url_template or YOUTUBE_URL_TEMPLATE)
    if status:
        result = source_status(sources, output, url_template=options.url_template)
        console.print(f"{result.summary()}; missing -> {result.write_missing(output / 'missing.txt')}", highlight=False)
        return
    report = download_sources(sources, output, options, report_path=report_stem)
    report.print()
    console.print(f"videos -> [bold]{output}[/bold], report -> [bold]{report.files['csv']}[/bold]")
    if not report.succeeded:
        raise typer.Exit(1)


@app.command()
def split(
    manifest_path: Path = typer.Argument(..., metavar="MANIFEST", help="manifest.json"),
    videos: Optional[Path] = typer.Option(None, "--videos", help="folder of the source videos"),
    output: Path = typer.Option(Path("clips"), "-o", "--output", help="folder for <label>/<clip>.mp4"),
    copy: bool = typer.Option(False, "--copy", help="stream-copy (fast, cuts at keyframes, not frame-accurate)"),
    workers: Optional[int] = typer.Option(None, "--workers", help="parallel ffmpeg processes (default: cores)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="re-cut clips that already exist"),
) -> None:
    """Cut the manifest's clips out of the source videos with ffmpeg (frame-accurate, resumable)."""
    from movinet_crossfit.data.clips import split_clips

    report = split_clips(manifest_path, output, videos_dir=videos, reencode=not copy, workers=workers,
                         overwrite=overwrite)
    report.print()
    console.print(f"clips -> [bold]{output}[/bold]")
    if not report.succeeded:
        raise typer.Exit(1)


@app.command()
def records(
    manifest_path: Optional[Path] = typer.Argument(None, metavar="[MANIFEST]",
                                                   help="manifest.json; omit to read a <label>/<clip>.mp4 folder"),
    clips: Path = typer.Option(Path("clips"), "--clips", help="clip folder (from `split`, or <label>/<clip>.mp4)"),
    output: Path = typer.Option(Path("tfrecords"), "-o", "--output", help="folder for shards + dataset_info.json"),
    frames: int = typer.Option(10, "--frames", help="frames sampled evenly per clip"),
    size: int = typer.Option(224, "--size", help="frame side in pixels after centre crop + resize"),
    ratios: str = typer.Option("train=0.8,test=0.2", "--ratios", help="split fractions, e.g. train=0.7,val=0.1,test=0.2"),
    seed: int = typer.Option(0, "--seed", help="split seed"),
    jpeg_quality: int = typer.Option(60, "--jpeg-quality", min=1, max=100, help="JPEG quality of stored frames"),
    workers: Optional[int] = typer.Option(None, "--workers", help="parallel decoders (default: cores)"),
) -> None:
    """Write TFRecords of sampled, preprocessed clips, split by source video."""
    from movinet_crossfit.data.records import RecordsConfig, write_records
    from movinet_crossfit.data.splits import parse_ratios

    config = RecordsConfig(num_frames=frames, size=size, ratios=parse_ratios(ratios), seed=seed,
                           jpeg_quality=jpeg_quality, workers=workers)
    result = write_records(output, clips_dir=clips, manifest=manifest_path, config=config)
    result.report.print()
    _print_records_info(result.info, output)


@app.command()
def stats(
    manifest_path: Optional[Path] = typer.Argument(None, metavar="[MANIFEST]", help="manifest.json"),
    clips: Optional[Path] = typer.Option(None, "--clips", help="or a <label>/<clip>.mp4 folder to probe"),
    output: Path = typer.Option(Path("stats"), "-o", "--output", help="folder for stats.csv/.json/.png"),
) -> None:
    """Per-class clip count, frames and duration (mean ± std), with a chart."""
    from movinet_crossfit.data.stats import corpus_stats, write_stats

    if manifest_path is None and clips is None:
        raise UserError("give a MANIFEST or --clips FOLDER")
    result = corpus_stats(manifest=manifest_path, clips_dir=clips)
    if result.report.failed or result.report.warnings:
        result.report.print()
    _print_stats_table(result.table)
    paths = write_stats(result, output)
    console.print(f"stats -> [bold]{paths['csv']}[/bold], chart -> [bold]{paths['png']}[/bold]")


@app.command()
def train(
    records: Path = typer.Option(Path("tfrecords"), "--records", help="records folder (from `records`)"),
    out: Path = typer.Option(..., "--out", help="run folder, e.g. runs/NAME"),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML with any TrainConfig option"),
    model_id: Optional[str] = typer.Option(None, "--model-id", help="a0..a5 (default a2)"),
    checkpoint: Optional[str] = typer.Option(None, "--checkpoint", help="Kinetics-600 checkpoint dir/prefix"),
    archive: Optional[str] = typer.Option(None, "--archive", help="official movinet_<id>_base.tar.gz"),
    hub: Optional[str] = typer.Option(None, "--hub", help="TF Hub handle or local hub folder"),
    from_scratch: bool = typer.Option(False, "--from-scratch", help="train from random weights (explicitly)"),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="head-only epochs (default 10)"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="default 8"),
    learning_rate: Optional[float] = typer.Option(None, "--learning-rate", help="default 0.01 (cosine decay)"),
    fine_tune: Optional[str] = typer.Option(None, "--fine-tune", help="none | last | all"),
    fine_tune_epochs: Optional[int] = typer.Option(None, "--fine-tune-epochs"),
    cache_features: Optional[bool] = typer.Option(None, "--cache-features/--no-cache-features",
                                                  help="head-only on cached backbone features (default: on without GPU)"),
    strategy: Optional[str] = typer.Option(None, "--strategy", help="default | mirrored | tpu | multiworker"),
    mixed_precision: bool = typer.Option(False, "--mixed-precision", help="float16 compute (GPU/TPU)"),
) -> None:
    """Fine-tune MoViNet (Kinetics-600 weights) on the records; writes checkpoints, logs, history."""
    from movinet_crossfit.movinet.train import TrainConfig, describe
    from movinet_crossfit.movinet.train import train as run_training

    options = dict(records=str(records), out=str(out), model_id=model_id, checkpoint=checkpoint, archive=archive,
                   hub=hub, from_scratch=from_scratch or None, epochs=epochs, batch_size=batch_size,
                   learning_rate=learning_rate, fine_tune=fine_tune, fine_tune_epochs=fine_tune_epochs,
                   cache_features=cache_features, strategy=strategy, mixed_precision=mixed_precision or None)
    cfg = TrainConfig.from_yaml(config, **options) if config else TrainConfig(
        **{k: v for k, v in options.items() if v is not None})
    result = run_training(cfg)
    console.print(describe(result))


@app.command()
def evaluate(
    run: Path = typer.Argument(..., help="run folder from `train`"),
    split: str = typer.Option("test", "--split", help="records split to evaluate"),
    records: Optional[str] = typer.Option(None, "--records", help="records folder (default: the run's)"),
    tta: str = typer.Option("none", "--tta", help="test-time averaging: none | flip (mirror) | clips (several "
                                                  "samplings in time of each source clip) | clips+flip"),
    views: int = typer.Option(3, "--views", help="with --tta clips: samplings per clip"),
    clips: Optional[Path] = typer.Option(None, "--clips", help="with --tta clips: the clip folder "
                                                               "(default: the one the records were built from)"),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="folder (default RUN/eval_SPLIT)"),
) -> None:
    """Accuracy, top-k, per-class precision/recall/F1, confusion matrix and probability plots."""
    from movinet_crossfit.movinet.evaluate import evaluate_run

    result = evaluate_run(run, split=split, records=records, out_dir=output, tta=tta, views=views, clips_dir=clips)
    m = result.metrics
    tops = _print_metrics_table(m, "clips")
    console.print(f"{split}: accuracy {m['accuracy']:.3f} ({tops}) on {m['clips']} clips -> [bold]{result.out_dir}[/bold]")
    single = m.get("tta_views", {}).get("single_view", [])
    if single:
        console.print(f"[yellow]{len(single)} clip(s) kept a single view (source file missing or unreadable), "
                      f"e.g. {single[0]['id']}: {single[0]['reason']}[/yellow]")


@app.command()
def export(
    run: Path = typer.Argument(..., help="run folder from `train`"),
    output: Path = typer.Option(Path("export"), "-o", "--output", help="export folder"),
    records: Optional[Path] = typer.Option(None, "--records", help="records for int8 calibration and parity "
                                                                    "(default: the run's)"),
    formats: str = typer.Option("saved_model,fp32,fp16,dynamic,int8", "--formats", help="comma-separated"),
    calibration_clips: int = typer.Option(100, "--calibration-clips", help="training clips for int8 calibration"),
) -> None:
    """SavedModel + TFLite (fp32, fp16, dynamic, int8) on builtin ops, with a parity check."""
    from movinet_crossfit.movinet.export import export_run
    from movinet_crossfit.core.runs import read_run_config

    records_dir = records or read_run_config(run).get("records")
    report = export_run(run, output, formats=[f.strip() for f in formats.split(",") if f.strip()],
                        records_dir=records_dir, calibration_clips=calibration_clips)
    console.print(report.summary())


@app.command()
def predict(
    video_path: Path = typer.Argument(..., metavar="VIDEO", help="video file"),
    model: Path = typer.Option(Path("export"), "--model", help="export folder, or a .tflite file"),
    backend: str = typer.Option("auto", "--backend", help="auto | saved_model | tflite"),
    variant: str = typer.Option("fp32", "--variant", help="TFLite file: fp32 | fp16 | dynamic | int8"),
    top_k: int = typer.Option(5, "--top-k", min=1),
    output_format: str = typer.Option("table", "--format", help="table | json"),
    timeline: bool = typer.Option(False, "--timeline", help="slide a window over a long video"),
    plot: Optional[Path] = typer.Option(None, "--plot", help="with --timeline: PNG of the movement over time"),
) -> None:
    """Classify a video with exactly the training preprocessing."""
    import json

    from movinet_crossfit.movinet.predict import plot_timeline, predict_timeline, predict_video

    if timeline:
        result = predict_timeline(video_path, model, backend=backend, variant=variant)
        if output_format == "json":
            print(json.dumps(result.to_dict(), indent=2))
        else:
            for segment in result.segments:
                console.print(f"{segment.start:7.2f}-{segment.end:7.2f} s  {segment.label}"
                              f"  ({segment.probability:.2f})")
        if plot:
            console.print(f"timeline -> [bold]{plot_timeline(result, plot)}[/bold]")
        return
    result = predict_video(video_path, model, top_k=top_k, backend=backend, variant=variant)
    if output_format == "json":
        print(json.dumps(result.to_dict(), indent=2))
        return
    from rich.table import Table

    table = Table("movement", "probability")
    for label, probability in result.top_k:
        table.add_row(label, f"{probability:.3f}")
    console.print(table)
    console.print(f"{video_path}: [bold]{result.label}[/bold] ({result.probability:.2f}) via {result.backend}, "
                  f"{result.timings['total']:.2f} s")


@app.command()
def count(
    video_path: Optional[Path] = typer.Argument(None, metavar="[VIDEO]", help="video file (not with --poses)"),
    poses: Optional[Path] = typer.Option(None, "--poses", help="count from keypoints instead: a poses .npz "
                                         "(from `poses`, ViTPose `reconstruction`, or the generated corpus)"),
    fps: Optional[float] = typer.Option(None, "--fps", help="with --poses: frame rate when the file has none"),
    layout: Optional[str] = typer.Option(None, "--layout", help="with --poses: mediapipe33 | coco17 (default: from the file)"),
    weights: Optional[Path] = typer.Option(None, "--weights", help="folder with the RepNet checkpoint "
                                           "(official: checkpoint, ckpt-70.*; or one written by train-counter)"),
    model: Optional[Path] = typer.Option(None, "--model", help="instead of --weights: an export-counter folder"),
    backend: str = typer.Option("auto", "--backend", help="with --model: auto | tflite | saved_model"),
    variant: Optional[str] = typer.Option(None, "--variant", help="ckpt-70 | ckpt-88 (default: read from the "
                                          "checkpoint); with --model: fp32 | fp16 | dynamic"),
    strides: str = typer.Option("1,2,3,4", "--strides", help="frame strides tried (speeds)"),
    threshold: float = typer.Option(0.2, "--threshold", help="mean score under which the count is 0"),
    within_period_threshold: float = typer.Option(0.5, "--within-period-threshold",
                                                  help="score over which a frame is inside a repetition"),
    fully_periodic: bool = typer.Option(False, "--fully-periodic", help="every frame is part of a repetition"),
    constant_speed: bool = typer.Option(False, "--constant-speed", help="one period for the whole video"),
    no_median_filter: bool = typer.Option(False, "--no-median-filter", help="skip the width-5 median filters"),
    pad_short: bool = typer.Option(False, "--pad-short", help="pad a video shorter than 64 frames with its last "
                                   "frame instead of refusing it"),
    json_path: Optional[Path] = typer.Option(None, "--json", help="write the full result (per-frame) as JSON"),
    plot: Optional[Path] = typer.Option(None, "--plot", help="PNG: periodicity and count over time + self-similarity"),
    output_format: str = typer.Option("table", "--format", help="table | json (summary to stdout)"),
) -> None:
    """Count repetitions in a video with RepNet, or in keypoints with the pose counter (both class-agnostic)."""
    import json

    from movinet_crossfit.repnet.infer import CountOptions, count_video, plot_count
    from movinet_crossfit.core.fileio import write_json_atomic

    if poses is not None:
        _count_poses(poses, fps, layout, json_path, plot, output_format)
        return
    if video_path is None:
        raise UserError("count needs a VIDEO (RepNet) or --poses FILE (pose counter)")

    try:
        stride_list = tuple(int(s) for s in strides.split(",") if s.strip())
    except ValueError:
        raise UserError(f"--strides {strides!r}: expected comma-separated integers, e.g. 1,2,3,4") from None
    options = CountOptions(strides=stride_list, threshold=threshold, within_period_threshold=within_period_threshold,
                           fully_periodic=fully_periodic, constant_speed=constant_speed,
                           median_filter=not no_median_filter, pad_short=pad_short)
    if model is not None:
        from movinet_crossfit.repnet.export import load_runner

        result = count_video(video_path, runner=load_runner(model, backend, variant or "fp32"), options=options)
    else:
        result = count_video(video_path, weights, variant=variant, options=options)
    if json_path:
        write_json_atomic(json_path, result.to_dict())
    if output_format == "json":
        print(json.dumps(result.to_dict(per_frame=False), indent=2))
    else:
        console.print(f"{video_path}: [bold]{result.count:.1f} reps[/bold] (~{result.rounded}), score "
                      f"{result.score:.2f}, stride {result.stride}, {result.num_frames} frames"
                      + (f"; {result.note}" if result.note else ""))
        for rep in result.reps[:50]:
            console.print(f"  rep {rep.index:3d}: {rep.start_time:7.2f}-{rep.end_time:7.2f} s "
                          f"(frames {rep.start_frame}-{rep.end_frame})")
    if json_path:
        console.print(f"result -> [bold]{json_path}[/bold]")
    if plot:
        console.print(f"plot -> [bold]{plot_count(result, plot)}[/bold]")


def _count_poses(path: Path, fps: Optional[float], layout: Optional[str], json_path: Optional[Path],
                 plot: Optional[Path], output_format: str) -> None:
    import json

    from movinet_crossfit.posecount.count import count_repetitions, load_poses, plot_pose_count
    from movinet_crossfit.core.fileio import write_json_atomic

    keypoints, file_fps, file_layout = load_poses(path)
    rate = fps or file_fps
    if not rate:
        raise UserError(f"{path}: holds no frame rate; pass --fps")
    result = count_repetitions(keypoints, rate, layout or file_layout)
    if json_path:
        write_json_atomic(json_path, {"source": str(path), **result.to_dict()})
    if output_format == "json":
        print(json.dumps({"source": str(path), **result.to_dict(per_frame=False)}, indent=2))
    else:
        console.print(f"{path}: [bold]{result.count} reps[/bold], period {result.period / rate:.2f} s, "
                      f"periodicity {result.score:.2f}, {result.num_frames} frames"
                      + (f"; {result.note}" if result.note else ""))
        for rep in result.reps[:50]:
            console.print(f"  rep {rep.index:3d}: {rep.start_time:7.2f}-{rep.end_time:7.2f} s")
    if plot:
        console.print(f"plot -> [bold]{plot_pose_count(result, plot, path.stem)}[/bold]")


@app.command("export-counter")
def export_counter(
    weights: Path = typer.Option(..., "--weights", help="folder with the RepNet checkpoint"),
    output: Path = typer.Option(Path("export_repnet"), "-o", "--output", help="folder to write"),
    formats: str = typer.Option("saved_model,fp32,fp16,dynamic", "--formats", help="comma-separated"),
    variant: Optional[str] = typer.Option(None, "--variant", help="ckpt-70 | ckpt-88 (default: from the checkpoint)"),
) -> None:
    """Export RepNet to a SavedModel and TFLite files (builtin ops), parity-checked against Keras."""
    from movinet_crossfit.repnet.export import export_repnet
    from movinet_crossfit.repnet.model import load_repnet

    report = export_repnet(load_repnet(weights, variant), output,
                           formats=[f.strip() for f in formats.split(",") if f.strip()])
    for fmt, diff in report["parity"].items():
        size = report["files"].get(fmt, {}).get("bytes")
        console.print(f"{fmt:12s} max |diff| vs Keras {diff['max_abs']:.2e}, period argmax agreement "
                      f"{diff['period_argmax_agreement']:.0%}" + (f", {size / 1e6:.1f} MB" if size else ""))
    console.print(f"RepNet export -> [bold]{output}[/bold]")


@app.command()
def poses(
    inputs: List[Path] = typer.Argument(..., metavar="VIDEO...", help="videos or folders of them; or another "
                                        "estimator's .npz/.json to import"),
    output: Path = typer.Option(..., "-o", "--output", help="poses .npz (one input) or a folder"),
    backend: str = typer.Option("blazepose", "--backend", help="pose estimator for videos"),
    model_dir: Optional[Path] = typer.Option(None, "--model-dir", help="folder with pose_detection.tflite and "
                                             "pose_landmark_full.tflite (default: pose_models/, from setup)"),
    import_format: Optional[str] = typer.Option(None, "--from", help="import instead of detecting: "
                                                "vitpose | torchvision | auto"),
    fps: Optional[float] = typer.Option(None, "--fps", help="frame rate (for imports that hold none)"),
    every: int = typer.Option(1, "--every", min=1, help="only every N-th frame (fps divided by N)"),
    min_detection_score: float = typer.Option(0.5, "--min-detection-score", help="BlazePose person detector threshold"),
    overwrite: bool = typer.Option(False, "--overwrite", help="redo outputs that exist"),
) -> None:
    """Keypoints per frame: BlazePose's 33 landmarks (NaN where nobody is found), or imported."""
    from movinet_crossfit.pose.extract import expand_inputs, write_poses

    options = {"model_dir": model_dir, "min_detection_score": min_detection_score} if backend == "blazepose" else {}
    result = write_poses(expand_inputs(inputs), output, backend=backend, import_format=import_format, fps=fps,
                         every=every, overwrite=overwrite, **options)
    for source, text in result.summaries.items():
        console.print(f"{source}: {text} ({result.seconds[source]:.1f} s) -> [bold]{result.outputs[source]}[/bold]",
                      highlight=False)
    result.report.print()
    if not result.report.succeeded:
        raise typer.Exit(1)


@app.command("train-poses")
def train_poses(
    data: Path = typer.Argument(..., help="a generated corpus (ground_truth.json), or a poses folder: "
                                "<label>/<name>.npz, or per clip/video with --manifest"),
    out: Path = typer.Option(..., "--out", help="run folder, e.g. runs/poses-tcn"),
    manifest: Optional[Path] = typer.Option(None, "--manifest", help="manifest.json whose clips DATA holds poses of"),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML with any PoseTrainConfig option"),
    arch: Optional[str] = typer.Option(None, "--arch", help="tcn | lstm | convlstm (default tcn)"),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="default 80"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="default 32"),
    learning_rate: Optional[float] = typer.Option(None, "--learning-rate", help="default 0.002 (cosine decay)"),
    length: Optional[int] = typer.Option(None, "--length", help="frames each sequence is resampled to (default 64)"),
    layout: Optional[str] = typer.Option(None, "--layout", help="model joints: coco17 (default) | mediapipe33"),
    ratios: Optional[str] = typer.Option(None, "--ratios", help="default train=0.7,val=0.1,test=0.2"),
    contrastive_epochs: Optional[int] = typer.Option(None, "--contrastive-epochs",
                                                     help="SimCLR pre-training epochs first (default 0)"),
    seed: Optional[int] = typer.Option(None, "--seed"),
    no_export: bool = typer.Option(False, "--no-export", help="skip model.tflite"),
) -> None:
    """Train a keypoint classifier (TCN, LSTM or ConvLSTM), evaluate it on test, export TFLite."""
    import yaml

    from movinet_crossfit.keypoints.train import PoseTrainConfig, train_pose_classifier

    base = yaml.safe_load(config.read_text()) if config else {}
    options = dict(data=str(data), out=str(out), manifest=str(manifest) if manifest else None, arch=arch,
                   epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, length=length, layout=layout,
                   ratios=ratios, contrastive_epochs=contrastive_epochs, seed=seed, export=False if no_export else None)
    cfg = PoseTrainConfig.from_dict({**(base or {}), **{k: v for k, v in options.items() if v is not None}})
    result = train_pose_classifier(cfg)
    s = result.summary
    if result.report.failed or result.report.warnings:
        result.report.print()
    if result.metrics:
        _print_pose_metrics(result.metrics, s["eval_split"])
    tflite = s["tflite"] or {}
    console.print(f"{s['arch']}: {s['sequences']} sequences, best epoch {s['best_epoch']}/{s['epochs']}, "
                  f"{s['seconds']['total']:.0f} s"
                  + (f"; TFLite {tflite['bytes'] / 1e3:.0f} kB, max |diff| {tflite['max_abs_diff']:.1e}" if tflite else "")
                  + f" -> [bold]{result.run_dir}[/bold]", highlight=False)


@app.command("evaluate-poses")
def evaluate_poses(
    run: Path = typer.Argument(..., help="run folder from `train-poses`"),
    data: Optional[Path] = typer.Option(None, "--data", help="other sequences to evaluate on (default: the run's own)"),
    manifest: Optional[Path] = typer.Option(None, "--manifest", help="with --data: its manifest.json"),
    split: str = typer.Option("test", "--split", help="of the run's own data: train | val | test | all"),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="folder (default RUN/eval_SPLIT)"),
) -> None:
    """Accuracy, per-class P/R/F1, confusion matrix and probability plots of a keypoint classifier."""
    from movinet_crossfit.keypoints.train import evaluate_pose_run

    result = evaluate_pose_run(run, data=data, manifest=manifest, split=split, out_dir=output)
    _print_pose_metrics(result.metrics, split if data is None else str(data))
    console.print(f"-> [bold]{result.out_dir}[/bold]")


def _print_metrics_table(m: dict, unit: str) -> str:
    """The per-class table of ``metrics.classification_metrics`` output; returns the top-k summary."""
    from rich.table import Table

    table = Table("class", unit, "precision", "recall", "F1", "p(true) mean ± std")
    for name, row in m["per_class"].items():
        mean, std = row["true_class_probability_mean"], row["true_class_probability_std"]
        table.add_row(name, str(row["support"]), f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f1']:.3f}",
                      "-" if mean is None else f"{mean:.3f} ± {std or 0:.3f}")
    console.print(table)
    return ", ".join(f"{k} {v:.3f}" for k, v in m.items() if k.startswith("top"))


def _print_pose_metrics(m: dict, split: str) -> None:
    tops = _print_metrics_table(m, "sequences")
    console.print(f"{split}: accuracy {m['accuracy']:.3f} ({tops}) on {m['clips']} sequences", highlight=False)


_DEMO = DemoConfig()


@app.command()
def demo(
    out: Path = typer.Option(Path("demo_out"), "--out", help="folder for everything the demo makes"),
    clips_per_class: int = typer.Option(_DEMO.clips_per_class, "--clips-per-class", help="labelled segments per class"),
    size: int = typer.Option(_DEMO.size, "--size", help="frame size for records and model"),
    frames: int = typer.Option(_DEMO.num_frames, "--frames", help="frames sampled per clip"),
    model_id: str = typer.Option(_DEMO.model_id, "--model-id", help="MoViNet a0..a5"),
    epochs: int = typer.Option(_DEMO.epochs, "--epochs", help="training epochs (from random weights)"),
    seed: int = typer.Option(_DEMO.seed, "--seed", help="corpus, split and training seed"),
    no_train: bool = typer.Option(False, "--no-train", help="stop after records + stats"),
) -> None:
    """Run the whole pipeline on a generated corpus, offline, explaining each step."""
    from movinet_crossfit.demo import run_demo

    run_demo(out, DemoConfig(clips_per_class=clips_per_class, num_frames=frames, size=size, model_id=model_id,
                             epochs=epochs, seed=seed, train=not no_train))


@app.command("app")
def run_app(
    model: Path = typer.Option(Path("demo_out/export"), "--model", help="export folder (from `export` or `demo`)"),
    counter: Optional[Path] = typer.Option(None, "--counter", help="RepNet weights folder or export-counter folder"),
    host: str = typer.Option("127.0.0.1", "--host", help="address to listen on (0.0.0.0 exposes it to the network)"),
    port: int = typer.Option(8050, "--port"),
    max_upload_mb: float = typer.Option(100.0, "--max-upload-mb", help="largest video accepted"),
    backend: str = typer.Option("auto", "--backend", help="auto | saved_model | tflite"),
) -> None:
    """Serve the upload page: drop a video, see the movement, the rep count and the timeline."""
    from movinet_crossfit.app import serve

    serve(model, counter, host=host, port=port, max_upload_mb=max_upload_mb, backend=backend)

def _print_records_info(info: dict, output: Path) -> None:
    from rich.table import Table

    splits = list(info["splits"])
    table = Table("class", *splits)
    for name in info["classes"]:
        table.add_row(name, *(str(info["splits"][s]["per_class"].get(name, 0)) for s in splits))
    table.add_row("[bold]clips", *(f"[bold]{info['splits'][s]['clips']}" for s in splits))
    table.add_row("MB", *(f"{info['splits'][s]['bytes'] / 1e6:.2f}" for s in splits))
    console.print(table)
    console.print(f"records ({info['num_frames']} frames, {info['size']}x{info['size']}) -> [bold]{output}[/bold]")


def _print_stats_table(table) -> None:
    from rich.table import Table

    out = Table("class", "clips", "frames mean", "frames std", "seconds mean", "seconds std")
    for label, row in table.iterrows():
        out.add_row(str(label), str(int(row["clips"])), *(f"{row[c]:.2f}" for c in
                    ("frames_mean", "frames_std", "duration_mean", "duration_std")))
    console.print(out)


@app.command("counting-manifest")
def counting_manifest(
    output: Path = typer.Option(Path("counting.json"), "-o", "--output", help="counting manifest to write"),
    clip_manifest: List[Path] = typer.Option([], "--clip-manifest", help="manifest.json whose clips carry counts"),
    corpus: List[Path] = typer.Option([], "--corpus", help="generated corpus folder (ground_truth.json)"),
    countix: List[Path] = typer.Option([], "--countix", help="Countix CSV, e.g. countix_val.csv (repeatable)"),
    countix_videos: Optional[Path] = typer.Option(None, "--countix-videos", help="folder of <video_id>.mp4"),
    time_origin: str = typer.Option("auto", "--time-origin", help="Countix files: auto | video | kinetics"),
) -> None:
    """Videos (or ranges) with true rep counts, for eval-counter and train-counter."""
    from movinet_crossfit.data.counting_manifest import build_counting_manifest

    result, report = build_counting_manifest(output, clip_manifests=clip_manifest, corpora=corpus,
                                             countix_csvs=countix, countix_videos=countix_videos,
                                             time_origin=time_origin)
    report.print()
    for item, reason in report.skipped[:5]:
        console.print(f"  skipped {item}: {reason}", highlight=False)
    if not result.items:
        console.print(f"{output}: nothing written, no items")
        raise typer.Exit(1)
    console.print(f"{len(result.items)} items -> [bold]{output}[/bold]")


@app.command("train-counter")
def train_counter(
    clips: List[Path] = typer.Argument(..., help="clips, folders of *.mp4, or a counting manifest"),
    out: Path = typer.Option(..., "--out", help="run folder (an existing one is resumed)"),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML with any CounterTrainConfig option"),
    small: bool = typer.Option(False, "--small", help="small CPU config (16 frames, 32 px) instead of the paper's"),
    weights: Optional[Path] = typer.Option(None, "--weights", help="RepNet checkpoint folder to start from"),
    backbone_weights: Optional[Path] = typer.Option(None, "--backbone-weights",
                                                    help="Keras ResNet50V2 ImageNet notop .h5 for the trunk"),
    from_scratch: bool = typer.Option(False, "--from-scratch", help="start from random weights (explicitly)"),
    variant: Optional[str] = typer.Option(None, "--variant", help="ckpt-70 | ckpt-88"),
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
                   from_scratch=from_scratch or None, variant=variant, num_frames=frames, image_size=size,
                   steps=steps, batch_size=batch_size, learning_rate=learning_rate, seed=seed)
    options = {k: v for k, v in options.items() if v is not None}
    cfg = (CounterTrainConfig.from_yaml(config, **options) if config else
           CounterTrainConfig.small_cpu(**options) if small else CounterTrainConfig(**options))
    console.print(describe(run_training(clips, out, cfg)))


@app.command("eval-counter")
def eval_counter(
    manifest_path: Path = typer.Argument(..., metavar="MANIFEST",
                                         help="counting manifest, clip manifest with counts, or corpus folder"),
    weights: Optional[Path] = typer.Option(None, "--weights", help="RepNet checkpoint folder"),
    variant: Optional[str] = typer.Option(None, "--variant", help="ckpt-70 | ckpt-88 (default: from the checkpoint)"),
    size: Optional[int] = typer.Option(None, "--size", help="image size (default: the run's repnet.json, else 112)"),
    output: Path = typer.Option(Path("counter_eval"), "-o", "--output", help="folder for metrics.json + scatter.png"),
    strides: str = typer.Option("1,2,3,4", "--strides", help="comma-separated frame strides"),
    threshold: float = typer.Option(0.2, "--threshold", help="mean score under which the count is 0"),
    within_period_threshold: float = typer.Option(0.5, "--within-period-threshold"),
    fully_periodic: bool = typer.Option(False, "--fully-periodic", help="count every frame"),
    constant_speed: bool = typer.Option(False, "--constant-speed", help="one period for the whole item"),
    raw_counts: bool = typer.Option(False, "--raw-counts", help="metrics on fractional counts (default: rounded)"),
    limit: Optional[int] = typer.Option(None, "--limit", help="evaluate the first N items only"),
) -> None:
    """MAE (|pred - true| / true) and off-by-one accuracy of RepNet counts, per item and overall."""
    from movinet_crossfit.repnet.evaluate import eval_counter as run_eval
    from movinet_crossfit.repnet.infer import CountOptions

    options = CountOptions(strides=tuple(int(s) for s in strides.split(",") if s.strip()), threshold=threshold,
                           within_period_threshold=within_period_threshold, fully_periodic=fully_periodic,
                           constant_speed=constant_speed)
    result = run_eval(manifest_path, output, weights=weights, variant=variant, image_size=size, options=options,
                      round_predictions=not raw_counts, limit=limit)
    if result.report.failed:
        result.report.print()
    for source, m in {**result.metrics["by_source"], "overall": result.metrics["overall"]}.items():
        mae = "-" if m["mae"] is None else f"{m['mae']:.3f}"
        obo = "-" if m["obo"] is None else f"{m['obo']:.3f}"
        console.print(f"{source}: {m['items']} items, MAE {mae}, OBO {obo}", highlight=False)
    console.print(f"metrics -> [bold]{result.files['metrics']}[/bold]")
    if not result.items:
        raise typer.Exit(1)


def main() -> None:
    """Entry point: user errors print one clear line (no traceback) and exit with status 2."""
    try:
        app()
    except UserError as exc:
        console.print(f"[bold red]error:[/bold red] {exc}", highlight=False)
        sys.exit(2)
    except KeyboardInterrupt:
        console.print("interrupted; finished outputs are kept, partial ones were not written")
        sys.exit(130)


if __name__ == "__main__":
    main()
