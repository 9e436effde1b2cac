"""An analysis for people to read: the summary and rep table that ``analyze`` prints and the demo shows."""
from __future__ import annotations

from typing import Optional

from movinet_crossfit.analysis.footage import FootageAnalysis
from movinet_crossfit.analysis.overlay import SOURCE_WORDS


def _cell(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.2f}"


def print_summary(result: FootageAnalysis, out=None) -> None:
    """The result for people: movement and source, counts, notes, one row per rep; on ``out`` (a
    rich ``Console``; default: a new one on stdout)."""
    from rich.console import Console
    from rich.table import Table

    out = out or Console(soft_wrap=True, highlight=False)
    data = result.to_dict()
    movement = data["movement"] or "unknown"
    how = SOURCE_WORDS.get(data["movement_source"] or "", "")
    probability = data["movement_probability"]
    out.print(f"[bold]{data['video']}[/bold]: {data['duration']:.1f} s, {data['frames']} frames at {data['fps']:g} fps")
    out.print(f"movement: [bold]{movement}[/bold]" + (f" ({how}" + (f", {probability:.0%}" if probability is not None
                                                                      else "") + ")" if how else ""))
    guess, model = data["pose_movement"], data["model_movement"]
    if guess and data["movement_source"] != "pose":
        out.print(f"  from poses: {guess['label'] or 'not recognised'} (score {guess['score']:.2f})")
    if model and data["movement_source"] != "model":
        out.print(f"  MoViNet: {model['label']} ({model['probability']:.0%})")
    out.print(f"reps: [bold]{data['count']}[/bold], valid [green]{data['valid_count']}[/green], "
              f"no rep [red]{data['no_rep_count']}[/red], cannot tell {data['unjudged_count']}"
              + (f"; median {data['pace']['median_s']:.2f} s per rep" if data["pace"]["median_s"] else ""))
    for note in data["notes"] + (data["standards"] or {}).get("notes", []):
        out.print(f"  note: {note}")
    if not data["reps"]:
        return
    table = Table("#", "start s", "end s", "verdict", "reason", "decided at s")
    for rep in data["reps"]:
        verdict = {True: "[green]valid[/green]", False: "[red]NO REP[/red]"}.get(rep["valid"], "[yellow]?[/yellow]")
        table.add_row(str(rep["index"]), _cell(rep["start_s"]), _cell(rep["end_s"]), verdict, rep["reason"] or "",
                      _cell(rep["time_s"]))
    out.print(table)
