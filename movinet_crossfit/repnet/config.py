"""``train-counter``'s options (YAML, CLI and Python share them). No TensorFlow here."""
from __future__ import annotations

from typing import Optional

from pydantic import Field

from movinet_crossfit.core.config import TrainingConfig
from movinet_crossfit.core.errors import UserError

PERIOD_LOSS_FRAMES = ("all", "periodic")


class CounterTrainConfig(TrainingConfig):
    command = "train-counter"
    run_only = ("sources",)  # the config.yaml of a run lists them; the clips are arguments

    variant: str = "ckpt-70"
    num_frames: int = 64
    image_size: int = 112
    steps: int = 400_000
    batch_size: int = 5
    learning_rate: float = 6e-6
    weights: Optional[str] = None  # official (or our) RepNet checkpoint to start from
    backbone_weights: Optional[str] = None  # Keras ResNet50V2 ImageNet "notop" .h5 for the trunk
    from_scratch: bool = False  # say so explicitly to start from random weights
    train_backbone: bool = True
    period_loss_frames: str = "all"  # all | periodic
    periodicity_weight: float = 1.0
    log_every: int = 50
    checkpoint_every: int = 5000
    keep_checkpoints: int = 3
    seed: int = 0
    # Eager steps skip the one-off tracing of the step (~30 s on 2 cores): a win only for a
    # handful of tiny steps (tests, smoke runs); traced steps are several times faster after.
    run_eagerly: bool = False
    cache_clips: int = 64  # decoded clips kept in memory
    max_source_frames: int = 512  # frames read from the start of each clip
    generator: dict = Field(default_factory=dict)  # RepetitionConfig options (variant/frames/size are ours)

    @classmethod
    def small_cpu(cls, **overrides) -> "CounterTrainConfig":
        """16 frames at 32 px, batch 2, a higher learning rate: seconds per step on 2 cores. The
        starting weights are still to be chosen (``weights``, ``backbone_weights`` or
        ``from_scratch=True``)."""
        values = dict(num_frames=16, image_size=32, steps=20, batch_size=2, learning_rate=1e-4, log_every=1,
                      checkpoint_every=10, keep_checkpoints=1)
        values.update(overrides)
        return cls(**values)

    def repetition_config(self):
        from movinet_crossfit.repnet.data import RepetitionConfig

        clash = sorted({"variant", "num_frames", "image_size"} & set(self.generator))
        if clash:
            raise UserError(f"generator options {clash} are set by the training config itself; remove them")
        try:
            return RepetitionConfig(variant=self.variant, num_frames=self.num_frames, image_size=self.image_size,
                                    **self.generator)
        except TypeError as exc:
            raise UserError(f"generator options: {exc}") from exc

    def validate(self) -> None:
        sources = [n for n in ("weights", "backbone_weights") if getattr(self, n)]
        if len(sources) > 1:
            raise UserError("give --weights (a whole RepNet) or --backbone-weights (its trunk), not both")
        if not sources and not self.from_scratch:
            from movinet_crossfit.repnet.model import how_to_get_weights

            raise UserError("no starting weights: pass --weights DIR (" + how_to_get_weights(self.variant) +
                            "), --backbone-weights resnet50v2_notop.h5 (Keras ImageNet), or say --from-scratch")
        if sources and self.from_scratch:
            raise UserError(f"--from-scratch contradicts --{sources[0].replace('_', '-')}; choose one")
        if self.period_loss_frames not in PERIOD_LOSS_FRAMES:
            raise UserError(f"period_loss_frames {self.period_loss_frames!r}: choose all or periodic")
        if min(self.steps, self.batch_size, self.log_every, self.checkpoint_every, self.keep_checkpoints) < 1:
            raise UserError("steps, batch_size, log_every, checkpoint_every and keep_checkpoints must be >= 1")
        if self.learning_rate <= 0 or self.periodicity_weight < 0:
            raise UserError("learning_rate must be > 0 and periodicity_weight >= 0")
        self.repetition_config()  # its own checks (and the variant's)

    def to_dict(self) -> dict:
        out = super().to_dict()
        out["generator"] = self.repetition_config().to_dict()
        for key in ("variant", "num_frames", "image_size"):
            out["generator"].pop(key)
        return out


# --- losses ---------------------------------------------------------------------------------------
