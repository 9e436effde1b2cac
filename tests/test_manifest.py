"""manifest.py: clip ids and labels are safe file names and every label is a class, so no manifest
can make `split` write outside its output folder."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.video import ffmpeg_executable
from movinet_crossfit.data.clips import split_clips
from movinet_crossfit.data.manifest import ClipEntry, Manifest

CLIP = dict(id="c1", video="v.mp4", label="thruster", start_frame=0, end_frame=5, group="v")


def _write(path: Path, clips: list[dict], classes=("thruster",)) -> Path:
    path.write_text(json.dumps({"version": 1, "classes": list(classes), "clips": clips}))
    return path


@pytest.mark.parametrize("field, value, why", [
    ("id", "../../escape", "path separator"),
    ("id", "a/b", "path separator"),
    ("id", "a\\b", "path separator"),
    ("id", "..", "starts with '.'"),
    ("id", ".hidden", "starts with '.'"),
    ("id", "", "is empty"),
    ("id", "a\x00b", "control character"),
    ("id", "two\nlines", "control character"),
    ("id", "x" * 201, "longer than 200 bytes"),
    ("label", "../thruster", "path separator"),
    ("label", "..", "starts with '.'"),
])
def test_unsafe_ids_and_labels_are_refused(tmp_path, field, value, why):
    classes = ["thruster", value] if field == "label" else ["thruster"]
    path = _write(tmp_path / "manifest.json", [CLIP, {**CLIP, "id": "c2", field: value}], classes)
    with pytest.raises(UserError) as error:
        Manifest.load(path)
    message = str(error.value)
    assert message.startswith(f"{path}: not a valid manifest: ")
    assert why in message
    assert "\n" not in message
    # The clip is named: by its id, or (when the id is the problem) by the id itself.
    assert ("clip c2: label" in message) if field == "label" else (repr(value)[:20] in message or why == "is empty")


def test_label_outside_the_classes_is_refused(tmp_path):
    path = _write(tmp_path / "manifest.json", [CLIP, {**CLIP, "id": "c2", "label": "burpee"}])
    with pytest.raises(UserError, match=r"clip c2: label 'burpee' is not one of the classes \['thruster'\]; "
                                        "fix the label or add it to classes"):
        Manifest.load(path)


def test_unsafe_class_name_is_refused(tmp_path):
    with pytest.raises(UserError, match="class '../x' holds a path separator"):
        Manifest.load(_write(tmp_path / "manifest.json", [CLIP], ["thruster", "../x"]))


def test_ordinary_names_are_accepted():
    names = ["chest-to-bar", "Power Clean 2", "überkopf", "a..b", "x" * 200]
    manifest = Manifest(classes=names, clips=[ClipEntry(**{**CLIP, "id": n, "label": n}) for n in names])
    assert [c.clip_filename() for c in manifest.clips] == [f"{n}/{n}.mp4" for n in names]


@pytest.mark.parametrize("field", ["id", "label"])
def test_split_never_writes_outside_its_output_folder(tmp_path, field):
    video = tmp_path / "v.mp4"
    import subprocess

    subprocess.run([ffmpeg_executable(), "-y", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc=s=64x48:r=25:d=1", "-pix_fmt", "yuv420p", str(video)], check=True)
    hostile = {**CLIP, field: "../../escaped"}
    classes = ["thruster", "../../escaped"] if field == "label" else ["thruster"]
    manifest = _write(tmp_path / "manifest.json", [hostile], classes)
    out = tmp_path / "deep" / "out"
    with pytest.raises(UserError, match="not a valid manifest"):
        split_clips(manifest, out)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["manifest.json", "v.mp4"]
