"""The Colab notebook runs top to bottom in its offline small mode."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def test_finetune_notebook_runs_in_small_mode(tmp_path):
    notebook = nbformat.read(NOTEBOOKS / "finetune_movinet.ipynb", as_version=4)
    parameters = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    parameters.source += f"\nSMALL = True\nWORK = {str(tmp_path / 'work')!r}\n"
    NotebookClient(notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "accuracy" in outputs
    assert (tmp_path / "work" / "export" / "model_fp32.tflite").is_file()
    assert (tmp_path / "work" / "run" / "eval_test" / "metrics.json").is_file()
    assert " -> " in outputs  # the prediction line


def test_count_reps_notebook_runs_in_small_mode(tmp_path):
    notebook = nbformat.read(NOTEBOOKS / "count_reps.ipynb", as_version=4)
    parameters = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    parameters.source += f"\nSMALL = True\nWORK = {str(tmp_path / 'work')!r}\n"
    NotebookClient(notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "true reps" in outputs and "count " in outputs
    assert "TFLite count" in outputs
    assert (tmp_path / "work" / "count.png").stat().st_size > 10_000
    assert (tmp_path / "work" / "export" / "repnet_fp32.tflite").is_file()


def test_analyze_notebook_runs_in_small_mode(tmp_path):
    """Real clips (joined) through poses, count, verdicts, thumbnails, overlay and pace chart."""
    from conftest import SHARED_DATA

    notebook = nbformat.read(NOTEBOOKS / "analyze_footage.ipynb", as_version=4)
    parameters = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    parameters.source += f"\nSMALL = True\nWORK = {str(tmp_path / 'work')!r}\nSHARED_DATA = {str(SHARED_DATA)!r}\n"
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    text = "\n".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in outputs)
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)  # rich's colours in Jupyter's plain-text form
    assert "6 real Games thruster clips joined" in text
    assert "movement: thruster" in text
    reps = [line for line in text.splitlines() if line.startswith("rep ")]
    assert 5 <= len(reps) <= 7 and sum("valid" in line for line in reps) >= len(reps) - 1
    assert sum("image/jpeg" in o.get("data", {}) for o in outputs) == len(reps)  # a deciding frame per rep
    assert (tmp_path / "work" / "overlay.mp4").stat().st_size > 10_000
    assert (tmp_path / "work" / "pace.png").stat().st_size > 5_000
