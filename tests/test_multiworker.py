"""`train --strategy multi-worker | tpu`: TF_CONFIG's one-line errors, and two workers on 127.0.0.1
reaching one process's weights."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from movinet_crossfit.core.errors import UserError
from movinet_crossfit.movinet.config import STRATEGIES, check_strategy, read_tf_config

TWO_WORKERS = {"worker": ["127.0.0.1:2222", "127.0.0.1:2223"]}


@pytest.mark.parametrize("tf_config, names", [
    (None, "TF_CONFIG is not set"),
    ('{"cluster": {"worker": ["127.0.0.1:2222"]}, "task": ', "not valid JSON"),
    (json.dumps({"task": {"type": "worker", "index": 0}}), '"cluster"'),
    (json.dumps({"cluster": {"worker": ["hostname-without-port"]}, "task": {"type": "worker", "index": 0}}),
     '"host:port"'),
    (json.dumps({"cluster": TWO_WORKERS}), '"task"'),
    (json.dumps({"cluster": TWO_WORKERS, "task": {"type": "ps", "index": 0}}), '"type"'),
    (json.dumps({"cluster": TWO_WORKERS, "task": {"type": "worker", "index": 2}}), "(0..1)"),
])
def test_a_missing_or_malformed_tf_config_is_one_line_naming_the_fix(tf_config, names):
    environ = {} if tf_config is None else {"TF_CONFIG": tf_config}
    with pytest.raises(UserError) as raised:
        check_strategy("multi-worker", environ)
    message = str(raised.value)
    assert names in message and "\n" not in message
    assert "TF_CONFIG='{\"cluster\": {\"worker\": [" in message and "docs/scale.md" in message  # the fix


def test_tf_config_names_this_worker_and_the_chief():
    def task(cluster, kind, index):
        return read_tf_config({"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": kind, "index": index}})})

    assert task(TWO_WORKERS, "worker", 0).is_chief
    second = task(TWO_WORKERS, "worker", 1)
    assert (second.type, second.index, second.workers, second.is_chief) == ("worker", 1, 2, False)
    with_chief = {"chief": ["127.0.0.1:2221"], **TWO_WORKERS}
    assert task(with_chief, "chief", 0).is_chief and not task(with_chief, "worker", 0).is_chief
    assert task(with_chief, "worker", 0).workers == 3


def test_strategy_names_and_the_old_spelling(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": TWO_WORKERS, "task": {"type": "worker", "index": 1}}))
    assert STRATEGIES == ("default", "mirrored", "multi-worker", "tpu")
    assert check_strategy("multiworker") == "multi-worker"
    with pytest.raises(UserError, match="choose one of default, mirrored, multi-worker, tpu"):
        check_strategy("horovod")


def test_train_multi_worker_without_tf_config_stops_before_the_run_folder(tmp_path, monkeypatch, capsys):
    from movinet_crossfit.cli import main

    monkeypatch.delenv("TF_CONFIG", raising=False)
    (tmp_path / "records").mkdir()
    with pytest.raises(SystemExit) as ended:
        main(["train", "--records", str(tmp_path / "records"), "--out", str(tmp_path / "run"), "--from-scratch",
              "--strategy", "multi-worker"])
    assert ended.value.code == 2
    error = " ".join(capsys.readouterr().err.split())
    assert "TF_CONFIG is not set" in error and "Traceback" not in error
    assert not (tmp_path / "run").exists()


def test_tpu_strategy_without_a_tpu_is_one_line():
    import tensorflow as tf

    from movinet_crossfit.movinet.train import get_strategy

    if tf.config.list_logical_devices("TPU"):
        pytest.skip("this machine has a TPU")
    with pytest.raises(UserError) as raised:
        get_strategy("tpu")
    message = str(raised.value)
    assert message.startswith("--strategy tpu: no TPU found") and "TPU_NAME" in message and "\n" not in message


def _free_ports(count: int) -> list[int]:
    """Ports the OS says are free now (bound to port 0, then released)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _weights(checkpoint_prefix) -> dict:
    import tensorflow as tf

    reader = tf.train.load_checkpoint(str(checkpoint_prefix))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if name.startswith("model/") and name.endswith("VARIABLE_VALUE")}


