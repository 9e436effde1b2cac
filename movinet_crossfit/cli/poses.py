"""Pose commands: poses, train-poses, evaluate-poses."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from movinet_crossfit.cli._common import (OutputFormat, app, choices, default, finish_batch, out, param_default,
                                          print_metrics_table, strict_option)
from movinet_crossfit.cli.data import beam_options_option, beam_settings, runner_option
from movinet_crossfit.keypoints.config import PoseTrainConfig
from movinet_crossfit.keypoints.model import ARCHITECTURES
from movinet_crossfit.pose.blazepose import BlazePose
from movinet_crossfit.pose.importers import IMPORT_FORMATS
from movinet_crossfit.pose.sequence import JOINT_NAMES

ImportFormat = choices("ImportFormat", ("auto", *IMPORT_FORMATS))
Architecture = choices("Architecture", ARCHITECTURES)
Layout = choices("Layout", JOINT_NAMES)


@app.command()
def poses(
    inputs: List[Path] = typer.Argument(..., metavar="VIDEO...", help="videos or folders of them; or another "
                                        "estimator's .npz/.json (or a RepCount .npy) to import"),
    output: Path = typer.Option(..., "-o", "--output", help="poses .npz (one input) or a folder"),
    backend: str = typer.Option("blazepose", "--backend", help="pose estimator for videos"),
    model_dir: Optional[Path] = typer.Option(None, "--model-dir", help="folder with pose_detection.tflite and "
                                             "pose_landmark_full.tflite (default: pose_models/, from setup)"),
    import_format: Optional[ImportFormat] = typer.Option(None, "--from", help="import instead of detecting: "
                                                         "another estimator's file format (auto: tell by content)"),
    fps: Optional[float] = typer.Option(None, "--fps", help="frame rate (for imports that hold none; "
                                        "repcount: 30 assumed)"),
    every: int = typer.Option(1, "--every", min=1, help="only every N-th frame (fps divided by N)"),
    min_detection_score: float = typer.Option(param_default(BlazePose, "min_detection_score"), "--min-detection-score", help="BlazePose person detector threshold"),
    person: str = typer.Option("auto", "--person", help="whose poses: auto (the athlete: the person moving most, "
                               "and rhythmically, longest in view), largest, N (the N-th largest; 0 = largest), or first "
                               "(whoever is found first; fastest, for one-person videos)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="redo outputs that exist"),
    runner: Optional[str] = runner_option(),
    beam_option: List[str] = beam_options_option(),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="with --runner DirectRunner: "
                                          "videos at once (default: cores)"),
    strict: bool = strict_option(),
) -> None:
    """Keypoints per frame: BlazePose's 33 landmarks (NaN where nobody is found), or imported."""
    from movinet_crossfit.pose.extract import expand_inputs, write_poses
    from movinet_crossfit.pose.people import parse_person

    options = {"model_dir": model_dir, "min_detection_score": min_detection_score,
               "person": parse_person(person)} if backend == "blazepose" else {}
    write = write_poses
    settings = beam_settings(runner, beam_option, workers)
    if settings is not None:
        from movinet_crossfit.pose.beam_poses import write_poses_beam

        write, options = write_poses_beam, {**options, "settings": settings}
    result = write(expand_inputs(inputs), output, backend=backend, import_format=import_format and import_format.value,
                   fps=fps, every=every, overwrite=overwrite, **options)
    for source, text in result.summaries.items():
        out.print(f"{source}: {text} ({result.seconds[source]:.1f} s) -> [bold]{result.outputs[source]}[/bold]",
                  highlight=False)
    finish_batch(result.report, None, strict, "inputs")


