"""MoViNet commands: train, evaluate, export, predict."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from movinet_crossfit.cli._common import (Backend, OutputFormat, app, choices, console, default, out, param_default,
                                          parse_names, print_metrics_table, results_console)
from movinet_crossfit.core.tflite import FORMATS as TFLITE_FORMATS
from movinet_crossfit.movinet.config import FINE_TUNE, STRATEGIES, STRATEGY_ALIASES, TrainConfig
from movinet_crossfit.movinet.evaluate import TTA_MODES
from movinet_crossfit.movinet.export import FORMATS, export_run
from movinet_crossfit.movinet.predict import predict_video
from movinet_crossfit.movinet.stream import DEFAULT_VARIANTS as STREAM_VARIANTS

FineTune, Strategy = choices("FineTune", FINE_TUNE), choices("Strategy", (*STRATEGIES, *STRATEGY_ALIASES))
Tta, TfliteVariant = choices("Tta", TTA_MODES), choices("TfliteVariant", TFLITE_FORMATS)


@app.command()
def train(
    records: Path = typer.Option(Path("tfrecords"), "--records", help="records folder (from `records`)"),
    out: Path = typer.Option(..., "--out", help="run folder, e.g. runs/NAME"),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML with any TrainConfig option"),
    arch: Optional[str] = typer.Option(None, "--arch", help="movinet (by --model-id) | movinet-a0 | movinet-a2 | "
                                       "single-frame | late-fusion-fc | late-fusion-pool | early-fusion | c3d | "
                                       "cnn-lstm (docs/architectures.md)"),
    backbone_weights: Optional[str] = typer.Option(None, "--backbone-weights", help="classic 2-D archs: "
                                                   "MobileNetV3Small (no top) Keras weights, FILE or URL "
                                                   "(default: random initialisation)"),
    model_id: Optional[str] = typer.Option(None, "--model-id", help=f"a0..a5 ({default(TrainConfig, 'model_id')})"),
    checkpoint: Optional[str] = typer.Option(None, "--checkpoint", help="Kinetics-600 checkpoint dir/prefix"),
    archive: Optional[str] = typer.Option(None, "--archive", help="official movinet_<id>_base.tar.gz"),
    hub: Optional[str] = typer.Option(None, "--hub", help="TF Hub handle or local hub folder"),
    pretrained: Optional[str] = typer.Option(None, "--pretrained", help="a0..a5: download (once, into the cache) "
                                             "and load that model's official Kinetics-600 archive"),
    from_scratch: bool = typer.Option(False, "--from-scratch", help="train from random weights (explicitly)"),
    causal: bool = typer.Option(False, "--causal", help="causal convolutions + cumulative pooling (a0-a2, from the "
                                "Kinetics-600 stream checkpoints): exports a stream model (`export RUN --stream`)"),
    epochs: Optional[int] = typer.Option(None, "--epochs", help=f"head-only epochs ({default(TrainConfig, 'epochs')})"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="the global batch, split over the "
                                             f"replicas of --strategy ({default(TrainConfig, 'batch_size')})"),
    learning_rate: Optional[float] = typer.Option(None, "--learning-rate", help=f"{default(TrainConfig, 'learning_rate')} (cosine decay)"),
    fine_tune: Optional[FineTune] = typer.Option(None, "--fine-tune", help=default(TrainConfig, "fine_tune")),
    fine_tune_epochs: Optional[int] = typer.Option(None, "--fine-tune-epochs"),
    cache_features: Optional[bool] = typer.Option(None, "--cache-features/--no-cache-features",
                                                  help="head-only on cached backbone features (default: on without GPU)"),
    strategy: Optional[Strategy] = typer.Option(None, "--strategy", help="tf.distribute: default | mirrored (this "
                                                "machine's GPUs) | multi-worker (hosts named by TF_CONFIG; "
                                                "multiworker: old name) | tpu (Colab / Cloud TPU); docs/scale.md "
                                                f"({default(TrainConfig, 'strategy')})"),
    mixed_precision: bool = typer.Option(False, "--mixed-precision", help="float16 compute (GPU/TPU)"),
    seed: Optional[int] = typer.Option(None, "--seed", help=f"weights, shuffling, augmentation ({default(TrainConfig, 'seed')})"),
    validation_split: Optional[str] = typer.Option(None, "--validation-split",
                                                   help="records split that picks the epoch (default val, else test)"),
    select_best: Optional[bool] = typer.Option(None, "--select-best/--no-select-best",
                                               help="best/ = the best validation epoch, or the last one "
                                                    f"({default(TrainConfig, 'select_best')})"),
    deterministic: bool = typer.Option(False, "--deterministic", help="op determinism: the same seed gives the "
                                                                       "same weights (slower on some GPU ops)"),
) -> None:
    """Fine-tune MoViNet (Kinetics-600 weights), or train a classic --arch, on the records; writes checkpoints,
    logs, history."""
    from movinet_crossfit.movinet.train import describe
    from movinet_crossfit.movinet.train import train as run_training

    options = dict(records=str(records), out=str(out), arch=arch, backbone_weights=backbone_weights, model_id=model_id, checkpoint=checkpoint, archive=archive,
                   hub=hub, from_scratch=from_scratch or None, epochs=epochs, batch_size=batch_size,
                   learning_rate=learning_rate, fine_tune=fine_tune and fine_tune.value,
                   fine_tune_epochs=fine_tune_epochs, cache_features=cache_features,
                   strategy=strategy and strategy.value, mixed_precision=mixed_precision or None,
                   pretrained=pretrained, seed=seed, validation_split=validation_split, select_best=select_best,
                   deterministic=deterministic or None, causal=causal or None)
    cfg = TrainConfig.from_yaml(config, **options)
    result = run_training(cfg)
    results_console(OutputFormat.table).print(describe(result), highlight=False)  # `out` is the --out path here


@app.command()
def evaluate(
    run: Path = typer.Argument(..., help="run folder from `train`"),
    split: str = typer.Option("test", "--split", help="records split to evaluate"),
    records: Optional[str] = typer.Option(None, "--records", help="records folder (default: the run's)"),
    tta: Tta = typer.Option(Tta.none, "--tta", help="test-time averaging: none | flip (mirror) | clips (several "
                                                  "samplings in time of each source clip) | clips+flip"),
    views: int = typer.Option(3, "--views", help="with --tta clips: samplings per clip"),
    clips: Optional[Path] = typer.Option(None, "--clips", help="with --tta clips: the clip folder "
                                                               "(default: the one the records were built from)"),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="folder (default RUN/eval_SPLIT)"),
) -> None:
    """Accuracy, top-k, per-class precision/recall/F1, confusion matrix and probability plots."""
    from movinet_crossfit.movinet.evaluate import evaluate_run

    result = evaluate_run(run, split=split, records=records, out_dir=output, tta=tta.value, views=views,
                          clips_dir=clips)
    m = result.metrics
    tops = print_metrics_table(m, "clips")
    out.print(f"{split}: accuracy {m['accuracy']:.3f} ({tops}) on {m['clips']} clips -> [bold]{result.out_dir}[/bold]")
    single = m.get("tta_views", {}).get("single_view", [])
    if single:
        console.print(f"[yellow]{len(single)} clip(s) kept a single view (source file missing or unreadable), "
                      f"e.g. {single[0]['id']}: {single[0]['reason']}[/yellow]")


@app.command()
def export(
    run: Path = typer.Argument(..., help="run folder from `train`"),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="export folder (default: export, "
                                                                      "with --stream export_stream)"),
    records: Optional[Path] = typer.Option(None, "--records", help="records for int8 calibration and parity "
                                                                    "(default: the run's)"),
    formats: Optional[str] = typer.Option(None, "--formats", help=f"comma-separated ({','.join(FORMATS)}; with "
                                          f"--stream: {','.join(STREAM_VARIANTS)})"),
    calibration_clips: int = typer.Option(param_default(export_run, "calibration_clips"), "--calibration-clips", help="training clips for int8 calibration"),
    stream: bool = typer.Option(False, "--stream", help="a causal run's stream model: one frame per call, states "
                                                        "in and out by name (docs/stream.md)"),
) -> None:
    """SavedModel + TFLite (fp32, fp16, dynamic, int8) on builtin ops, with a parity check."""
    if stream:
        from movinet_crossfit.movinet.stream import export_stream

        report = export_stream(run, output or Path("export_stream"), records_dir=records,
                               variants=parse_names(formats) if formats else STREAM_VARIANTS)
    else:
        report = export_run(run, output or Path("export"), formats=parse_names(formats or ",".join(FORMATS)),
                            records_dir=records, calibration_clips=calibration_clips)
    out.print(report.summary(), highlight=False)


@app.command()
def predict(
    video_path: Path = typer.Argument(..., metavar="VIDEO", help="video file"),
    model: Path = typer.Option(Path("export"), "--model", help="export folder, or a .tflite file"),
    backend: Backend = typer.Option(Backend.auto, "--backend", help="the runtime (auto: the SavedModel if present)"),
    variant: TfliteVariant = typer.Option(TfliteVariant.fp32, "--variant", help="which TFLite file"),
    top_k: int = typer.Option(param_default(predict_video, "top_k"), "--top-k", min=1),
    output_format: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table | json"),
    timeline: bool = typer.Option(False, "--timeline", help="slide a window over a long video"),
    plot: Optional[Path] = typer.Option(None, "--plot", help="with --timeline: PNG of the movement over time"),
) -> None:
    """Classify a video with exactly the training preprocessing."""
    import json

    from movinet_crossfit.movinet.predict import plot_timeline, predict_timeline

    if timeline:
        result = predict_timeline(video_path, model, backend=backend.value, variant=variant.value)
        if output_format == "json":
            print(json.dumps(result.to_dict(), indent=2))
        else:
            for segment in result.segments:
                out.print(f"{segment.start:7.2f}-{segment.end:7.2f} s  {segment.label}"
                          f"  ({segment.probability:.2f})")
        if plot:
            results_console(output_format).print(f"timeline -> [bold]{plot_timeline(result, plot)}[/bold]")
        return
    result = predict_video(video_path, model, top_k=top_k, backend=backend.value, variant=variant.value)
    if output_format == "json":
        print(json.dumps(result.to_dict(), indent=2))
        return
    from rich.table import Table

    table = Table("movement", "probability")
    for label, probability in result.top_k:
        table.add_row(label, f"{probability:.3f}")
    out.print(table)
    out.print(f"{video_path}: [bold]{result.label}[/bold] ({result.probability:.2f}) via {result.backend}, "
                  f"{result.timings['total']:.2f} s")
