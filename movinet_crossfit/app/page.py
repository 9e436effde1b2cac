"""The result card: movement, count, the overlay video, the rep table with thumbnails, the pace.

Everything shown is read from the result's JSON form (``Analysis.to_dict()``: the Lambda handler's
body plus RepNet's count), so the page never says what the JSON does not. ``rep_rows`` is the table
as data (tested without Dash); ``result_view`` lays the card out.
"""
from __future__ import annotations

import base64

from dash import dcc, html

from movinet_crossfit.app import figures
from movinet_crossfit.app.analysis import Analysis

# Kind of verdict -> the words in the table (the CSS class is "rep-" + kind).
VERDICT_WORDS = {"valid": "valid", "no-rep": "NO REP", "unknown": "can't tell"}
SOURCE_WORDS = {"pose": "recognised from the poses", "model": "from the movement model", "user": "as chosen"}
# The analysis' notes and reasons speak to the command line; on the page the movement has its box.
PAGE_WORDS = (("pass --movement NAME", "choose the movement above and upload again"),)


def for_the_page(text: str) -> str:
    for cli, page in PAGE_WORDS:
        text = text.replace(cli, page)
    return text


def thumbnail_url(jpeg: bytes) -> str:
    """A JPEG as a ``data:`` URL (the thumbnails travel inside the page: no route, nothing on disk)."""
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def verdict_kind(valid: bool | None) -> str:
    return "valid" if valid is True else "no-rep" if valid is False else "unknown"


def _why(rep: dict) -> str:
    """Why a rep is a no-rep or can't be told: its reason, then the deciding check's detail."""
    reason = rep.get("reason") or ""
    wanted = False if rep.get("valid") is False else None
    check = next((c for c in rep.get("checks") or [] if c.get("passed") is wanted), None)
    detail = (check or {}).get("detail") or ""
    if check and not reason:
        reason = check.get("text") or check.get("id") or ""
    if detail and detail not in reason:
        return f"{reason}: {detail}" if reason else detail
    return reason


def rep_rows(result: dict, thumbnails: dict[int, bytes] | None = None) -> list[dict]:
    """One row per rep: ``index``, ``time`` ("1.2-2.0 s"), ``kind`` (valid / no-rep / unknown),
    ``verdict`` (valid / NO REP / can't tell), ``why`` ("" for a valid rep), the deciding ``frame``
    and its ``frame_time``, and its ``thumbnail`` as a data URL (None without one)."""
    thumbnails = thumbnails or {}
    rows = []
    for rep in result.get("reps") or []:
        kind = verdict_kind(rep.get("valid"))
        jpeg = thumbnails.get(rep["index"])
        rows.append({"index": rep["index"], "time": f"{rep['start_s']:.1f}-{rep['end_s']:.1f} s", "kind": kind,
                     "verdict": VERDICT_WORDS[kind], "why": "" if kind == "valid" else for_the_page(_why(rep)),
                     "frame": rep.get("frame"), "frame_time": rep.get("time_s"),
                     "thumbnail": thumbnail_url(jpeg) if jpeg else None})
    return rows


def rep_table(rows: list[dict], prefix: str = "") -> html.Table:
    """The rep table; ``prefix`` goes before its ids (the camera's card beside an upload's)."""
    head = html.Thead(html.Tr([html.Th(t) for t in ("#", "time", "verdict", "deciding frame")]))
    body = []
    for row in rows:
        verdict = [html.Strong(row["verdict"])] + ([html.Br(), html.Span(row["why"], className="why")]
                                                    if row["why"] else [])
        caption = f"frame {row['frame']}" + (f" ({row['frame_time']:.2f} s)" if row["frame_time"] is not None else "")
        picture = ([html.Img(src=row["thumbnail"], className="thumb", alt=f"rep {row['index']}: {caption}")]
                   if row["thumbnail"] else []) + [html.Div(caption, className="muted small")]
        body.append(html.Tr(className=f"rep rep-{row['kind']}", id=f"{prefix}rep-{row['index']}", children=[
            html.Td(str(row["index"])), html.Td(row["time"]), html.Td(verdict), html.Td(picture)]))
    return html.Table(id=f"{prefix}reps", className="reps", children=[head, html.Tbody(body)])


def movement_line(result: dict, prefix: str = "") -> list:
    """``thruster (recognised from the poses, score 0.81)``, or why there is no movement."""
    movement, source = result.get("movement"), result.get("movement_source")
    if not movement:
        return [html.Span("movement not recognised", className="movement", id=f"{prefix}movement")]
    how = SOURCE_WORDS.get(source, source or "")
    p = result.get("movement_probability")
    if p is not None:
        how += f", {p:.0%}" if source == "model" else f", score {p:.2f}"
    return [html.Span(movement, className="movement", id=f"{prefix}movement"),
            html.Span(f" ({how})", id=f"{prefix}movement-source", className="muted")]


def pose_guess_line(result: dict) -> list:
    """What the poses say, beside a model's label or the user's choice (nothing to add otherwise)."""
    pose = result.get("pose_movement")
    if result.get("movement_source") not in ("model", "user") or pose is None:
        return []
    said = f"{pose['label']} (score {pose['score']:.2f})" if pose.get("label") else "no movement they know"
    return [html.P(f"the poses say: {said}", id="pose-guess", className="muted")]


