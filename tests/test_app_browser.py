"""The upload app in a real browser: Debian's chromium driven by Playwright, the app served on
127.0.0.1 from a thread. Screenshots go to a pytest temp folder and to test-artifacts/.

The app is started as `movinet-crossfit app` starts it with no flags (``create_app()``: BlazePose
and the built-in standards, nothing else), and given real footage: four one-rep Games thruster
clips joined into one set. One more server has the flags (--model, --counter, tiny test models).

No browser is ever downloaded: chromium comes from apt (`.ci/run` installs it). Without it these
tests fail, loudly, rather than skip: CI always has it."""
from __future__ import annotations

import json
import re
import shutil
import threading
import time
from pathlib import Path

import pytest

import app_support

CHROMIUM = Path("/usr/bin/chromium")
UPLOAD_LIMIT_MB = 1.0
RESULT_TIMEOUT_MS = 240_000
VERDICTS = {"valid", "NO REP", "can't tell"}


def _serve(app):
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def support_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.getbasetemp() / "app_support"


@pytest.fixture(scope="module")
def served():
    """(url, dash app): `movinet-crossfit app` with no flags."""
    from movinet_crossfit.app import create_app

    app = create_app()
    server = _serve(app)
    yield f"http://127.0.0.1:{server.server_port}/", app
    server.shutdown()
    app.jobs.shutdown()


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    """(url, dash app): no model flags, a 1 MB upload limit (--max-upload-mb 1)."""
    from movinet_crossfit.app import create_app

    app = create_app(max_upload_mb=UPLOAD_LIMIT_MB, upload_dir=tmp_path_factory.mktemp("uploads"))
    server = _serve(app)
    yield f"http://127.0.0.1:{server.server_port}/", app
    server.shutdown()
    app.jobs.shutdown()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: the browser tests need Debian's chromium "
                    "(`apt-get install -y chromium`; .ci/run installs it)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: pip install -e '.[test]'")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield chromium
        chromium.close()


def _open(browser, url: str):
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("#upload")
    return page


def _upload(page, path: Path) -> None:
    page.set_input_files("#upload input[type=file]", str(path))


def _wait_for_result(page, filename: str) -> None:
    page.wait_for_function(
        "name => { const h = document.querySelector('#result-card h2'); return h && h.textContent.includes(name); }",
        arg=filename, timeout=RESULT_TIMEOUT_MS)


def _wait_for_error(page, text: str) -> str:
    page.wait_for_function(
        "t => { const e = document.querySelector('#error'); return e && e.textContent.includes(t); }",
        arg=text, timeout=RESULT_TIMEOUT_MS)
    return page.inner_text("#error")


def _shot(page, shots: Path, name: str) -> Path:
    path = shots / name
    page.screenshot(path=str(path), full_page=True)
    app_support.save_artifact(path)
    return path


def _no_uploads_left(app) -> None:
    """Every upload is removed when its job ends; only overlay videos stay (until the job expires)."""
    def left():
        return [p for p in app.upload_root.rglob("*") if p.is_file() and p.name != "overlay.mp4"]

    deadline = time.monotonic() + 10
    while left() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left(), "an upload was left on disk"


def _record_timing(name: str, seconds: float) -> None:
    path = app_support.ARTIFACTS / "app_timings.json"
    app_support.ARTIFACTS.mkdir(exist_ok=True)
    timings = json.loads(path.read_text()) if path.exists() else {}
    timings[name] = round(seconds, 3)
    path.write_text(json.dumps(timings, indent=2) + "\n")


def _check_reps_overlay_and_pace(page) -> int:
    """The rep table (a verdict and a loaded 160 px thumbnail per rep), the overlay video (its
    source loads: metadata read), the pace chart (a marker per rep). Returns the count."""
    count = int(re.fullmatch(r"(\d+) reps?", page.inner_text("#count")).group(1))
    assert count >= 1
    rows = page.locator("#reps tbody tr")
    assert rows.count() == count
    for i in range(count):
        assert rows.nth(i).locator("strong").inner_text() in VERDICTS
    page.wait_for_function(
        "n => { const imgs = [...document.querySelectorAll('#reps img.thumb')];"
        " return imgs.length === n && imgs.every(i => i.complete && i.naturalWidth === 160); }",
        arg=count, timeout=30_000)
    src = page.get_attribute("#overlay-video", "src")
    assert re.fullmatch(r"/overlay/[\w-]+/overlay\.mp4", src), src
    page.wait_for_function("() => { const v = document.querySelector('#overlay-video');"
                           " return v && v.readyState >= 1 && v.duration > 0; }", timeout=30_000)
    page.wait_for_selector("#pace .main-svg", timeout=30_000)
    page.wait_for_function(
        "n => document.querySelectorAll('#pace .scatterlayer .point').length === n",
        arg=count, timeout=30_000)
    return count