@app.command("train-poses")
def train_poses(
    data: Path = typer.Argument(..., help="a generated corpus (ground_truth.json), or a poses folder: "
                                "<label>/<name>.npz, or per clip/video with --manifest"),
    run_dir: Path = typer.Option(..., "--out", help="run folder, e.g. runs/poses-tcn"),
    manifest: Optional[Path] = typer.Option(None, "--manifest", help="manifest.json whose clips DATA holds poses of"),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML with any PoseTrainConfig option"),
    arch: Optional[Architecture] = typer.Option(None, "--arch", help=default(PoseTrainConfig, "arch")),
    epochs: Optional[int] = typer.Option(None, "--epochs", help=default(PoseTrainConfig, "epochs")),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help=default(PoseTrainConfig, "batch_size")),
    learning_rate: Optional[float] = typer.Option(None, "--learning-rate", help=f"{default(PoseTrainConfig, 'learning_rate')} (cosine decay)"),
    length: Optional[int] = typer.Option(None, "--length", help=f"frames each sequence is resampled to ({default(PoseTrainConfig, 'length')})"),
    layout: Optional[Layout] = typer.Option(None, "--layout",
                                            help=f"model joints ({default(PoseTrainConfig, 'layout')})"),
    ratios: Optional[str] = typer.Option(None, "--ratios", help=default(PoseTrainConfig, "ratios")),
    contrastive_epochs: Optional[int] = typer.Option(None, "--contrastive-epochs",
                                                     help=f"SimCLR pre-training epochs first ({default(PoseTrainConfig, 'contrastive_epochs')})"),
    seed: Optional[int] = typer.Option(None, "--seed"),
    no_export: bool = typer.Option(False, "--no-export", help="skip model.tflite"),
) -> None:
    """Train a keypoint classifier (TCN, LSTM or ConvLSTM), evaluate it on test, export TFLite."""
    from movinet_crossfit.keypoints.train import train_pose_classifier

    options = dict(data=str(data), out=str(run_dir), manifest=str(manifest) if manifest else None,
                   arch=arch and arch.value, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                   length=length, layout=layout and layout.value,
                   ratios=ratios, contrastive_epochs=contrastive_epochs, seed=seed, export=False if no_export else None)
    cfg = PoseTrainConfig.from_yaml(config, **options)
    result = train_pose_classifier(cfg)
    s = result.summary
    if result.report.failed or result.report.warnings:
        result.report.print()
    if result.metrics:
        _print_pose_metrics(result.metrics, s["eval_split"])
    tflite = s["tflite"] or {}
    out.print(f"{s['arch']}: {s['sequences']} sequences, best epoch {s['best_epoch']}/{s['epochs']}, "
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
    from movinet_crossfit.keypoints.evaluate import evaluate_pose_run

    result = evaluate_pose_run(run, data=data, manifest=manifest, split=split, out_dir=output)
    _print_pose_metrics(result.metrics, split if data is None else str(data))
    out.print(f"-> [bold]{result.out_dir}[/bold]", highlight=False)


@app.command("predict-poses")
def predict_poses(
    run: Path = typer.Argument(..., help="run folder from `train-poses`"),
    poses_path: Path = typer.Argument(..., metavar="POSES", help="a poses .npz (from `poses`)"),
    top_k: int = typer.Option(5, "--top-k", min=1, help="classes to show"),
    output_format: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table | json"),
) -> None:
    """The movement of one keypoint sequence, by a keypoint classifier."""
    import json

    from movinet_crossfit.keypoints.predict import predict_poses_file

    probabilities = predict_poses_file(run, poses_path)
    top = list(probabilities.items())[:top_k]
    if output_format is OutputFormat.json:
        print(json.dumps({"poses": str(poses_path), "label": top[0][0], "probabilities": dict(top)}, indent=2))
        return
    for label, probability in top:
        out.print(f"{label:20s} {probability:.3f}", highlight=False)


def _print_pose_metrics(m: dict, split: str) -> None:
    tops = print_metrics_table(m, "sequences")
    out.print(f"{split}: accuracy {m['accuracy']:.3f} ({tops}) on {m['clips']} sequences", highlight=False)
