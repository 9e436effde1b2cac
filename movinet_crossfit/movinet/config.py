"""``train``'s options (YAML, CLI and Python share them): MoViNet fine-tuning. No TensorFlow here."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Mapping, Optional

from pydantic import Field

from movinet_crossfit.core.config import TrainingConfig
from movinet_crossfit.core.errors import UserError

STRATEGIES = ("default", "mirrored", "multi-worker", "tpu")
# The old spelling, still read from the command line and from the config.yaml of older runs.
STRATEGY_ALIASES = {"multiworker": "multi-worker"}
FINE_TUNE = ("none", "last", "all")


class TrainConfig(TrainingConfig):
    command = "train"
    path_fields = ("records", "out", "checkpoint", "archive", "hub", "backbone_weights")

    records: str = "tfrecords"
    out: str = "runs/default"
    # "movinet": MoViNet by model_id; movinet-a0 / movinet-a2 set model_id; or one of the lecture's
    # classic designs (movinet/architectures.py), trained whole from the start (docs/architectures.md).
    arch: str = "movinet"
    # With a classic 2-D-backbone arch: MobileNetV3Small (no top) weights, a Keras .h5 file or URL.
    backbone_weights: Optional[str] = None
    model_id: str = "a2"
    # Frames and size come from the records' dataset_info.json; setting them must agree with it.
    num_frames: Optional[int] = None
    size: Optional[int] = None
    batch_size: int = 8
    epochs: int = 10
    learning_rate: float = 0.01
    label_smoothing: float = 0.1
    # "rmsprop": the MoViNet fine-tuning recipe (rho 0.9, momentum 0.9, epsilon 1.0, clipnorm 1).
    # "adam": faster from random weights, where the recipe's epsilon 1.0 crawls.
    optimizer: str = "rmsprop"
    dropout_rate: float = 0.5
    fine_tune: str = "none"  # none | last | all
    fine_tune_blocks: int = 1  # with fine_tune=last: how many of the last backbone blocks
    fine_tune_epochs: int = 0
    fine_tune_learning_rate: float = 0.001
    checkpoint: Optional[str] = None  # Kinetics-600 checkpoint dir or prefix
    archive: Optional[str] = None  # official movinet_<id>_base.tar.gz (causal: movinet_<id>_stream.tar.gz)
    hub: Optional[str] = None  # TF Hub handle or local hub folder
    pretrained: Optional[str] = None  # a model id: its official archive, downloaded and cached (pretrained.py)
    from_scratch: bool = False
    # Causal convolutions and cumulative pooling (Model Garden's stream layout, a0-a2): the run
    # exports a stream model (`export RUN --stream`) that classifies one frame at a time. Its
    # pretrained weights are the Kinetics-600 *stream* checkpoints (movinet_<id>_stream.tar.gz).
    causal: bool = False
    cache_features: Optional[bool] = None  # None: on when no GPU is visible
    augment: bool = True
    strategy: str = "default"
    mixed_precision: bool = False
    early_stopping_patience: int = 5
    # False: best/ holds the last epoch's weights and no epoch is chosen on the validation split
    # (an honest test score when the validation split is the test split).
    select_best: bool = True
    # None: 'val' when the records have it, else 'test' -- with a loud warning, since the epoch
    # chosen and the early stop are then decided on the clips the test score is reported on.
    validation_split: Optional[str] = None
    backup_every_steps: Optional[int] = None  # BackupAndRestore frequency; None: every epoch
    seed: int = 0
    # Op determinism (tf.config.experimental.enable_op_determinism) for this run: with the same
    # seed, records and machine, the same weights; slower on some GPU ops.
    deterministic: bool = False
    classes: list = Field(default_factory=list)  # filled from the records

    def validate(self) -> None:
        from movinet_crossfit.movinet.model import check_model_id

        from movinet_crossfit.movinet.architectures import MOVINET_ALIASES, check_arch, is_classic

        model_id_given = "model_id" in self.model_fields_set  # before the assignment below adds it
        self.arch = check_arch(self.arch)
        if self.arch in MOVINET_ALIASES:
            alias = MOVINET_ALIASES[self.arch]
            if model_id_given and check_model_id(self.model_id) != alias:
                raise UserError(f"--arch {self.arch} builds MoViNet-{alias}, but --model-id is {self.model_id}; "
                                "give one of them")
            self.model_id, model_id_given = alias, True
        if is_classic(self.arch):
            self._validate_classic()
            return
        if self.backbone_weights:
            raise UserError(f"--backbone-weights applies to the classic 2-D architectures, not --arch {self.arch}; "
                            "MoViNet takes --pretrained / --archive / --checkpoint / --hub")
        self.model_id = check_model_id(self.model_id)
        self.strategy = check_strategy(self.strategy)
        if self.optimizer not in ("rmsprop", "adam"):
            raise UserError(f"optimizer {self.optimizer!r}: choose rmsprop or adam")
        if self.fine_tune not in FINE_TUNE:
            raise UserError(f"--fine-tune {self.fine_tune!r}: choose one of {', '.join(FINE_TUNE)}")
        sources = [n for n in ("checkpoint", "archive", "hub", "pretrained") if getattr(self, n)]
        if len(sources) > 1:
            raise UserError(f"give one pretrained source, not {' and '.join('--' + n for n in sources)}")
        if self.pretrained:
            self._check_pretrained_id(model_id_given)
        if self.causal:
            from movinet_crossfit.movinet.model import stream_layout

            stream_layout(self.model_id)  # a0-a2 only: a UserError naming the choices
        if not sources and not self.from_scratch and self.causal:
            from movinet_crossfit.movinet.model import checkpoint_url

            raise UserError(f"no pretrained weights given: pass --pretrained {self.model_id} (downloads and caches "
                            f"the stream checkpoint {checkpoint_url(self.model_id, causal=True)}) or --archive "
                            f"movinet_{self.model_id}_stream.tar.gz; to train from random weights, say --from-scratch")
        if not sources and not self.from_scratch:
            from movinet_crossfit.movinet.model import checkpoint_url, hub_url

            raise UserError(f"no pretrained weights given: pass --pretrained {self.model_id} (downloads and caches "
                            f"{checkpoint_url(self.model_id)}), --archive movinet_{self.model_id}_base.tar.gz, "
                            f"--checkpoint DIR or --hub ({hub_url(self.model_id)}); to train from random weights, "
                            "say --from-scratch")
        if sources and self.from_scratch:
            raise UserError(f"--from-scratch contradicts --{sources[0]}; choose one")
        if self.batch_size < 1 or self.epochs < 0 or self.fine_tune_epochs < 0:
            raise UserError("batch size must be >= 1 and epochs >= 0")

    def _validate_classic(self) -> None:
        """A classic arch trains whole from its first epoch: MoViNet's weights, stages and caches don't apply."""
        from movinet_crossfit.movinet.architectures import BACKBONE_ARCHS

        given = [f"--{name.replace('_', '-')}" for name in ("checkpoint", "archive", "hub", "pretrained", "causal")
                 if getattr(self, name)]
        if self.fine_tune != "none" or self.fine_tune_epochs:
            given.append("--fine-tune / --fine-tune-epochs")
        if self.cache_features:
            given.append("--cache-features")
        if given:
            raise UserError(f"--arch {self.arch}: {', '.join(given)} apply only to MoViNet; a classic arch trains "
                            "all its layers for --epochs (drop the option)")
        if self.backbone_weights and self.arch not in BACKBONE_ARCHS:
            raise UserError(f"--arch {self.arch} has no 2-D backbone to take --backbone-weights; drop the option")
        if self.backbone_weights and self.from_scratch:
            raise UserError("--from-scratch contradicts --backbone-weights; choose one")
        self.strategy = check_strategy(self.strategy)
        if self.optimizer not in ("rmsprop", "adam"):
            raise UserError(f"optimizer {self.optimizer!r}: choose rmsprop or adam")
        if self.batch_size < 1 or self.epochs < 0:
            raise UserError("batch size must be >= 1 and epochs >= 0")
        self.cache_features = False

    def _check_pretrained_id(self, model_id_given: bool) -> None:
        """``--pretrained a0`` alone builds an a0; with ``--model-id`` the two must agree."""
        from movinet_crossfit.movinet.model import check_model_id

        self.pretrained = check_model_id(self.pretrained)
        if self.pretrained == self.model_id:
            return
        if not model_id_given:
            self.model_id = self.pretrained
            return
        raise UserError(f"--pretrained {self.pretrained} holds MoViNet-{self.pretrained} weights, but the model "
                        f"is --model-id {self.model_id}; give one of them, or the same id to both")


# --- --strategy: which tf.distribute strategy, and for multi-worker, this worker's task ----------

_TF_CONFIG_EXAMPLE = ("TF_CONFIG='{\"cluster\": {\"worker\": [\"host1:12345\", \"host2:12345\"]}, "
                      "\"task\": {\"type\": \"worker\", \"index\": 0}}'")
_TF_CONFIG_FIX = (f"set it on every worker to the same cluster and that worker's own task, e.g. {_TF_CONFIG_EXAMPLE} "
                  "(index 1 on the second host; docs/scale.md)")


@dataclass(frozen=True)
class WorkerTask:
    """This process's place in a multi-worker cluster, as TF_CONFIG gives it."""

    type: str  # "chief" or "worker"
    index: int
    workers: int  # every task that trains: the chief (if any) and the workers
    chief_in_cluster: bool = False

    @property
    def is_chief(self) -> bool:
        """The task that writes the run folder: the "chief", or worker 0 when the cluster has none
        (MultiWorkerMirroredStrategy's rule)."""
        return self.type == "chief" or (self.type == "worker" and self.index == 0 and not self.chief_in_cluster)