def count_line(result: dict, prefix: str = "") -> html.P:
    n = result["count"]
    return html.P(className="count", id=f"{prefix}count-line", children=[
        html.Span(f"{n} rep{'s' if n != 1 else ''}", id=f"{prefix}count"), ": ",
        html.Span(f"{result['valid_count']} valid", id=f"{prefix}valid-count", className="rep-valid"), ", ",
        html.Span(f"{result['no_rep_count']} no rep{'s' if result['no_rep_count'] != 1 else ''}",
                  id=f"{prefix}no-rep-count", className="rep-no-rep"), ", ",
        html.Span(f"{result['unjudged_count']} can't tell", id=f"{prefix}unjudged-count", className="rep-unknown")])


def _graph(graph_id: str, figure) -> dcc.Graph:
    return dcc.Graph(id=graph_id, figure=figure, config={"displayModeBar": False, "responsive": True})


def _standards(result: dict) -> list:
    standard = result.get("standards")
    if not standard:
        return []
    checks = "; ".join(f"{c['id']}: {c['text']}" for c in standard.get("checks") or [])
    return [html.P(className="muted small", id="standards", children=(
        f"judged against the {standard.get('display') or standard['movement']} standards: {checks}"))]


def result_view(analysis: Analysis, waited: float, overlay_url: str | None = None) -> html.Div:
    """The result card of ``analysis``; ``overlay_url``: where the page fetches its overlay video."""
    result = analysis.to_dict()
    v = analysis.info
    children = [
        html.H2([f"{analysis.name}: ", *movement_line(result)]),
        *pose_guess_line(result),
        count_line(result),
        html.P(className="muted", id="video-info", children=(
            f"{v.width}x{v.height}, {v.num_frames} frames, {v.duration:.2f} s at {v.fps:g} fps; poses at "
            f"{result['pose_fps']:g}/s, the athlete seen in {result['poses_found']:.0%} of them")),
        *_standards(result),
    ]
    if result["notes"]:
        children.append(html.Ul(id="notes", className="notes", children=[html.Li(for_the_page(n))
                                                                             for n in result["notes"]]))
    if overlay_url and analysis.overlay is not None:
        children += [html.H3("Overlay"), html.Video(id="overlay-video", src=overlay_url, controls=True, muted=True,
                                                    preload="auto", className="overlay")]
    if result["reps"]:
        children += [html.H3("Repetitions"), rep_table(rep_rows(result, analysis.thumbnails)),
                     _graph("pace", figures.pace_figure(result))]
    if result.get("model_movement"):
        children.append(_graph("model-movement", figures.model_figure(result["model_movement"])))
    if "repnet" in result:
        children.append(html.H3("RepNet's count"))
        if analysis.repnet is not None:
            c = analysis.repnet
            note = f"; {c.note}" if c.note else ""
            children += [html.P(className="count", id="repnet-count", children=(
                f"{c.rounded} reps (count {c.count:.1f}, score {c.score:.2f}, stride {c.stride}{note})")),
                _graph("repnet-plot", figures.count_figure(c))]
        else:
            children.append(html.P(className="count", id="repnet-count", children=analysis.repnet_message))
    parts = ", ".join(f"{k} {t:.2f} s" for k, t in analysis.timings.items() if k != "total")
    children.append(html.P(className="muted", id="timing", children=(
        f"processing time {analysis.timings['total']:.2f} s ({parts}); {waited:.2f} s from upload to result "
        "on the server, queue included")))
    return html.Div(className="card", id="result-card", children=children)


def live_view(final: dict) -> html.Div:
    """The camera session's result card (``live.CameraSession.stop()``'s answer): the final count,
    the movement and the rep table, ids prefixed ``live-`` (an upload's card may be on the page too)."""
    result, status = final["result"], final["status"]
    end = next((e for e in final.get("events") or [] if e.get("kind") == "end"), {})
    children = [
        html.H2(["Camera: ", *movement_line(result, "live-final-")]),
        count_line(result, "live-final-"),
        html.P(className="muted", id="live-final-info", children=(
            f"{result['frames']} frames ({result['duration']:.1f} s at {result['fps']:g} frames/s, "
            f"{result['width']}x{result['height']}); {status['dropped'] + status['missing']} dropped; poses at "
            f"{result['pose_fps']:g}/s, the athlete seen in {result['poses_found']:.0%} of them")),
    ]
    if end.get("corrected"):
        from movinet_crossfit.analysis.live import corrections_said

        children.append(html.P(className="notes", id="live-final-corrected", children=corrections_said(end)))
    changed = end.get("verdicts_changed") or []
    if changed:
        from movinet_crossfit.analysis.live import listed

        children.append(html.P(className="notes", id="live-final-verdicts-changed", children=(
            f"the whole set changed the verdict shown live of rep{'s' if len(changed) > 1 else ''} "
            f"{listed(changed)} (the table has the final verdicts)")))
    if result["notes"]:
        children.append(html.Ul(className="notes", id="live-final-notes",
                                children=[html.Li(for_the_page(n)) for n in result["notes"]]))
    if result["reps"]:
        children += [html.H3("Repetitions"), rep_table(rep_rows(result), "live-final-"),
                     _graph("live-final-timeline", figures.live_figure(result, final.get("events") or []))]
    return html.Div(className="card", id="live-result-card", children=children)