def test_no_flags_a_real_set_shows_the_reps_judged_the_overlay_and_the_pace(browser, served, support_dir,
                                                                           cfmove_clips, shots):
    from movinet_crossfit.core import video

    clip = app_support.real_set(support_dir, cfmove_clips)
    page = _open(browser, served[0])
    started = time.perf_counter()
    _upload(page, clip)
    page.wait_for_selector("#working", timeout=30_000)  # the progress shows while it runs
    _wait_for_result(page, clip.name)
    seconds = time.perf_counter() - started
    _record_timing("no flags, real set of 4 thruster clips, upload to result (s)", seconds)
    print(f"\nupload to result, real set (no flags): {seconds:.2f} s")
    assert page.inner_text("#movement") == "thruster"
    assert "recognised from the poses" in page.inner_text("#movement-source")
    count = _check_reps_overlay_and_pace(page)
    assert page.inner_text("#valid-count").endswith(" valid")
    duration = page.evaluate("() => document.querySelector('#overlay-video').duration")
    assert duration == pytest.approx(video.probe(clip).duration, abs=0.2)
    assert "processing time" in page.inner_text("#timing")
    assert page.locator("#repnet-count").count() == 0 and page.locator("#model-movement").count() == 0
    _shot(page, shots, "app_real_set_no_flags.png")
    print(f"{count} reps: {page.inner_text('#count-line')}")
    page.context.close()
    _no_uploads_left(served[1])


def test_bad_uploads_get_clear_messages_and_the_server_keeps_serving(browser, limited, cfmove_clips, shots,
                                                                     tmp_path):
    page = _open(browser, limited[0])
    notes = tmp_path / "notes.mp4"  # the name claims a video; the content is not one
    notes.write_text("3 rounds: 21 thrusters, 15 pull-ups, 9 burpees\n")
    _upload(page, notes)
    message = _wait_for_error(page, "notes.mp4")
    assert "not a readable video" in message and "upload a video file" in message
    _shot(page, shots, "app_not_a_video.png")

    big = tmp_path / "big.mp4"
    big.write_bytes(b"\0" * int(UPLOAD_LIMIT_MB * 1e6 * 1.5))
    _upload(page, big)
    message = _wait_for_error(page, "big.mp4")
    assert "1.5 MB is over the 1.0 MB upload limit" in message and "--max-upload-mb" in message
    _shot(page, shots, "app_oversize.png")

    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    _upload(page, empty)
    assert "empty" in _wait_for_error(page, "empty.mp4")

    clip = cfmove_clips / "chest-to-bar" / "chest-to-bar_2.mp4"
    _upload(page, clip)
    _wait_for_result(page, clip.name)
    assert page.locator("#error").count() == 0  # the old message is gone
    page.context.close()
    _no_uploads_left(limited[1])


def test_two_pages_uploading_at_once_each_get_their_own_result(browser, served, cfmove_clips, shots, tmp_path):
    from movinet_crossfit.core import video

    # Same content under two names would not prove much; two different clips, renamed copies.
    sources = {"athlete_a.mp4": cfmove_clips / "thruster" / "thruster_7.mp4",
               "athlete_b.mp4": cfmove_clips / "chest-to-bar" / "chest-to-bar_7.mp4"}
    pages = {}
    for name, source in sources.items():
        shutil.copy(source, tmp_path / name)
        pages[name] = _open(browser, served[0])
    for name, page in pages.items():
        _upload(page, tmp_path / name)
    for name, page in pages.items():
        _wait_for_result(page, name)
        other = next(n for n in pages if n != name)
        heading = page.inner_text("#result-card h2")
        assert other not in heading
        frames = video.probe(sources[name]).num_frames
        assert f"{frames} frames" in page.inner_text("#video-info")
    assert video.probe(sources["athlete_a.mp4"]).num_frames != video.probe(sources["athlete_b.mp4"]).num_frames
    _shot(pages["athlete_b.mp4"], shots, "app_concurrent_b.png")
    for page in pages.values():
        page.context.close()
    _no_uploads_left(served[1])


def test_with_model_and_counter_the_model_names_it_and_repnet_counts_too(browser, tiny_export, support_dir,
                                                                          cfmove_clips, shots, tmp_path_factory):
    from movinet_crossfit.app import create_app

    analyser = app_support.analyser(tiny_export[0], app_support.repnet_export(support_dir))
    app = create_app(analyser=analyser, upload_dir=tmp_path_factory.mktemp("uploads_flags"))
    server = _serve(app)
    try:
        clip = app_support.real_set(support_dir, cfmove_clips)  # 4 clips: long enough for RepNet
        page = _open(browser, f"http://127.0.0.1:{server.server_port}/")
        assert "movement model:" in page.inner_text("#about") and "RepNet" in page.inner_text("#about")
        started = time.perf_counter()
        _upload(page, clip)
        _wait_for_result(page, clip.name)
        _record_timing("--model --counter, real set, upload to result (s)", time.perf_counter() - started)
        assert page.inner_text("#movement") in analyser.classes or page.inner_text("#movement") in \
            analyser.standards.names()
        assert "from the movement model" in page.inner_text("#movement-source")
        assert page.inner_text("#pose-guess").startswith("the poses say: ")
        page.wait_for_selector("#model-movement .main-svg", timeout=30_000)
        assert re.fullmatch(r"\d+ reps \(count \d+\.\d, score \d\.\d\d, stride \d.*\)",
                            page.inner_text("#repnet-count"))
        page.wait_for_selector("#repnet-plot .main-svg", timeout=30_000)
        _check_reps_overlay_and_pace(page)
        _shot(page, shots, "app_real_set_model_counter.png")
        page.context.close()
        _no_uploads_left(app)
    finally:
        server.shutdown()
        app.jobs.shutdown()