def check_strategy(name: str, environ: Optional[Mapping[str, str]] = None) -> str:
    """The strategy's documented name (aliases resolved); for multi-worker, TF_CONFIG is checked too,
    so a bad cluster stops before the run folder and the model."""
    name = STRATEGY_ALIASES.get(name, name)
    if name not in STRATEGIES:
        raise UserError(f"--strategy {name!r}: choose one of {', '.join(STRATEGIES)}")
    if name == "multi-worker":
        read_tf_config(environ)
    return name


def read_tf_config(environ: Optional[Mapping[str, str]] = None) -> WorkerTask:
    """TF_CONFIG (``{"cluster": {"worker": ["host:port", ...]}, "task": {"type", "index"}}``), checked
    with one error line per mistake; ``environ`` defaults to ``os.environ``."""
    raw = (os.environ if environ is None else environ).get("TF_CONFIG", "").strip()
    if not raw:
        raise UserError(f"--strategy multi-worker: TF_CONFIG is not set; {_TF_CONFIG_FIX}")
    try:
        tf_config = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise UserError(f"TF_CONFIG is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
                        f"{_TF_CONFIG_FIX}") from None
    cluster = tf_config.get("cluster") if isinstance(tf_config, dict) else None
    if not isinstance(cluster, dict) or not any(cluster.get(kind) for kind in ("chief", "worker")):
        raise UserError(f"TF_CONFIG has no \"cluster\" with a \"worker\" list of host:port addresses; {_TF_CONFIG_FIX}")
    for kind, addresses in cluster.items():
        if (not isinstance(addresses, list)
                or not all(isinstance(a, str) and a.rpartition(":")[2].isdigit() for a in addresses)):
            raise UserError(f"TF_CONFIG cluster {kind!r}: expected a list of \"host:port\" strings, got {addresses!r}; "
                            f"{_TF_CONFIG_FIX}")
    if len(cluster.get("chief") or []) > 1:
        raise UserError(f"TF_CONFIG cluster 'chief': at most one chief, got {len(cluster['chief'])}; {_TF_CONFIG_FIX}")
    task = tf_config.get("task")
    if task is None:
        raise UserError(f"TF_CONFIG has no \"task\" (this host's place in the cluster); {_TF_CONFIG_FIX}")
    kind = task.get("type") if isinstance(task, dict) else None
    index = task.get("index") if isinstance(task, dict) else None
    if kind not in ("chief", "worker") or not cluster.get(kind):
        raise UserError(f"TF_CONFIG task {task!r}: \"type\" must be \"worker\" (or \"chief\") and listed in the "
                        f"cluster; {_TF_CONFIG_FIX}")
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(cluster[kind]):
        raise UserError(f"TF_CONFIG task {task!r}: \"index\" must be this host's position in the cluster's "
                        f"{kind!r} list (0..{len(cluster[kind]) - 1}); {_TF_CONFIG_FIX}")
    workers = len(cluster.get("chief") or []) + len(cluster.get("worker") or [])
    return WorkerTask(kind, index, workers, chief_in_cluster=bool(cluster.get("chief")))


