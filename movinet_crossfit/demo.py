"""``movinet-crossfit demo``: the whole pipeline on a generated corpus, offline, step by step.

Every step calls the same library function as its CLI command, so the demo exercises the real
parsing, cutting and record code on data that looks like a labelling tool's output.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

from movinet_crossfit.core.fileio import write_json_atomic
from movinet_crossfit.core.progress import console


def _step(number: int, title: str) -> float:
    console.rule(f"[bold]{number}. {title}")
    return time.perf_counter()


def _done(started: float, where: Path | str) -> float:
    seconds = time.perf_counter() - started
    console.print(f"   done in {seconds:.1f} s -> [bold]{where}[/bold]")
    return round(seconds, 2)


@dataclass
class DemoConfig:
    """The demo's defaults fit ~10 minutes on 2 CPU cores.

    No pretrained weights can be downloaded offline, so the demo trains MoViNet-A0 from random
    weights (``--from-scratch``) on 48x48 frames; the real A2/224 path is the same code
    (``movinet-crossfit train --archive movinet_a2_base.tar.gz``) and is covered by the tests.

    What makes random weights reach >= 90 % in that time (measured in docs/demo.md):

    * one segment of a class per generated video (``max_per_video=1``): every video has its own
      look (background, colours, viewpoint, scale, noise), so 50 segments per class come from
      ~180 looks instead of ~55, and the test split (grouped by video) holds ~36 unseen videos;
    * the original RMSprop recipe (rho 0.9, momentum 0.9, epsilon 1.0) at a learning rate of 0.03
      rather than 0.01 -- with epsilon 1.0 it is close to SGD with momentum, which trains this
      network from scratch several times faster than Adam did;
    * little regularisation (dropout 0.1, no label smoothing): from scratch on ~360 clips the
      model under-fits, it does not over-fit.
    """

    clips_per_class: int = 50
    max_per_video: int = 1  # segments of one class in one generated video
    video_size: tuple = (160, 120)  # generated video (width, height); records downsample to ``size``
    num_frames: int = 10
    size: int = 48
    model_id: str = "a0"
    epochs: int = 30
    optimizer: str = "rmsprop"
    learning_rate: float = 0.03
    dropout_rate: float = 0.1
    label_smoothing: float = 0.0
    batch_size: int = 8
    seed: int = 0
    train: bool = True  # False: stop after records + stats


def run_demo(out: str | Path = "demo_out", config: DemoConfig | None = None) -> dict:
    from movinet_crossfit.data.annotations import write_manifest
    from movinet_crossfit.data.clips import split_clips
    from movinet_crossfit.data.records import RecordsConfig, write_records
    from movinet_crossfit.data.stats import corpus_stats, write_stats
    from movinet_crossfit.synthetic import generate_corpus

    config = config or DemoConfig()
    clips_per_class, size, seed = config.clips_per_class, config.size, config.seed
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    total = time.perf_counter()
    seconds: dict[str, float] = {}

    started = _step(1, "generate a labelled corpus (Supervisely video export)")
    corpus_dir = out / "corpus"
    summary = generate_corpus(corpus_dir, clips_per_class=clips_per_class, seed=seed, size=tuple(config.video_size),
                              max_per_video=config.max_per_video)
    console.print(f"   {summary}")
    seconds["corpus"] = _done(started, corpus_dir)

    started = _step(2, "manifest: Supervisely export -> manifest.json")
    manifest_path = out / "manifest.json"
    manifest, report = write_manifest([corpus_dir], manifest_path)
    report.print()
    seconds["manifest"] = _done(started, manifest_path)

    started = _step(3, "split: cut clips with ffmpeg")
    clips_dir = out / "clips"
    report = split_clips(manifest_path, clips_dir)
    report.print()
    seconds["split"] = _done(started, clips_dir)

    started = _step(4, f"records: sample {config.num_frames} frames per clip, split by source video")
    records_dir = out / "tfrecords"
    result = write_records(records_dir, clips_dir=clips_dir, manifest=manifest_path,
                           config=RecordsConfig(num_frames=config.num_frames, size=size, seed=seed))
    result.report.print()
    for split, entry in result.info["splits"].items():
        console.print(f"   {split}: {entry['clips']} clips, {entry['bytes'] / 1e6:.1f} MB")
    seconds["records"] = _done(started, records_dir)

    started = _step(5, "stats: clips, frames and duration per class")
    stats = corpus_stats(manifest=manifest_path)
    paths = write_stats(stats, out / "stats")
    console.print(stats.table.round(3).to_string())
    seconds["stats"] = _done(started, paths["png"])

    outputs = {"corpus": corpus_dir, "manifest": manifest_path, "clips": clips_dir, "records": records_dir,
               "stats": paths}
    if config.train:
        outputs.update(_model_steps(out, records_dir, config, seconds))
    outputs["analysis"] = _analysis_step(out, config, 10 if config.train else 6, seconds)
    seconds["total"] = round(time.perf_counter() - total, 2)
    outputs["seconds"] = seconds
    write_json_atomic(out / "demo_summary.json", {
        "config": asdict(config), "seconds": seconds, "test_accuracy": outputs.get("test_accuracy"),
        "test_clips": outputs.get("test_clips"), "analysis": outputs["analysis"],
        "predictions": {k: v.label for k, v in outputs.get("predictions", {}).items()}})
    console.rule(f"[bold green]demo finished in {seconds['total']:.0f} s"
                 + (f" · test accuracy {outputs['test_accuracy']:.3f}" if config.train else ""))
    return outputs


def _model_steps(out: Path, records_dir: Path, config: DemoConfig, seconds: dict) -> dict:
    from movinet_crossfit.movinet.evaluate import evaluate_run
    from movinet_crossfit.movinet.export import export_run
    from movinet_crossfit.movinet.predict import predict_video
    from movinet_crossfit.synthetic import SegmentSpec, render_video
    from movinet_crossfit.movinet.train import TrainConfig, describe, train

    started = _step(6, f"train: MoViNet-{config.model_id.upper()} from random weights "
                       "(no pretrained weights offline)")
    run_dir = out / "runs" / "demo"
    result = train(TrainConfig(records=str(records_dir), out=str(run_dir), model_id=config.model_id,
                               from_scratch=True, epochs=0, fine_tune="all", fine_tune_epochs=config.epochs,
                               fine_tune_learning_rate=config.learning_rate, batch_size=config.batch_size,
                               optimizer=config.optimizer, dropout_rate=config.dropout_rate,
                               label_smoothing=config.label_smoothing, early_stopping_patience=0,
                               # The records are split train/val/test by video: val is watched, test
                               # untouched. best/ is still the last epoch (the cosine decay ends at zero
                               # and ~45 val clips would choose an epoch noisily), and the demo reports
                               # an honest test score even when a tiny corpus leaves val empty.
                               validation_split=None, select_best=False, seed=config.seed))
    console.print(f"   {describe(result)}")
    seconds["train"] = _done(started, run_dir)

    started = _step(7, "evaluate on the held-out test videos (grouped split)")
    evaluation = evaluate_run(run_dir, split="test")
    accuracy = evaluation.metrics["accuracy"]
    console.print(f"   [bold]test accuracy {accuracy:.3f}[/bold] on {evaluation.metrics['clips']} clips "
                  f"(top-3 {evaluation.metrics.get('top3_accuracy', float('nan')):.3f})")
    seconds["evaluate"] = _done(started, evaluation.files["confusion_matrix"])

    started = _step(8, "export: SavedModel + TFLite fp32 / fp16 / dynamic / int8")
    export_dir = out / "export"
    export_run(run_dir, export_dir, records_dir=records_dir)
    for path in sorted(export_dir.glob("*.tflite")):
        console.print(f"   {path.name}: {path.stat().st_size / 1e6:.2f} MB")
    seconds["export"] = _done(started, export_dir)

    started = _step(9, "predict: a newly generated video that was not in the corpus")
    video_path = out / "unseen" / "unseen.mp4"
    video_path.parent.mkdir(parents=True, exist_ok=True)
    truth = render_video(video_path, [SegmentSpec("thruster", 3)], seed=config.seed + 10_000,
                         size=tuple(config.video_size))
    predictions = {}
    for backend in ("saved_model", "tflite"):
        prediction = predict_video(video_path, export_dir, backend=backend)
        predictions[backend] = prediction
        top = ", ".join(f"{label} {p:.2f}" for label, p in prediction.top_k[:3])
        console.print(f"   {backend}: [bold]{prediction.label}[/bold] ({top}); truth: {truth.segments[0].label}")
    seconds["predict"] = _done(started, video_path)
    return {"run": run_dir, "test_accuracy": accuracy, "test_clips": evaluation.metrics["clips"], "export": export_dir,
            "predictions": predictions}


# The set the demo analyses: six thrusters, the third a quarter squat, the fifth pressed out short.
DEMO_FAULTS = (None, None, "depth", None, "lockout", None)


def _analysis_step(out: Path, config: DemoConfig, number: int, seconds: dict) -> dict:
    """``analyze`` on a newly generated set with faulty reps: the rep table, the overlay video and
    how many verdicts match the faults the generator drew."""
    from movinet_crossfit.analysis.footage import analyse_footage
    from movinet_crossfit.analysis.overlay import write_overlay
    from movinet_crossfit.analysis.report import print_summary
    from movinet_crossfit.pose.extract import KnownPoses
    from movinet_crossfit.synthetic import SegmentSpec, render_video

    started = _step(number, "analyze: a new set with faulty reps, judged rep by rep against the standards")
    folder = out / "analyze"
    folder.mkdir(parents=True, exist_ok=True)
    video_path = folder / "thrusters.mp4"
    truth = render_video(video_path, [SegmentSpec("thruster", len(DEMO_FAULTS), period=1.8, faults=DEMO_FAULTS)],
                         seed=config.seed + 20_000, size=(320, 240), fps=30)
    # BlazePose does not see stick figures: the generator's own joints stand in for its poses here.
    # On real footage (`movinet-crossfit analyze VIDEO`) the poses come from BlazePose.
    console.print("   poses: the generator's own joints (BlazePose is for real footage)")
    result = analyse_footage(video_path, tracker=KnownPoses(truth.keypoints, "coco17", truth.fps))
    print_summary(result, console)
    overlay = write_overlay(video_path, result, folder / "thrusters_overlay.mp4")
    write_json_atomic(folder / "thrusters.json", result.to_dict())
    drawn = truth.segments[0].rep_faults
    judged = [None if rep.valid else rep.reason_id for rep in result.reps]
    matches = sum(a == b for a, b in zip(judged, drawn)) if len(judged) == len(drawn) else 0
    console.print(f"   faults drawn: {[f or 'clean' for f in drawn]}; verdicts matching them: "
                  f"[bold]{matches}/{len(drawn)}[/bold]")
    seconds["analyze"] = _done(started, overlay)
    return {"video": str(video_path), "overlay": str(overlay), "count": result.count.count,
            "true_count": len(drawn), "valid": result.valid_count, "no_reps": result.no_rep_count,
            "verdicts_matching_faults": matches}
