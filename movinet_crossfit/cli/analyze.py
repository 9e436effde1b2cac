"""The analysis command: analyze (movement, reps and rep-by-rep judging of a video, from poses)."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Callable, Iterator, Optional

import typer

from movinet_crossfit.analysis.footage import DEFAULT_POSE_FPS
from movinet_crossfit.analysis.report import print_summary
from movinet_crossfit.cli._common import (OutputFormat, app, check_movement_given, check_output, console, out,
                                         results_console)
from movinet_crossfit.core.errors import UserError


@contextlib.contextmanager
def _progress() -> Iterator[Callable[[str, float], None]]:
    """``report(stage, fraction)`` drawing a bar on stderr (a terminal), else one line per stage."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from movinet_crossfit.core.progress import progress_enabled

    if not progress_enabled():
        stages: list[str] = []

        def say(stage: str, fraction: float) -> None:
            if stage != "done" and (not stages or stages[-1] != stage):
                stages.append(stage)
                console.print(f"{stage}...", highlight=False)

        yield say
        return
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task("starting", total=1.0)
        yield lambda stage, fraction: bar.update(task, description=stage, completed=fraction)


@app.command()
def analyze(
    video_path: Path = typer.Argument(..., metavar="VIDEO", help="a video of one athlete's set (MP4, MOV, WebM, ...)"),
    model: Optional[Path] = typer.Option(None, "--model", help="a MoViNet export folder (`export`): its label names "
                                         "the movement, the pose guess is shown beside it (needs TensorFlow)"),
    movement: Optional[str] = typer.Option(None, "--movement", help="the movement, if you know it (thruster, ohs, "
                                           "chest-to-bar, ...): wins over the model and the poses and cuts the reps "
                                           "where it rests; squat, push-up, pull-up, ... are counted, not judged"),
    flip_rest: bool = typer.Option(False, "--flip-rest", help="with a --movement counted, not judged: cut its reps "
                                   "where it looks mid-rep instead of where it rests (the other convention: sit-ups "
                                   "sat up to sat up, a pommel horse filmed from the other side)"),
    standards: Optional[Path] = typer.Option(None, "--standards", help="a standards YAML adding movements or "
                                             "replacing built-in ones (docs/judging.md)"),
    person: str = typer.Option("auto", "--person", help="whose reps: auto (the athlete: the person moving most, in "
                               "rhythm, longest in view), largest, N (the N-th largest; 0 = largest), or first "
                               "(whoever is found first; fastest, for one-person videos)"),
    pose_fps: float = typer.Option(DEFAULT_POSE_FPS, "--pose-fps", help="poses per second (a pose on every "
                                   "round(fps / this)-th frame; the video's rate or more: every frame)"),
    json_path: Optional[Path] = typer.Option(None, "--json", help="write the result as JSON (docs/analyze.md)"),
    overlay: Optional[Path] = typer.Option(None, "--overlay", help="write the video with the skeleton, rep numbers "
                                           "and verdicts drawn on it (H.264 .mp4)"),
    output_format: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table | json (on stdout)"),
) -> None:
    """Movement, reps and which of them count, from the athlete's poses (BlazePose): one command, real footage."""
    import json

    from movinet_crossfit.analysis.footage import analyse_footage, check_pose_fps, resolve_movement
    from movinet_crossfit.core.fileio import write_json_atomic
    from movinet_crossfit.judging import load_standards

    from movinet_crossfit.core.video import probe
    from movinet_crossfit.pose.people import parse_person

    # The user's mistakes stop here, before the model loads and the poses take minutes.
    loaded = load_standards(standards)
    check_movement_given(movement, loaded)
    resolve_movement(loaded, movement, flip_rest)
    check_pose_fps(pose_fps)
    parse_person(person)
    info = probe(video_path)
    check_output(overlay, "--overlay", video_path, ("--json", json_path))
    check_output(json_path, "--json", video_path, ("--overlay", overlay))
    movement_model = None
    if model is not None:
        from movinet_crossfit.analysis.movement import PredictMovement

        movement_model = PredictMovement(model)
    with _progress() as report:
        result = analyse_footage(video_path, info, movement_model=movement_model, movement=movement, standards=loaded,
                                 person=person, pose_fps=pose_fps, progress=report, flip_rest=flip_rest)
        if overlay is not None:
            from movinet_crossfit.analysis.overlay import write_overlay

            report("drawing the overlay", 0.0)
            try:
                write_overlay(video_path, result, overlay, progress=report)
            except OSError as exc:  # the folder changed while the video was analysed
                raise UserError(f"--overlay {overlay}: cannot write there ({exc.strerror or exc}); choose "
                                "another path") from None
    data = result.to_dict()  # once, for the file and for stdout
    if json_path is not None:
        try:
            write_json_atomic(json_path, data)
        except OSError as exc:  # the folder changed while the video was analysed
            raise UserError(f"--json {json_path}: cannot write there ({exc.strerror or exc}); choose another "
                            "path") from None
    if output_format is OutputFormat.json:
        print(json.dumps(data, indent=2))
    else:
        print_summary(result, out)
    for what, where in (("result", json_path), ("overlay", overlay)):
        if where is not None:
            results_console(output_format).print(f"{what} -> [bold]{where}[/bold]", highlight=False)