# --- which split chose the model ------------------------------------------------------------------

TEST_SPLIT = "test"
_REBUILD = ("rebuild the records with `movinet-crossfit records --ratios train=0.7,val=0.1,test=0.2` "
            "or pass --validation-split NAME (a split other than test)")


def decides_on_validation(select_best: bool, early_stopping_patience: int) -> bool:
    """Whether the validation split picks anything: the epoch kept in best/, or when to stop."""
    return bool(select_best) or bool(early_stopping_patience)


def validation_report(split: str, select_best: bool, early_stopping_patience: int, *,
                      evaluated: str = TEST_SPLIT, fallback: bool = False) -> dict:
    """``{"split", "honest", "warning"}``: whether a score on ``evaluated`` stays honest when the run
    validated on ``split``. ``fallback``: the split was taken because the records have no val clips."""
    why = " because the records have no 'val' clips" if fallback else ""
    if split != evaluated:
        return {"split": split, "honest": True, "warning": None}
    if not decides_on_validation(select_best, early_stopping_patience):
        warning = None
        if evaluated == TEST_SPLIT:  # honest, but the user should know there is nothing to tune on
            warning = (f"validating on the '{split}' split{why}: it is only watched (best/ = the last epoch, no early "
                       f"stop), so the test score stays honest, but nothing can be tuned on it; {_REBUILD}")
        return {"split": split, "honest": True, "warning": warning}
    return {"split": split, "honest": False,
            "warning": (f"validating on the '{split}' split{why}: the epoch kept in best/ and the early stop are "
                        f"chosen on the clips the {evaluated} score is reported on, so that score will be "
                        f"optimistic; {_REBUILD}")}
