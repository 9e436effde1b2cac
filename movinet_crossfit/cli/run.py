"""Whole-product commands: demo, app."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from movinet_crossfit.cli._common import Backend, app, out
from movinet_crossfit.core.progress import show_logs

from movinet_crossfit.analysis.footage import DEFAULT_POSE_FPS
from movinet_crossfit.app.uploads import (DEFAULT_HOST, DEFAULT_LIVE_FPS, DEFAULT_LIVE_SESSIONS, DEFAULT_MAX_GIGAPIXELS,
                                          DEFAULT_MAX_QUEUE, DEFAULT_MAX_UPLOAD_MB, DEFAULT_PORT)
from movinet_crossfit.demo import DemoConfig

_DEMO = DemoConfig()


@app.command()
def demo(
    folder: Path = typer.Option(Path("demo_out"), "--out", help="folder for everything the demo makes"),
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

    outputs = run_demo(folder, DemoConfig(clips_per_class=clips_per_class, num_frames=frames, size=size,
                                          model_id=model_id, epochs=epochs, seed=seed, train=not no_train))
    _print_demo_outputs(outputs, folder)


def _print_demo_outputs(outputs: dict, folder: Path) -> None:
    """The demo's result (its narrative went to stderr): the scores, then where each output is."""
    analysis = outputs["analysis"]
    if "test_accuracy" in outputs:
        out.print(f"test accuracy {outputs['test_accuracy']:.3f} on {outputs['test_clips']} clips", highlight=False)
    out.print(f"analyze: {analysis['count']} reps found ({analysis['true_count']} drawn), {analysis['valid']} valid, "
              f"{analysis['no_reps']} no rep; {analysis['verdicts_matching_faults']} verdicts match the faults",
              highlight=False)
    for what in ("manifest", "clips", "records", "run", "export"):
        if what in outputs:
            out.print(f"{what} -> {outputs[what]}", highlight=False)
    out.print(f"overlay -> {analysis['overlay']}", highlight=False)
    out.print(f"summary -> {folder / 'demo_summary.json'}", highlight=False)


@app.command("app")
def run_app(
    model: Optional[Path] = typer.Option(None, "--model", help="MoViNet export folder: the movement comes from it "
                                         "(default: recognised from the poses)"),
    counter: Optional[Path] = typer.Option(None, "--counter", help="RepNet weights or export-counter folder: "
                                           "its count is shown as well"),
    standards: Optional[Path] = typer.Option(None, "--standards", help="your movement standards YAML (adds to or "
                                             "replaces the built-in movements)"),
    pose_fps: float = typer.Option(DEFAULT_POSE_FPS, "--pose-fps", help="poses per second of video"),
    overlay: bool = typer.Option(True, "--overlay/--no-overlay", help="draw the overlay video the page plays"),
    host: str = typer.Option(DEFAULT_HOST, "--host", help="address to listen on (0.0.0.0 exposes it to the network: "
                             "needs --token)"),
    port: int = typer.Option(DEFAULT_PORT, "--port"),
    token: Optional[str] = typer.Option(None, "--token", envvar="MOVINET_CROSSFIT_APP_TOKEN", show_envvar=True,
                                        help="every request must carry it: open the page once as /?token=TOKEN"),
    allow_insecure_remote: bool = typer.Option(False, "--allow-insecure-remote",
                                               help="serve a non-loopback --host without a token"),
    max_upload_mb: float = typer.Option(DEFAULT_MAX_UPLOAD_MB, "--max-upload-mb", help="largest video accepted"),
    max_gigapixels: float = typer.Option(DEFAULT_MAX_GIGAPIXELS, "--max-gigapixels",
                                         help="largest video: width x height x frames / 1e9 (a second of "
                                         "1080p at 30 fps is 0.062)"),
    max_queue: int = typer.Option(DEFAULT_MAX_QUEUE, "--max-queue", help="uploads that may wait behind the running "
                                  "one; more are told the server is busy"),
    backend: Backend = typer.Option(Backend.auto, "--backend", help="--model's runtime"),
    live_fps: float = typer.Option(DEFAULT_LIVE_FPS, "--live-fps", help="frames a second the Camera tab sends "
                                   "(more needs a faster server: each frame gets a pose)"),
    live_sessions: int = typer.Option(DEFAULT_LIVE_SESSIONS, "--live-sessions", help="cameras analysed at once "
                                      "(0 turns the Camera tab off)"),
) -> None:
    """Serve the upload page: drop a video, get the movement, the reps judged one by one (with the
    deciding frame of each), the overlay video and the pace. No flags needed."""
    from movinet_crossfit.app import serve
    from movinet_crossfit.app.live import LiveConfig

    show_logs(None)  # the server logs with timestamps, its own way
    serve(model, counter, host=host, port=port, max_upload_mb=max_upload_mb, backend=backend.value, standards=standards,
          pose_fps=pose_fps, overlay=overlay, max_gigapixels=max_gigapixels, max_queue=max_queue, token=token or "",
          allow_insecure_remote=allow_insecure_remote,
          live=LiveConfig(fps=live_fps, max_sessions=live_sessions))
