"""Source lists and yt-dlp downloads, for real: a local HTTP server on 127.0.0.1 serves real mp4
clips to yt-dlp's generic extractor (success, rerun, 404, truncated body, non-video bodies, an
interrupted transfer that resumes, a range cut), and the real shared lists are parsed."""
from __future__ import annotations

import csv
import http.server
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import interruptible_children
from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.progress import BatchReport
from movinet_crossfit.data.download import ARCHIVE_NAME, STAGING_DIR, DownloadOptions, download_sources, source_status
from movinet_crossfit.data.metadata import metadata_group, read_metadata
from movinet_crossfit.data.sources import parse_countix, parse_csv, parse_url_list, read_sources, youtube_id

ROOT = Path(__file__).resolve().parents[1]
FAST = dict(retries=1, backoff=0.0, workers=2, socket_timeout=10)


# --------------------------------------------------------------------------- the local server

class _Handler(http.server.BaseHTTPRequestHandler):
    """Routes: /v/NAME (the file, Range requests honoured), /yt/ID (a YouTube id mapped to a clip),
    /truncated/NAME (full Content-Length, half the bytes), /flaky/NAME (a transfer from byte 0 is
    cut off halfway; a ranged one completes), /page/NAME (HTML), /fake/NAME (text sent as
    video/mp4); anything else 404."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_HEAD(self):
        self._answer(body=False)

    def do_GET(self):
        self._answer(body=True)

    def _answer(self, body: bool):
        server = self.server
        route, _, name = self.path.lstrip("/").partition("/")
        rng = self.headers.get("Range")
        with server.lock:
            server.requests.append((self.path, rng))
        data = server.files.get(name) if route in ("v", "truncated", "flaky") else server.ids.get(name)
        if route == "page":
            return self._send(200, b"<html><body><p>No video here.</p></body></html>", "text/html", body)
        if route == "fake":
            return self._send(200, b"this is plain text, not an mp4\n" * 40, "video/mp4", body)
        if data is None or route not in ("v", "yt", "truncated", "flaky"):
            return self._send(404, b"not found", "text/plain", body)
        start = int(rng.split("=", 1)[1].split("-", 1)[0]) if rng and route != "truncated" else 0
        if start >= len(data):
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(data)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        if not body:
            return
        if route == "truncated" or (route == "flaky" and start == 0):
            self.wfile.write(data[start:][: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(data[start:])

    def _send(self, status, payload, content_type, body):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if body:
            self.wfile.write(payload)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # clients that hang up on a cut-off body are the point of some routes


@pytest.fixture
def server(cfmove_clips):
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.lock = threading.Lock()
    httpd.requests = []
    httpd.files = {p.name: p.read_bytes() for p in sorted(cfmove_clips.glob("*/*.mp4"))}
    httpd.ids = {}
    httpd.base = f"http://127.0.0.1:{httpd.server_port}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _list(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _by_name(report):
    return {r.name: r for r in report.records}


# --------------------------------------------------------------------------- parsing the real lists

def test_url_list_real_cfmove(cfmove_clips):
    path = cfmove_clips.parent / "urls.txt"
    report = BatchReport("sources")
    items = parse_url_list(path, report=report)
    assert len(items) == 24 and not report.failed
    assert items[0].name == "4-5ZJahGp0o" and items[0].title == "Friendly Fran - Online Semifinals Event 1"
    assert items[0].url == "https://www.youtube.com/watch?v=4-5ZJahGp0o"
    assert items[7].title == "Men's Event 1, Chandler Smith, 4:30"
    # A title names only the URL right after it.
    assert items[8].name == "SJaKd3nlZR0" and items[8].title is None
    assert sum(i.title is not None for i in items) == 8
    assert items[-1].name == "2KFfIQxfr8I"   # the file's last line has no newline
    local = parse_url_list(path, url_template="http://127.0.0.1:9/yt/{id}")
    assert local[0].url == "http://127.0.0.1:9/yt/4-5ZJahGp0o" and local[0].youtube_id == "4-5ZJahGp0o"


def test_one_countix_reader_for_downloads_and_counting(tmp_path):
    from movinet_crossfit.data.countix import read_countix
    from movinet_crossfit.data.counting_manifest import from_countix

    path = tmp_path / "countix_val.csv"   # a BOM and spaces in the header, as spreadsheets write them
    path.write_text("\ufeffvideo_id, class ,kinetics_start,kinetics_end,repetition_start,repetition_end,count\n"
                    "0CnQ-_e5Sl8,squat,1,11,2,5,3\n0CnQ-_e5Sl8,squat,x,11,2,5,3\n", encoding="utf-8")
    table = read_countix(path)
    assert table.split == "val" and [r.line for r in table.rows] == [2, 3] and table.rows[0].label == "squat"
    assert table.rows[0].kinetics() == (1.0, 11.0) and table.rows[0].repetitions() == (2.0, 5.0, 3.0)
    with pytest.raises(ValueError):
        table.rows[1].kinetics()
    report = BatchReport("sources")
    items = parse_countix(path, report=report)
    assert items[0].countix == {"split": "val", "csv": path.name, "rows": [2], "classes": ["squat"]}
    assert [item for item, _ in report.failed] == ["countix_val.csv:3"]
    videos = tmp_path / "videos"
    videos.mkdir()
    counting = BatchReport("counting")
    assert from_countix(path, videos, counting) == []
    assert [item for item, _ in counting.skipped] == ["countix_val.csv:2 0CnQ-_e5Sl8", "countix_val.csv:3 0CnQ-_e5Sl8"]
    bad = tmp_path / "ids.csv"
    bad.write_text("video_id,count\nabc,3\n")
    for read in (parse_countix, lambda csv_path: from_countix(csv_path, videos)):
        with pytest.raises(UserError, match="ids.csv: not a Countix CSV, missing column.s. kinetics_start"):
            read(bad)


def test_countix_real_csvs(countix_dir):
    train = parse_countix(countix_dir / "countix_train.csv", url_template="http://127.0.0.1:9/yt/{id}")
    with open(countix_dir / "countix_train.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(train) == len({r["video_id"] for r in rows}) == 4011
    assert sum(len(i.countix["rows"]) for i in train) == len(rows) == 4503
    first = train[0]
    assert first.name == "APkos_Kqa3M" and first.url == "http://127.0.0.1:9/yt/APkos_Kqa3M"
    assert first.time_ranges == ((17.0, 27.0),) and first.cut_range == (17.0, 27.0)
    val = {i.name: i for i in parse_countix(countix_dir / "countix_val.csv")}
    assert val["AIF4DmpgrtI"].time_ranges == ((0.0, 10.0),) and val["AIF4DmpgrtI"].cut_range == (0.0, 10.0)
    # A clip that starts early is cut from 0 (times stay the CSV's; counting/manifest reads them right).
    early = [i for i in train if i.cut_range and 0 < i.time_ranges[0][0] <= 10.5]
    assert early and all(i.cut_range == (0.0, i.time_ranges[0][1]) for i in early)
    assert first.countix == {"split": "train", "csv": "countix_train.csv", "rows": [2],
                             "classes": ["battle rope training"]}
    several = {i.name: i for i in train}["u45qCLuwa7I"]   # rows naming two Kinetics clips: whole video
    assert len(several.time_ranges) == 2 and several.cut_range is None
    assert sum(i.cut_range is None for i in train) == 34
    # The test split has no class column; parse_csv recognises a Countix CSV by its columns.
    test = parse_csv(countix_dir / "countix_test.csv")
    assert len(test) == 2395 and test[0].countix["classes"] == []
    assert test[0].url == "https://www.youtube.com/watch?v=0CnQ-_e5Sl8" and len(test[0].countix["rows"]) == 2


def test_csv_with_url_or_video_id_columns(tmp_path, cfmove_clips):
    urls = [line for line in (cfmove_clips.parent / "urls.txt").read_text().splitlines() if line.startswith("http")]
    by_url = tmp_path / "by_url.csv"
    with open(by_url, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["url", "title", "athlete", "start_time", "end_time"])
        writer.writerow([urls[0], "Fran", "Tia-Clair Toomey", "10", "25.5"])
        writer.writerow([urls[1], "", "", "", ""])
        writer.writerow(["not a url", "", "", "", ""])
        writer.writerow(["http://127.0.0.1:9/clips/snatch%20one.mp4", "", "", "30", "20"])
    report = BatchReport("sources")
    items = parse_csv(by_url, report=report)
    assert [i.name for i in items] == ["4-5ZJahGp0o", "sB1zLjcy6Fc"]
    assert items[0].athlete == "Tia-Clair Toomey" and items[0].time_ranges == ((10.0, 25.5),)
    assert items[1].title is None and items[1].time_ranges == ()
    reasons = dict(report.failed)
    assert "not a URL" in reasons["by_url.csv:4"] and "start_time < end_time" in reasons["by_url.csv:5"]

    by_id = _list(tmp_path / "by_id.csv", ["video_id,title", "4-5ZJahGp0o,a", "tooshort,b"])
    report = BatchReport("sources")
    assert [i.url for i in parse_csv(by_id, report=report)] == ["https://www.youtube.com/watch?v=4-5ZJahGp0o"]
    assert "11-character" in dict(report.failed)["by_id.csv:3"]
    with pytest.raises(UserError, match="no 'url' or 'video_id' column"):
        parse_csv(_list(tmp_path / "other.csv", ["name,link", "a,b"]))


def test_read_sources_merges_and_names(tmp_path):
    assert youtube_id("https://youtu.be/4-5ZJahGp0o?t=3") == "4-5ZJahGp0o"
    assert youtube_id("https://www.youtube.com/shorts/4-5ZJahGp0o") == "4-5ZJahGp0o"
    assert youtube_id("https://www.youtube.com/watch?list=PL1&v=4-5ZJahGp0o&t=10s") == "4-5ZJahGp0o"
    assert youtube_id("https://example.com/watch?v=4-5ZJahGp0o12") is None
    one = _list(tmp_path / "a.txt", ["https://www.youtube.com/watch?v=4-5ZJahGp0o&list=PLx",
                                     "http://127.0.0.1:9/a/clip.mp4", "http://127.0.0.1:9/b/clip.mp4"])
    report = BatchReport("sources")
    items = read_sources([one, "https://youtu.be/4-5ZJahGp0o"], report=report)
    assert [i.name for i in items][:2] == ["4-5ZJahGp0o", "clip"] and len(items) == 3
    assert items[0].url == "https://www.youtube.com/watch?v=4-5ZJahGp0o"   # playlist parameter dropped
    assert items[2].name.startswith("clip-") and "would both be clip.mp4" in report.warnings[0]
    with pytest.raises(UserError, match="source list not found"):
        read_sources([tmp_path / "nope.txt"])
    with pytest.raises(UserError, match="no URLs"):
        read_sources([_list(tmp_path / "empty.txt", ["# only a title"])])


# --------------------------------------------------------------------------- downloading for real

def test_download_then_rerun_is_a_noop(server, tmp_path, cfmove_clips):
    sources = _list(tmp_path / "urls.txt", ["#Men's Event 1, Somebody, 4:22", f"{server.base}/v/thruster_1.mp4",
                                            f"{server.base}/v/chest-to-bar_2.mp4"])
    out = tmp_path / "videos"
    report = download_sources([sources], out, DownloadOptions(**FAST))
    assert report.counts() == {"downloaded": 2, "present": 0, "unavailable": 0, "failed": 0}, report.records
    assert report.succeeded
    for name, label in (("thruster_1", "thruster"), ("chest-to-bar_2", "chest-to-bar")):
        video = out / f"{name}.mp4"
        assert video.read_bytes() == (cfmove_clips / label / f"{name}.mp4").read_bytes()
        meta = read_metadata(video)
        assert meta["source_url"] == f"{server.base}/v/{name}.mp4" and meta["size_bytes"] == video.stat().st_size
        assert meta["fps"] == pytest.approx(26.36, abs=0.01) and 0.5 < meta["duration"] < 2.0
        assert meta["width"] == 854 and meta["height"] == 480 and meta["extractor"] == "Generic"
        assert meta["archive_id"] == f"generic {name}" and meta["time_range"] is None and meta["cut"] is None
    assert read_metadata(out / "thruster_1.mp4")["list_title"] == "Men's Event 1, Somebody, 4:22"
    assert sorted((out / ARCHIVE_NAME).read_text().splitlines()) == ["generic chest-to-bar_2", "generic thruster_1"]
    assert not list((out / STAGING_DIR).iterdir())   # nothing left staged
    rows = list(csv.DictReader(open(out / "download-report.csv")))
    assert [r["status"] for r in rows] == ["downloaded", "downloaded"]
    assert json.loads((out / "download-report.json").read_text())["counts"]["downloaded"] == 2

    requests_before = len(server.requests)
    again = download_sources([sources], out, DownloadOptions(**FAST))
    assert len(server.requests) == requests_before   # not one request: the archive and files answer
    assert [(r.status, r.reason) for r in again.records] == [("present", "in the download archive")] * 2
    assert again.succeeded


def test_each_failure_lands_in_the_report(server, tmp_path):
    base = server.base
    sources = _list(tmp_path / "urls.txt", [f"{base}/v/missing.mp4", f"{base}/truncated/thruster_2.mp4",
                                            f"{base}/page/index.html", f"{base}/fake/notvideo.mp4",
                                            "this line is not a url", f"{base}/v/thruster_3.mp4"])
    out = tmp_path / "videos"
    report = download_sources([sources], out, DownloadOptions(**FAST))
    records = _by_name(report)
    assert records["missing"].status == "unavailable" and "HTTP 404" in records["missing"].reason
    assert records["thruster_2"].status == "failed" and "transfer incomplete" in records["thruster_2"].reason
    assert "more expected" in records["thruster_2"].reason
    assert records["index"].status == "failed" and "no video at this URL" in records["index"].reason
    assert records["notvideo"].status == "failed" and "not a playable video" in records["notvideo"].reason
    assert records["urls.txt:5"].status == "failed" and "not a URL" in records["urls.txt:5"].reason
    assert records["thruster_3"].status == "downloaded"
    assert report.counts() == {"downloaded": 1, "present": 0, "unavailable": 1, "failed": 4}
    assert report.succeeded   # something was done
    assert sorted(p.name for p in out.glob("*.mp4")) == ["thruster_3.mp4"]
    assert not (out / STAGING_DIR / "notvideo.mp4").exists()   # a non-video is discarded, not kept
    saved = {r["name"]: r for r in json.loads((out / "download-report.json").read_text())["items"]}
    assert saved["missing"]["status"] == "unavailable" and saved["index"]["reason"] == records["index"].reason

    nothing = download_sources([f"{base}/v/gone.mp4", f"{base}/page/x.html"], tmp_path / "v2", DownloadOptions(**FAST))
    assert not nothing.succeeded and nothing.counts()["unavailable"] == 1


def test_interrupted_transfer_resumes_in_the_same_run(server, tmp_path, cfmove_clips):
    data = server.files["chest-to-bar_3.mp4"]
    report = download_sources([f"{server.base}/flaky/chest-to-bar_3.mp4"], tmp_path / "videos",
                              DownloadOptions(**FAST))
    assert [r.status for r in report.records] == ["downloaded"], report.records
    assert (tmp_path / "videos" / "chest-to-bar_3.mp4").read_bytes() == data
    ranged = [rng for path, rng in server.requests if path.startswith("/flaky/") and rng]
    # The retry asked only for what was missing (what yt-dlp had written of the half it was sent).
    assert len(ranged) == 1 and 0 < int(ranged[0][len("bytes="):-1]) <= len(data) // 2


def test_interrupted_run_resumes_on_the_next_run(server, tmp_path, cfmove_clips):
    data = server.files["thruster_4.mp4"]
    out = tmp_path / "videos"
    url = f"{server.base}/flaky/thruster_4.mp4"
    first = download_sources([url], out, DownloadOptions(**{**FAST, "retries": 0}))
    assert first.records[0].status == "failed" and "rerun resumes" in first.records[0].reason
    assert not first.succeeded and not (out / "thruster_4.mp4").exists()
    part = out / STAGING_DIR / "thruster_4.mp4.part"
    kept = part.stat().st_size
    assert 0 < kept <= len(data) // 2
    server.requests.clear()
    second = download_sources([url], out, DownloadOptions(**{**FAST, "retries": 0}))
    assert second.records[0].status == "downloaded", second.records
    assert (out / "thruster_4.mp4").read_bytes() == data
    assert [rng for _, rng in server.requests if rng] == [f"bytes={kept}-"]   # resumed, not restarted
    assert not part.exists()


def test_countix_ranges_cut_then_counting_manifest(server, tmp_path, countix_dir):
    from movinet_crossfit.data.counting_manifest import from_countix

    ids = ["0CnQ-_e5Sl8", "0dZohHw4j_U", "0rvWeDPPQ3M", "1KKLVWl9FPE"]   # real Countix ids, served from real clips
    server.ids = {ids[0]: server.files["chest-to-bar_2.mp4"], ids[1]: server.files["thruster_6.mp4"],
                  ids[3]: server.files["thruster_5.mp4"]}
    csv_path = _list(tmp_path / "countix_mini.csv", [
        "video_id,kinetics_start,kinetics_end,repetition_start,repetition_end,count",
        f"{ids[0]},0.9,1.2,1.0,1.2,1",      # one Kinetics clip: cut to 0.9-1.2 s
        f"{ids[1]},0.0,0.4,0.1,0.4,1",      # two Kinetics clips: the whole video
        f"{ids[1]},0.5,0.9,0.5,0.8,1",
        f"{ids[2]},1,2,1,2,1",              # not served: unavailable
        f"{ids[3]},0.2,0.8,0.3,0.7,2"])     # a clip that starts early: cut from 0 to 0.8 s
    out = tmp_path / "videos"
    options = DownloadOptions(**FAST, url_template=server.base + "/yt/{id}")
    report = download_sources([csv_path], out, options)
    records = _by_name(report)
    assert [records[i].status for i in ids] == ["downloaded", "downloaded", "unavailable", "downloaded"], \
        report.records
    cut = read_metadata(out / f"{ids[0]}.mp4")
    assert cut["cut"] is True and cut["time_range"] == [0.9, 1.2] and cut["file_starts_at"] == 0.9
    assert cut["duration"] == pytest.approx(0.3, abs=0.08)
    assert cut["source_url"] == f"{server.base}/yt/{ids[0]}" and cut["countix"]["rows"] == [2]
    whole = read_metadata(out / f"{ids[1]}.mp4")
    assert whole["cut"] is None and whole["time_ranges"] == [[0.0, 0.4], [0.5, 0.9]]
    assert "2 ranges wanted" in records[ids[1]].reason
    assert (out / f"{ids[1]}.mp4").read_bytes() == server.files["thruster_6.mp4"]
    early = read_metadata(out / f"{ids[3]}.mp4")
    assert early["cut"] is True and early["time_range"] == [0.0, 0.8] and early["file_starts_at"] == 0.0
    assert early["duration"] == pytest.approx(0.8, abs=0.08)

    # What is there, and what the counting manifest (counting/manifest.py) makes of it.
    status = source_status([csv_path], out, url_template=options.url_template)
    assert [i.name for i in status.present] == [ids[0], ids[1], ids[3]] and status.countix_rows == (4, 5)
    assert status.missing[0][0].name == ids[2] and status.missing[0][1].startswith("unavailable: HTTP 404")
    missing = status.write_missing(tmp_path / "missing.txt")
    assert [i.name for i in parse_url_list(missing, url_template=options.url_template)] == [ids[2]]
    counting = BatchReport("counting")
    items = {item.id.split("-")[2]: item for item in from_countix(csv_path, out, counting)}
    assert sorted(items) == ["00002", "00003", "00004", "00006"] and not counting.failed
    assert [name for name, _ in counting.skipped] == [f"countix_mini.csv:5 {ids[2]}"]
    # Each file's times read right: the k0 cut shifted by 0.9 s, the others as in the CSV.
    for line, (start, end) in {"00002": (0.1, 0.3), "00003": (0.1, 0.4), "00006": (0.3, 0.7)}.items():
        assert (items[line].start_time, items[line].end_time) == pytest.approx((start, end)), line


def test_uploader_becomes_the_manifest_group(tmp_path, cfmove_clips):
    from movinet_crossfit.data.annotations import write_manifest
    from movinet_crossfit.core.fileio import write_json_atomic
    from movinet_crossfit.core.video import probe

    videos = tmp_path / "videos"
    videos.mkdir()
    annotations = tmp_path / "ann"
    annotations.mkdir()
    for name, meta in (("a.mp4", {"uploader": "CrossFit Games"}), ("b.mp4", {"uploader": "X", "athlete": "Jane"}),
                       ("c.mp4", None)):
        source = cfmove_clips / "thruster" / "thruster_1.mp4"
        (videos / name).write_bytes(source.read_bytes())
        if meta:
            write_json_atomic(videos / name.replace(".mp4", ".info.json"), meta)
        frames = probe(source).num_frames
        (annotations / f"{name}.json").write_text(json.dumps({
            "videoName": name, "framesCount": frames, "tags": [{"name": "thruster", "frameRange": [0, 5]}]}))
    assert metadata_group(videos / "a.mp4") == "CrossFit Games" and metadata_group(videos / "c.mp4") is None
    manifest, _ = write_manifest([annotations], tmp_path / "manifest.json", videos_dir=videos)
    groups = {Path(c.video).name: c.group for c in manifest.clips}
    assert groups == {"a.mp4": "CrossFit Games", "b.mp4": "Jane", "c.mp4": "c.mp4"}


def _tool(*args):
    return subprocess.run([sys.executable, str(ROOT / "tools" / "download.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def test_cli_exit_status(server, tmp_path):
    ok = subprocess.run([sys.executable, "-m", "movinet_crossfit.cli", "download", f"{server.base}/v/thruster_7.mp4",
                         "-o", tmp_path / "videos", "--retries", "0", "--backoff", "0"],
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "1 downloaded" in ok.stderr and (tmp_path / "videos" / "thruster_7.mp4").is_file()
    failed = _tool(f"{server.base}/v/nothing.mp4", "-o", tmp_path / "videos", "--retries", "0")
    assert failed.returncode == 1 and "1 unavailable" in failed.stderr
    bad = _tool(tmp_path / "nope.txt", "-o", tmp_path / "videos")
    assert bad.returncode == 2 and "nope.txt: source list not found" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    status = _tool(f"{server.base}/v/thruster_7.mp4", f"{server.base}/v/nothing.mp4", "-o", tmp_path / "videos",
                   "--status")
    assert status.returncode == 0 and "1 of 2 videos present" in status.stdout + status.stderr


def test_ctrl_c_keeps_the_part_file_and_the_rerun_resumes(server, tmp_path):
    import signal
    import time

    data, out = server.files["thruster_8.mp4"], tmp_path / "videos"
    url = f"{server.base}/v/thruster_8.mp4"
    with interruptible_children():  # Ctrl-C reaches the tool however the suite was started
        proc = subprocess.Popen([sys.executable, str(ROOT / "tools" / "download.py"), url,
                                 f"{server.base}/v/thruster_9.mp4", "-o", out, "--workers", "1", "--rate-limit", "8K"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    part = out / STAGING_DIR / "thruster_8.mp4.part"
    deadline = time.monotonic() + 60
    while not (part.is_file() and part.stat().st_size > 0) and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "rerun to resume" in stderr
    kept = part.stat().st_size
    assert 0 < kept < len(data) and not (out / "thruster_8.mp4").exists()
    rows = {r["name"]: r for r in csv.DictReader(open(out / "download-report.csv"))}
    assert "interrupted" in rows["thruster_8"]["reason"]
    assert rows["thruster_9"]["reason"] == "interrupted before it started"
    server.requests.clear()
    again = download_sources([url], out, DownloadOptions(**FAST))
    assert again.records[0].status == "downloaded" and (out / "thruster_8.mp4").read_bytes() == data
    assert [rng for _, rng in server.requests if rng] == [f"bytes={kept}-"]


def test_sources_module_imports_no_ytdlp_or_tensorflow():
    code = ("import sys, movinet_crossfit.data.sources, movinet_crossfit.data.download, "
            "movinet_crossfit.data.annotations; "
            "sys.exit(bool({'yt_dlp', 'tensorflow'} & set(sys.modules)))")
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0
