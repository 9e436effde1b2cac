"""The live command: live (the running movement, rep count and each rep's verdict from a camera, a
stream or a file; at the end, ``analyze``'s result for what was seen)."""
from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import sys
from pathlib import Path
from typing import Iterator, Optional

import typer

from movinet_crossfit.analysis.footage import DEFAULT_POSE_FPS
from movinet_crossfit.analysis.online import FINDING_RHYTHM
from movinet_crossfit.cli._common import (OutputFormat, app, check_movement_given, check_output, console, out,
                                         results_console)
from movinet_crossfit.core.errors import UserError


def _panel(state: dict, source: str):
    """What the terminal shows while it runs."""
    from rich.panel import Panel
    from rich.table import Table

    from movinet_crossfit.analysis.live_pacing import BEHIND_SHOW_S

    grid = Table.grid(padding=(0, 2))
    # The values' column is as wide as its longest usual text, so the panel keeps its width while
    # the pace comes and goes (rich fits a panel to its content).
    grid.add_column()
    grid.add_column(min_width=len(FINDING_RHYTHM))
    probability = state["probability"]
    grid.add_row("movement", f"[bold]{state['movement'] or '...'}[/bold]"
                 + (f" ({probability:.0%})" if probability is not None else ""))
    grid.add_row("reps", f"[bold]{state['count']}[/bold]")
    pace = state.get("pace_s")
    grid.add_row("pace", f"{pace:.1f} s per rep" if pace else f"[dim]{FINDING_RHYTHM}[/dim]")
    rep = state["last_rep"]
    if rep:
        verdict = {True: "[green]valid[/green]", False: "[red]NO REP[/red]"}.get(rep["valid"], "[yellow]?[/yellow]")
        grid.add_row("last rep", f"#{rep['rep']} at {rep['t_s']:.1f} s: {verdict} {rep['reason'] or ''}")
    grid.add_row("time", f"{state['t_s']:.1f} s, {state['frames']} frames")
    behind = state.get("behind_s") or 0.0
    if behind >= BEHIND_SHOW_S:  # the source outruns the analysis: the count comes this much late
        hint = state.get("speed_hint")
        grid.add_row("[yellow]behind[/yellow]", f"[yellow]{behind:.1f} s[/yellow]" + (f" ({hint})" if hint else ""))
    return Panel(grid, title=f"live: {source}", expand=False)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a service manager, ``docker stop``, ``timeout``) ends the stream as Ctrl-C does:
    what was seen is analysed and written, not lost."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _display(source: str) -> Iterator:
    """``show(state)`` drawing a rich Live panel on stderr when it is a terminal; silent otherwise."""
    from movinet_crossfit.core.progress import progress_enabled

    if not progress_enabled():
        yield lambda state: None
        return
    from rich.live import Live

    with Live(console=console, refresh_per_second=8, transient=False) as live:
        yield lambda state: live.update(_panel(state, source))


