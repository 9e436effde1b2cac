"""The upload app in a real browser: Debian's chromium driven by Playwright, the app served on
127.0.0.1 from a thread. Screenshots go to a pytest temp folder and to test-artifacts/.

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


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def served(tiny_export, tmp_path_factory):
    """(url, dash app) with the tiny export and the tiny exported counter, on a free port."""
    from werkzeug.serving import make_server

    from movinet_crossfit.app import create_app

    base = tmp_path_factory.getbasetemp() / "app_support"
    analyser = app_support.analyser(tiny_export[0], app_support.repnet_export(base))
    app = create_app(analyser=analyser, max_upload_mb=UPLOAD_LIMIT_MB,
                     upload_dir=tmp_path_factory.mktemp("uploads"))
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
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


@pytest.fixture
def page(browser, served):
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    page.goto(served[0])
    page.wait_for_selector("#upload")
    yield page
    context.close()


def _upload(page, path: Path) -> None:
    page.set_input_files("#upload input[type=file]", str(path))


def _wait_for_result(page, filename: str) -> None:
    page.wait_for_function(
        "name => { const h = document.querySelector('#result-card h2'); return h && h.textContent.includes(name); }",
        arg=filename, timeout=RESULT_TIMEOUT_MS)
    page.wait_for_selector("#probabilities .main-svg", timeout=30_000)  # plotly draws just after the card


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
    deadline = time.monotonic() + 10
    while list(app.upload_root.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not list(app.upload_root.iterdir()), "an upload was left on disk"


def _record_timing(name: str, seconds: float) -> None:
    path = app_support.ARTIFACTS / "app_timings.json"
    app_support.ARTIFACTS.mkdir(exist_ok=True)
    timings = json.loads(path.read_text()) if path.exists() else {}
    timings[name] = round(seconds, 3)
    path.write_text(json.dumps(timings, indent=2) + "\n")


def test_a_real_clip_shows_the_movement_and_too_short_to_count(page, served, cfmove_clips, shots):
    clip = cfmove_clips / "thruster" / "thruster_1.mp4"
    classes = served[1].analyser.classes
    started = time.perf_counter()
    _upload(page, clip)
    _wait_for_result(page, clip.name)
    seconds = time.perf_counter() - started
    _record_timing("real clip thruster_1.mp4, upload to result (s)", seconds)
    print(f"\nupload to result, real clip: {seconds:.2f} s")
    assert page.inner_text("#movement") in classes
    assert page.inner_text("#count").startswith("too short to count: 23 frames")
    assert "processing time" in page.inner_text("#timing")
    assert page.locator("#probabilities .bars path").count() == len(classes)
    _shot(page, shots, "app_real_clip.png")
    _no_uploads_left(served[1])


def test_a_long_video_shows_the_count_plot_and_the_timeline(page, served, tmp_path_factory, shots):
    video = app_support.countable_video(tmp_path_factory.getbasetemp() / "app_support")
    started = time.perf_counter()
    _upload(page, video)
    page.wait_for_selector("#working", timeout=30_000)  # the progress shows while it runs
    _wait_for_result(page, video.name)
    _record_timing("generated 175-frame video with count, upload to result (s)", time.perf_counter() - started)
    assert re.fullmatch(r"\d+ reps \(count \d+\.\d, score \d\.\d\d, stride \d.*\)", page.inner_text("#count"))
    page.wait_for_selector("#count-plot .main-svg", timeout=30_000)
    page.wait_for_selector("#timeline .main-svg", timeout=30_000)
    assert "timeline windows" in page.inner_text("#video-info")
    assert page.locator("#segments li").count() >= 1
    _shot(page, shots, "app_long_video.png")
    _no_uploads_left(served[1])


def test_bad_uploads_get_clear_messages_and_the_server_keeps_serving(page, served, cfmove_clips, shots, tmp_path):
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
    _no_uploads_left(served[1])


def test_two_pages_uploading_at_once_each_get_their_own_result(browser, served, cfmove_clips, shots, tmp_path):
    from movinet_crossfit.core import video

    # Same content under two names would not prove much; two different clips, renamed copies.
    sources = {"athlete_a.mp4": cfmove_clips / "thruster" / "thruster_7.mp4",
               "athlete_b.mp4": cfmove_clips / "chest-to-bar" / "chest-to-bar_7.mp4"}
    pages = {}
    for name, source in sources.items():
        shutil.copy(source, tmp_path / name)
        context = browser.new_context(viewport={"width": 1100, "height": 900})
        pages[name] = context.new_page()
        pages[name].goto(served[0])
        pages[name].wait_for_selector("#upload")
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
