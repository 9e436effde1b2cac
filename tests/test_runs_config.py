"""The config loader shared by the training commands, and the run-folder contract (core.config, core.runs)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from movinet_crossfit.core.config import load_config
from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.runs import CONFIG_FILE, find_checkpoint, read_run_config, write_config
from movinet_crossfit.keypoints.train import PoseTrainConfig
from movinet_crossfit.movinet.train import TrainConfig
from movinet_crossfit.repnet.train import CounterTrainConfig

CONFIGS = (TrainConfig, CounterTrainConfig, PoseTrainConfig)


def _yaml(tmp_path, text: str):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return path


# --- load_config ----------------------------------------------------------------------------------

def test_a_missing_config_file_is_named(tmp_path):
    with pytest.raises(UserError, match=r"nope\.yaml: no such config file"):
        load_config(TrainConfig, tmp_path / "nope.yaml")


def test_a_yaml_syntax_error_names_the_file_and_line(tmp_path):
    path = _yaml(tmp_path, "model_id: a0\nepochs: 3\nlearning_rate: [0.1\nseed: 0\n")
    with pytest.raises(UserError) as error:
        load_config(TrainConfig, path)
    message = str(error.value)
    assert message.startswith(f"{path}: not valid YAML at line ") and "\n" not in message
    assert int(message.split("at line ")[1].split(",")[0]) in (3, 4)  # where PyYAML notices the open list


@pytest.mark.parametrize("config_cls", CONFIGS)
def test_an_unknown_key_is_named_with_the_valid_ones(config_cls, tmp_path):
    path = _yaml(tmp_path, "learning_rat: 0.1\n")
    with pytest.raises(UserError) as error:
        load_config(config_cls, path)
    message = str(error.value)
    assert message.startswith(f"{path}: unknown {config_cls.command} option(s) 'learning_rat'; valid: ")
    assert "learning_rate" in message.split("valid: ")[1] and "seed" in message.split("valid: ")[1]


def test_an_unknown_nested_key_lists_the_nested_options(tmp_path):
    path = _yaml(tmp_path, "augmentation:\n  revers: 0.5\n")
    with pytest.raises(UserError, match=r"unknown train-poses option\(s\) 'augmentation.revers'; valid: .*reverse"):
        load_config(PoseTrainConfig, path)


@pytest.mark.parametrize("config_cls", CONFIGS)
def test_a_value_of_the_wrong_type_names_the_key_and_the_type(config_cls, tmp_path):
    key = "steps" if config_cls is CounterTrainConfig else "epochs"
    path = _yaml(tmp_path, f"{key}: ten\n")
    with pytest.raises(UserError, match=rf"run\.yaml: {key}: expected an integer, got 'ten'"):
        load_config(config_cls, path)
    with pytest.raises(UserError, match=r"learning_rate: expected a number, got 'ten'"):
        load_config(config_cls, _yaml(tmp_path, 'learning_rate: "ten"\n'))


def test_wrong_types_are_user_errors_in_code_too():
    with pytest.raises(UserError, match=r"^epochs: expected an integer, got 'ten'"):
        TrainConfig(epochs="ten")
    with pytest.raises(UserError, match="checkpoint: expected a string or null, got 3"):
        TrainConfig(checkpoint=3)


@pytest.mark.parametrize("config_cls", CONFIGS)
def test_scientific_notation_reads_as_a_float(config_cls, tmp_path):
    path = _yaml(tmp_path, "learning_rate: 1e-3\n")
    assert yaml.safe_load(path.read_text())["learning_rate"] == "1e-3"  # PyYAML (YAML 1.1) reads a string
    config = load_config(config_cls, path)
    assert isinstance(config.learning_rate, float) and config.learning_rate == 0.001


def test_overrides_beat_the_file_and_none_is_not_given(tmp_path):
    path = _yaml(tmp_path, "epochs: 3\nbatch_size: 4\nmodel_id: a0\n")
    config = load_config(TrainConfig, path, {"epochs": 7, "batch_size": None, "out": "runs/x"})
    assert (config.epochs, config.batch_size, config.model_id, config.out) == (7, 4, "a0", "runs/x")
    with pytest.raises(UserError) as error:  # a bad override is not blamed on the file
        load_config(TrainConfig, _yaml(tmp_path, "epochs: ten\n"), {"seed": "q"})
    assert str(error.value) == (f"{tmp_path / 'run.yaml'}: epochs: expected an integer, got 'ten'; "
                                "seed: expected an integer, got 'q'; fix the value")
    assert TrainConfig.from_yaml(None, epochs=2, seed=None).epochs == 2  # no file: options over the defaults
    assert TrainConfig.from_yaml(None, seed=None).seed == TrainConfig().seed


def test_a_file_that_is_not_a_mapping_is_refused(tmp_path):
    with pytest.raises(UserError, match="expected a mapping of option: value"):
        load_config(TrainConfig, _yaml(tmp_path, "- epochs\n- 3\n"))
    assert load_config(TrainConfig, _yaml(tmp_path, "")) == TrainConfig()  # an empty file: the defaults


# --- the run folder -------------------------------------------------------------------------------

def test_a_runs_config_yaml_reads_back_as_a_config(tmp_path):
    """What each family writes into its run is a valid ``--config`` for the next run."""
    counter = CounterTrainConfig.small_cpu(learning_rate=1e-3, from_scratch=True)
    (tmp_path / "counter").mkdir()
    write_config(tmp_path / "counter", counter, sources=["a.mp4"])
    assert read_run_config(tmp_path / "counter")["sources"] == ["a.mp4"]
    again = CounterTrainConfig.from_yaml(tmp_path / "counter" / CONFIG_FILE)
    assert again.to_dict() == counter.to_dict() and again.learning_rate == 1e-3

    poses = PoseTrainConfig(data="corpus", out="runs/p", width=16)
    (tmp_path / "poses").mkdir()
    write_config(tmp_path / "poses", poses, model={"arch": "tcn"}, classes=["a", "b"])
    assert read_run_config(tmp_path / "poses")["classes"] == ["a", "b"]
    assert PoseTrainConfig.from_yaml(tmp_path / "poses" / CONFIG_FILE, width=8).to_dict() == {**poses.to_dict(),
                                                                                             "width": 8}


def test_read_run_config_names_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(UserError, match="not a training run"):
        read_run_config(tmp_path)
    (tmp_path / CONFIG_FILE).write_text("model_id: [a0\n")
    with pytest.raises(UserError, match=rf"{CONFIG_FILE}: not valid YAML at line 2"):
        read_run_config(tmp_path)


def _module():
    import tensorflow as tf

    module = tf.Module()
    module.v = tf.Variable([1.0, 2.0])
    return tf.train.Checkpoint(model=module)


def test_find_checkpoint_reads_save_and_write_checkpoints(tmp_path):
    import tensorflow as tf

    saved = tmp_path / "saved"
    manager = tf.train.CheckpointManager(_module(), str(saved), max_to_keep=2, checkpoint_name="ckpt")
    manager.save(checkpoint_number=1)
    manager.save(checkpoint_number=2)
    assert find_checkpoint(saved) == str(saved / "ckpt-2")  # the state file names the latest of two

    written = tmp_path / "written"
    _module().write(str(written / "weights"))  # write(): no state file, one *.index
    assert not (written / "checkpoint").exists()
    assert find_checkpoint(written) == str(written / "weights")
    prefix = str(written / "weights")
    assert find_checkpoint(written / "weights") == find_checkpoint(written / "weights.index") == prefix

    _module().write(str(written / "other"))
    with pytest.raises(UserError, match="holds 2 checkpoints and no 'checkpoint' file"):
        find_checkpoint(written)
    nested = tmp_path / "archive"
    _module().write(str(nested / "movinet_a0_base" / "ckpt-1"))
    with pytest.raises(UserError, match="archive: no TensorFlow checkpoint here"):
        find_checkpoint(nested)
    assert find_checkpoint(nested, recursive=True) == str(nested / "movinet_a0_base" / "ckpt-1")


def test_find_checkpoint_says_what_was_expected(tmp_path):
    class WeightsError(UserError):
        pass

    (tmp_path / "empty").mkdir()
    with pytest.raises(WeightsError, match=r"empty: no RepNet checkpoint here \(no 'checkpoint' file, no \*\.index\); "
                                           r"get ckpt-70"):
        find_checkpoint(tmp_path / "empty", expected="RepNet checkpoint", hint="get ckpt-70", error=WeightsError)
    with pytest.raises(UserError, match=r"nowhere: no such checkpoint \(looked for .*nowhere\.index"):
        find_checkpoint(tmp_path / "nowhere")


def test_run_records_resolves_the_runs_own_folder(tmp_path, monkeypatch):
    """evaluate and export find the run's records by themselves: as written, else beside the run;
    a folder that is gone is a clear error unless the caller can do without (export without int8)."""
    from movinet_crossfit.core.runs import run_records

    run = tmp_path / "runs" / "a"
    run.mkdir(parents=True)
    (tmp_path / "records").mkdir()
    monkeypatch.chdir(tmp_path)
    (run / "config.yaml").write_text("records: records\n")
    assert run_records(run) == Path("records")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # not relative to the working folder any more: to the run
    (run / "records").mkdir()
    assert run_records(run) == run / "records"
    (run / "records").rmdir()
    with pytest.raises(UserError, match=r"its records folder records is gone \(no records nor .*records\); "
                                        "pass --records"):
        run_records(run)
    assert run_records(run, missing_ok=True) is None
    explicit = tmp_path / "records"
    assert run_records(run, explicit) == explicit
    with pytest.raises(UserError, match="no such records folder"):
        run_records(run, tmp_path / "nope")
    (run / "config.yaml").write_text("model_id: a0\n")
    assert run_records(run) is None


def test_a_run_writes_its_paths_relative_to_itself(tmp_path, monkeypatch):
    """config.yaml names the records (and the other paths) relative to the run, so the run can move;
    read back as --config, the paths are relative to the file, so they point where they did."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data" / "tfrecords").mkdir(parents=True)
    config = TrainConfig(records="data/tfrecords", out="runs/a", archive=str(tmp_path / "w" / "movinet_a0_base.tar.gz"),
                         hub="https://tfhub.dev/tensorflow/movinet/a0/base/kinetics-600/classification/3")
    (tmp_path / "runs" / "a").mkdir(parents=True)
    write_config(tmp_path / "runs" / "a", config)
    written = read_run_config(tmp_path / "runs" / "a")
    assert (written["records"], written["out"], written["archive"]) == (
        "../../data/tfrecords", ".", "../../w/movinet_a0_base.tar.gz")
    assert written["hub"] == config.hub and written["checkpoint"] is None  # URLs and nulls as they were
    assert written["paths_relative_to"] == str(tmp_path / "runs" / "a")

    monkeypatch.chdir(tmp_path / "data")  # another working folder: the paths still mean the same files
    again = TrainConfig.from_yaml(tmp_path / "runs" / "a" / CONFIG_FILE)
    assert again.records == str(tmp_path / "data" / "tfrecords") and again.out == str(tmp_path / "runs" / "a")
    assert again.archive == str(tmp_path / "w" / "movinet_a0_base.tar.gz") and again.hub == config.hub


def test_a_moved_run_finds_its_records(tmp_path):
    """Moved with its records, the run finds the moved copy; moved alone, the records where they were."""
    import shutil

    from movinet_crossfit.core.runs import run_records

    (tmp_path / "a" / "runs" / "r").mkdir(parents=True)
    (tmp_path / "a" / "tfrecords").mkdir()
    write_config(tmp_path / "a" / "runs" / "r", TrainConfig(records=str(tmp_path / "a" / "tfrecords")))
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    assert run_records(tmp_path / "b" / "runs" / "r") == tmp_path / "b" / "tfrecords"
    shutil.move(tmp_path / "b" / "runs", tmp_path / "runs")  # the run alone, somewhere else
    assert run_records(tmp_path / "runs" / "r") == tmp_path / "a" / "tfrecords"
    shutil.rmtree(tmp_path / "a")
    with pytest.raises(UserError, match=r"its records folder \.\./\.\./tfrecords is gone .*pass --records DIR"):
        run_records(tmp_path / "runs" / "r")
