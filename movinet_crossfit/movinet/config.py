"""``train``'s options (YAML, CLI and Python share them): MoViNet fine-tuning. No TensorFlow here."""
from __future__ import annotations

from typing import Optional

from pydantic import Field

from movinet_crossfit.core.config import TrainingConfig
from movinet_crossfit.core.errors import UserError

STRATEGIES = ("default", "mirrored", "tpu", "multiworker")
FINE_TUNE = ("none", "last", "all")


class TrainConfig(TrainingConfig):
    command = "train"

    records: str = "tfrecords"
    out: str = "runs/default"
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
    archive: Optional[str] = None  # official movinet_<id>_base.tar.gz
    hub: Optional[str] = None  # TF Hub handle or local hub folder
    from_scratch: bool = False
    cache_features: Optional[bool] = None  # None: on when no GPU is visible
    augment: bool = True
    strategy: str = "default"
    mixed_precision: bool = False
    early_stopping_patience: int = 5
    # False: best/ holds the last epoch's weights and no epoch is chosen on the validation split
    # (an honest test score when the validation split is the test split).
    select_best: bool = True
    validation_split: Optional[str] = None  # None: 'val' when the records have it, else 'test'
    backup_every_steps: Optional[int] = None  # BackupAndRestore frequency; None: every epoch
    seed: int = 0
    classes: list = Field(default_factory=list)  # filled from the records

    def validate(self) -> None:
        from movinet_crossfit.movinet.model import check_model_id

        self.model_id = check_model_id(self.model_id)
        if self.strategy not in STRATEGIES:
            raise UserError(f"--strategy {self.strategy!r}: choose one of {', '.join(STRATEGIES)}")
        if self.optimizer not in ("rmsprop", "adam"):
            raise UserError(f"optimizer {self.optimizer!r}: choose rmsprop or adam")
        if self.fine_tune not in FINE_TUNE:
            raise UserError(f"--fine-tune {self.fine_tune!r}: choose one of {', '.join(FINE_TUNE)}")
        sources = [n for n in ("checkpoint", "archive", "hub") if getattr(self, n)]
        if len(sources) > 1:
            raise UserError(f"give one pretrained source, not {' and '.join(sources)}")
        if not sources and not self.from_scratch:
            from movinet_crossfit.movinet.model import checkpoint_url, hub_url

            raise UserError("no pretrained weights given: pass --checkpoint DIR, --archive "
                            f"movinet_{self.model_id}_base.tar.gz ({checkpoint_url(self.model_id)}) or --hub "
                            f"({hub_url(self.model_id)}); to train from random weights, say --from-scratch")
        if sources and self.from_scratch:
            raise UserError(f"--from-scratch contradicts --{sources[0]}; choose one")
        if self.batch_size < 1 or self.epochs < 0 or self.fine_tune_epochs < 0:
            raise UserError("batch size must be >= 1 and epochs >= 0")