@app.command()
def live(
    source: str = typer.Argument(..., metavar="SOURCE", help="a camera index (0), a stream URL (rtsp://, http://) "
                                 "or a video file"),
    model: Optional[Path] = typer.Option(None, "--model", help="a stream MoViNet export (`export --stream`): the "
                                         "running movement from it (else from the poses)"),
    movement: Optional[str] = typer.Option(None, "--movement", help="the movement, if you know it: judges every rep "
                                           "against it and cuts the reps where it rests (squat, push-up, pull-up, "
                                           "...: counted, not judged)"),
    flip_rest: bool = typer.Option(False, "--flip-rest", help="with a --movement counted, not judged: cut its reps "
                                   "where it looks mid-rep instead of where it rests (as analyze)"),
    standards: Optional[Path] = typer.Option(None, "--standards", help="a standards YAML adding movements or "
                                             "replacing built-in ones (docs/judging.md)"),
    person: str = typer.Option("auto", "--person", help="whose reps: auto, largest, N or first (as analyze)"),
    pose_fps: float = typer.Option(DEFAULT_POSE_FPS, "--pose-fps", help="poses per second (as analyze)"),
    realtime: bool = typer.Option(False, "--realtime", help="play a file at its own frame rate (default: as fast "
                                  "as it can)"),
    json_lines: bool = typer.Option(False, "--json-lines", help="one JSON object per event on stdout (each rep as "
                                    "it ends, movement changes, a final \"end\") instead of the result table"),
    json_path: Optional[Path] = typer.Option(None, "--json", help="write the final result as JSON (analyze's, "
                                             "with the live events)"),
    output_format: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table | json: the final "
                                               "result on stdout (without --json-lines)"),
    plot: Optional[Path] = typer.Option(None, "--plot", help="a picture of the session (.png, .svg or .pdf): each "
                                        "rep's end and when the running count reached it, over the movement"),
) -> None:
    """The running movement, rep count and each rep's verdict from a camera, a stream or a file (Ctrl-C stops)."""
    from movinet_crossfit.analysis.footage import resolve_movement
    from movinet_crossfit.analysis.live import StopLive, run_live
    from movinet_crossfit.core.fileio import write_json_atomic
    from movinet_crossfit.judging import load_standards

    loaded = load_standards(standards)
    check_movement_given(movement, loaded)
    resolve_movement(loaded, movement, flip_rest)
    # Refused before the camera opens: a live session cannot be run again to get its result.
    check_output(json_path, "--json", Path(source), ("--plot", plot))  # also refuses --plot at the same path
    check_output(plot, "--plot", Path(source))
    if plot is not None and importlib.util.find_spec("matplotlib") is None:  # a session cannot be re-run
        from movinet_crossfit.core.extras import missing_extra_message

        raise UserError(f"--plot: {missing_extra_message(ModuleNotFoundError(name='matplotlib'))}")

    closed = False

    def emit(event) -> None:
        nonlocal closed
        if json_lines and not closed:
            try:
                print(json.dumps(event.to_dict()), flush=True)
            except BrokenPipeError:
                # The reader went away (`| head -3`): the stream ends as on Ctrl-C, so --json is
                # still written; stdout goes nowhere from here (nor at exit).
                closed = True
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                with contextlib.suppress(SystemExit, OSError):  # stderr closed too (`2>&1 | head`): rich exits
                    console.print("stdout was closed: the stream stops here", highlight=False)
                raise StopLive from None

    with _sigterm_as_interrupt(), _display(source) as show:
        result = run_live(source, model=model, movement=movement, standards=loaded, person=person,
                          pose_fps=pose_fps, realtime=realtime, on_event=emit, on_state=show, flip_rest=flip_rest)
    if result.interrupted:
        console.print(f"stopped after {result.analysis.info.duration:.1f} s of video; the result of what was seen:",
                      highlight=False)
    data = result.to_dict()
    if json_path is not None:
        try:
            write_json_atomic(json_path, data)
        except OSError as exc:
            raise UserError(f"--json {json_path}: cannot write there ({exc.strerror or exc}); choose another "
                            "path") from None
    if not json_lines:
        if output_format is OutputFormat.json:
            print(json.dumps(data, indent=2))
        else:
            from movinet_crossfit.analysis.report import print_summary

            print_summary(result.analysis, out)
            end = result.events[-1].to_dict()
            if end.get("corrected"):
                from movinet_crossfit.analysis.live import corrections_said

                out.print(f"  note: {corrections_said(end)}", highlight=False)
    said = results_console(OutputFormat.json if json_lines else output_format)
    if json_path is not None:  # said before the picture is drawn: a failed picture does not hide it
        said.print(f"result -> [bold]{json_path}[/bold]", highlight=False)
    if plot is not None:
        from movinet_crossfit.analysis.live_plot import plot_live

        try:
            plot_live(result, plot, Path(source).name)
        except OSError as exc:
            raise UserError(f"--plot {plot}: cannot write there ({exc.strerror or exc}); choose another "
                            "path") from None
        said.print(f"plot -> [bold]{plot}[/bold]", highlight=False)