@pytest.mark.slow
def test_two_workers_reach_the_weights_of_one_process_with_the_same_global_batch(generated_pipeline, tmp_path):
    """Two `train --strategy multi-worker` processes (TF_CONFIG each, free ports on 127.0.0.1) against
    the same training in this one process (the library call the command makes), all at once, each
    building its own a0 from the same seed.

    Why they can agree to float rounding: this is the CPU path, head-only on cached backbone
    features (no batch norm trains, dropout set to 0). The feature cache is in memory, so every
    worker holds all of it in the same seeded shuffle order and the DATA shard policy gives worker i
    the i-th half of each global batch: the two halves' mean gradient, all-reduced, is the one
    process's gradient over the same 6 clips. 18 train clips / global batch 6 = 3 steps."""
    from movinet_crossfit.movinet.train import TrainConfig, train

    records = generated_pipeline["records"].out_dir
    options = {"dropout_rate": 0.0, "early_stopping_patience": 0}
    (tmp_path / "run.yaml").write_text(json.dumps(options))  # JSON is YAML
    command = [sys.executable, "-m", "movinet_crossfit", "train", "--records", str(records), "--config",
               str(tmp_path / "run.yaml"), "--model-id", "a0", "--from-scratch", "--epochs", "1", "--batch-size", "6"]
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    processes = []
    try:
        for index in range(2):
            (tmp_path / f"tmp{index}").mkdir()
            environ = dict(os.environ, TMPDIR=str(tmp_path / f"tmp{index}"),  # where a non-chief's checkpoints go
                           TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
            with open(tmp_path / f"worker{index}.log", "w") as log:  # a file: a full pipe would stall a worker
                processes.append(subprocess.Popen(
                    [*command, "--out", str(tmp_path / "cluster"), "--strategy", "multi-worker"], env=environ,
                    stdout=log, stderr=subprocess.STDOUT))
        train(TrainConfig(records=str(records), out=str(tmp_path / "one"), model_id="a0", from_scratch=True,
                          epochs=1, batch_size=6, **options))
        for process in processes:
            process.wait(timeout=900)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    outputs = [(tmp_path / f"worker{index}.log").read_text() for index in range(2)]
    for process, output in zip(processes, outputs):
        assert process.returncode == 0, output[-3000:]

    cluster_run, one_run = tmp_path / "cluster", tmp_path / "one"
    summary = json.loads((cluster_run / "train_summary.json").read_text())
    assert summary["strategy"] == {"name": "multi-worker", "replicas": 2, "global_batch": 6, "per_replica_batch": 3,
                                   "workers": 2, "writes_run_folder": True, "task": "worker 0"}
    assert "worker 1 of 2" in " ".join(outputs[1].split())  # the second worker says the chief wrote the run

    trained, reference = _weights(cluster_run / "final" / "ckpt"), _weights(one_run / "final" / "ckpt")
    assert trained.keys() == reference.keys() and len(trained) > 100
    for name, value in reference.items():
        np.testing.assert_allclose(trained[name], value, rtol=1e-4, atol=1e-6, err_msg=name)
    biases = [name for name in reference if "_classifier/_conv/bias" in name]
    assert biases and np.abs(reference[biases[0]]).max() > 1e-4  # it trained: the head's bias starts at 0
    ours, theirs = (json.loads((run / "train_summary.json").read_text())["history"]["head"]
                    for run in (cluster_run, one_run))
    np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=1e-4)

    # The run folder is the chief's alone, as a one-process run leaves it; worker 1's temp folder is gone.
    assert sorted(p.name for p in cluster_run.iterdir()) == sorted(p.name for p in one_run.iterdir())
    assert not list(cluster_run.rglob("workertemp*")) and not (cluster_run / "backup").exists()
    assert not list((tmp_path / "tmp1").iterdir())
