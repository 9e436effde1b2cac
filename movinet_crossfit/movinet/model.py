"""MoViNet *base* classifiers, their fast builtin-op graph, and verified Kinetics-600 weights.

* ``build_classifier``: Model Garden's ``Movinet`` backbone (``conv_type='3d'``, the layout of the
  official *base* checkpoints) under a ``MovinetClassifier`` with a new ``num_classes`` head. Input
  float32 ``[batch, frames, size, size, 3]`` in [0, 1] (``clip_sampling.to_model_input``), output logits.
  ``fast=True`` runs the same variables through builtin 2-D ops (``fast_ops``): identical
  outputs, ~80x faster on CPU, and TFLite without Flex.
* ``build_backbone_features`` / ``build_head``: the model split where ``MovinetClassifier`` splits
  it (after the backbone's global pool), for head-only training on cached features. Both share the
  classifier's layers, so training the head trains the full model's head.
* ``load_pretrained``: Kinetics-600 weights from a checkpoint, the official ``.tar.gz`` or a TF Hub
  model into the backbone. Every backbone variable must be restored from a value of the same shape
  and the checkpoint's backbone must have nothing left over; anything else is a ``UserError`` that
  names the file and the variables. The Kinetics head is never copied into the new head.
"""
from __future__ import annotations

import os
import re
import tarfile
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import tensorflow as tf
import tf_keras
from official.projects.movinet.modeling import movinet as mg_movinet
from official.projects.movinet.modeling import movinet_layers, movinet_model

from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.runs import BEST, CONFIG_FILE, LABELS_FILE, checkpoint_prefix, find_checkpoint, \
    read_labels, read_run_config
from movinet_crossfit.movinet import fast_ops
from movinet_crossfit.core.clip_sampling import DEFAULT_NUM_FRAMES, DEFAULT_SIZE

MODEL_IDS = ("a0", "a1", "a2", "a3", "a4", "a5")
# Causal (stream) models: the ids whose stream checkpoints have no positional encoding.
CAUSAL_MODEL_IDS = ("a0", "a1", "a2")
DEFAULT_MODEL_ID = "a2"
KINETICS_600_CLASSES = 600
CHECKPOINT_URL = "https://storage.googleapis.com/tf_model_garden/vision/movinet/movinet_{model_id}_{kind}.tar.gz"
HUB_URL = "https://tfhub.dev/tensorflow/movinet/{model_id}/base/kinetics-600/classification/3"

# Paths from a checkpoint's root object to the backbone, most specific first. The official
# checkpoints are `tf.train.Checkpoint(model=MovinetClassifier)`; in a Keras functional classifier
# the backbone is both the attribute `_backbone` and the first layer with weights.
_BACKBONE_PATHS = (("model", "_backbone"), ("model", "layer_with_weights-0"), ("model", "backbone"),
                   ("backbone",))
_OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
# What TensorFlow's checkpoint reader raises on a damaged file (a short read is an IndexError).
_READ_ERRORS = (tf.errors.OpError, ValueError, IndexError, RuntimeError)
_BACKBONE_SCOPE_RE = re.compile(r"^(stem|block\d+_layer\d+|head)$")
# Keras numbers a second ClassifierHead in one process `classifier_head_1`, and so on.
_CLASSIFIER_SCOPE_RE = re.compile(r"^classifier_head(_\d+)?$")


class PretrainedWeightsError(UserError):
    """Pretrained weights that are missing, unreadable or do not fit the model."""


@dataclass(frozen=True)
class MovinetSpec:
    """What a classifier was built as; ``spec_of(model)`` returns it."""

    model_id: str = DEFAULT_MODEL_ID
    num_classes: int = 9
    num_frames: int = DEFAULT_NUM_FRAMES
    size: int = DEFAULT_SIZE
    causal: bool = False
    # "movinet" here; a classic arch is described by architectures.ArchSpec (the same fields)
    arch: str = "movinet"

    @property
    def input_shape(self) -> tuple:
        return (None, self.num_frames, self.size, self.size, 3)


def check_model_id(model_id: str) -> str:
    model_id = str(model_id).lower()
    if model_id not in MODEL_IDS:
        raise UserError(f"unknown MoViNet model id {model_id!r}: choose one of {', '.join(MODEL_IDS)} "
                        f"(the Kinetics-600 *base* models)")
    return model_id


def checkpoint_url(model_id: str, causal: bool = False) -> str:
    """The official Kinetics-600 archive: ``movinet_<id>_base`` or, causal, ``movinet_<id>_stream``."""
    return CHECKPOINT_URL.format(model_id=model_id, kind="stream" if causal else "base")


def hub_url(model_id: str) -> str:
    return HUB_URL.format(model_id=model_id)


def build_backbone(model_id: str = DEFAULT_MODEL_ID, num_frames: int | None = DEFAULT_NUM_FRAMES,
                   size: int | None = DEFAULT_SIZE, *, causal: bool = False,
                   stochastic_depth_drop_rate: float = 0.0,
                   use_external_states: bool = False) -> mg_movinet.Movinet:
    """Model Garden's MoViNet backbone.

    ``causal=False``: the *base* layout (3-D convolutions, the official ``_base`` checkpoints).
    ``causal=True``: the *stream* layout of the official ``_stream`` checkpoints (causal (2+1)-D
    convolutions, cumulative pooling in the squeeze-excitations, hard-swish), so a causal run
    starts from them and its stream model (``use_external_states=True``, one frame at a time with
    the states fed back) computes exactly what was trained.
    """
    model_id = check_model_id(model_id)
    layout = stream_layout(model_id) if causal else {"conv_type": "3d", "se_type": "3d"}
    return mg_movinet.Movinet(
        model_id=model_id,
        causal=causal,
        **layout,
        input_specs=tf_keras.layers.InputSpec(shape=[None, num_frames, size, size, 3]),
        use_sync_bn=False,
        stochastic_depth_drop_rate=stochastic_depth_drop_rate,
        use_external_states=use_external_states,
    )


def stream_layout(model_id: str) -> dict:
    """The backbone options of Model Garden's Kinetics-600 *stream* checkpoints (its README)."""
    model_id = check_model_id(model_id)
    if model_id not in CAUSAL_MODEL_IDS:
        raise UserError(f"causal (stream) MoViNet-{model_id}: choose one of {', '.join(CAUSAL_MODEL_IDS)}; "
                        "the a3-a5 stream models add a positional encoding this project does not export")
    return {"conv_type": "2plus1d", "se_type": "2plus3d", "activation": "hard_swish",
            "gating_activation": "hard_sigmoid", "use_positional_encoding": False}


def build_classifier(model_id: str = DEFAULT_MODEL_ID, num_classes: int = 9,
                     num_frames: int = DEFAULT_NUM_FRAMES, size: int = DEFAULT_SIZE, *,
                     fast: bool = True, dropout_rate: float = 0.5, causal: bool = False,
                     stochastic_depth_drop_rate: float = 0.0) -> movinet_model.MovinetClassifier:
    """A MoViNet *base* classifier with a new ``num_classes`` head (random weights; see ``load_pretrained``).

    ``fast=True`` runs the Conv3D / AvgPool3D layers through exact builtin 2-D equivalents (see
    ``fast_ops``); ``fast_ops.use_fast_ops(model, False)`` switches back to Model Garden's graph.
    The model takes float32 ``[batch, num_frames, size, size, 3]`` in [0, 1] (a bare tensor or
    ``{"image": tensor}``) and returns logits ``[batch, num_classes]``.
    """
    if num_classes < 1:
        raise UserError(f"num_classes must be at least 1, got {num_classes}")
    spec = MovinetSpec(check_model_id(model_id), int(num_classes), int(num_frames), int(size),
                       bool(causal))
    backbone = build_backbone(spec.model_id, spec.num_frames, spec.size, causal=causal,
                              stochastic_depth_drop_rate=stochastic_depth_drop_rate)
    model = movinet_model.MovinetClassifier(
        backbone,
        num_classes=spec.num_classes,
        input_specs={"image": tf_keras.layers.InputSpec(shape=list(spec.input_shape))},
        dropout_rate=dropout_rate,
        output_states=False,
    )
    object.__setattr__(model, "_movinet_crossfit_spec", spec)  # plain attribute, not tracked
    if fast:
        fast_ops.use_fast_ops(model)
    return model


def spec_of(model: tf_keras.Model) -> MovinetSpec:
    """The ``MovinetSpec`` of a model from ``build_classifier`` (rebuilt from the model otherwise)."""
    spec = getattr(model, "_movinet_crossfit_spec", None)
    if spec is not None:
        return spec
    backbone = backbone_of(model)
    config = backbone.get_config()
    shape = model.inputs[0].shape if model.inputs else (None, None, None, None, 3)
    head = _classifier_head(model) if model is not backbone else None
    return MovinetSpec(config["model_id"], int(head.get_config()["num_classes"]) if head else 0,
                       shape[1], shape[2], bool(config["causal"]))


def backbone_of(model: tf_keras.Model) -> mg_movinet.Movinet:
    """The MoViNet backbone of a classifier (or the backbone itself)."""
    if isinstance(model, mg_movinet.Movinet):
        return model
    backbone = getattr(model, "backbone", None)
    if not isinstance(backbone, mg_movinet.Movinet):
        raise TypeError(f"{type(model).__name__} has no MoViNet backbone")
    return backbone


def _classifier_head(model: tf_keras.Model) -> movinet_layers.ClassifierHead:
    heads = [layer for layer in model.layers if isinstance(layer, movinet_layers.ClassifierHead)]
    if len(heads) != 1:
        raise TypeError(f"{type(model).__name__} has {len(heads)} MoViNet classifier heads, expected 1")
    return heads[0]


def feature_dim(model: tf_keras.Model) -> int:
    """Width of the pooled backbone features the head consumes (640 for a2)."""
    model_id = backbone_of(model).get_config()["model_id"]
    return int(mg_movinet.BLOCK_SPECS[model_id][-1].project_filters)


def build_backbone_features(model: tf_keras.Model) -> tf_keras.Model:
    """frames ``[B, T, S, S, 3]`` -> pooled backbone features ``[B, feature_dim]``.

    The split is where ``MovinetClassifier`` puts it: the backbone ends with a 1×1×1 projection
    and a global average pool; the head (1×1×1 conv, dropout, classifier conv) starts after it.
    The extractor reuses the classifier's own graph and layers (nothing is re-traced or copied).
    """
    head = _classifier_head(model)
    # [B, 1, 1, 1, C]: the backbone's 'head' endpoint where the classifier was built (node 0;
    # build_head adds further nodes to the same layer).
    pooled = head.get_input_at(0)
    features = tf_keras.layers.Reshape((feature_dim(model),), name="features")(pooled)
    return tf_keras.Model(model.inputs, features, name="movinet_features")


def build_head(model: tf_keras.Model) -> tf_keras.Model:
    """Pooled features ``[B, feature_dim]`` -> logits: the classifier's own head, sharing its variables.

    ``build_head(m)(build_backbone_features(m)(x))`` equals ``m(x)``; training this model trains
    the full model's head (dropout is active when called with ``training=True``).
    """
    dim = feature_dim(model)
    features = tf_keras.Input(shape=(dim,), name="features")
    pooled = tf_keras.layers.Reshape((1, 1, 1, dim))(features)
    logits = _classifier_head(model)(pooled)
    return tf_keras.Model(features, logits, name="movinet_head")


# ---------------------------------------------------------------------------------------------
# Pretrained weights


@dataclass(frozen=True)
class LoadReport:
    """What ``load_pretrained`` read and restored."""

    kind: str  # "checkpoint", "archive" or "hub"
    source: str  # the file / folder / handle given
    checkpoint: str  # the checkpoint prefix or SavedModel actually read
    model_id: str
    restored: int  # backbone variables restored: always all of them
    ignored: tuple[str, ...] = field(default=())  # source variables not used (the Kinetics head)

    def summary(self) -> str:
        extra = (f"; {len(self.ignored)} source variables not used (the Kinetics-600 head)"
                 if self.ignored else "")
        return (f"MoViNet-{self.model_id} backbone: {self.restored} variables restored from "
                f"{self.kind} {self.source}{extra}")


def load_pretrained(model: tf_keras.Model, *, checkpoint: str | os.PathLike | None = None,
                    archive: str | os.PathLike | None = None,
                    hub: str | os.PathLike | None = None) -> LoadReport:
    """Restore Kinetics-600 *base* weights into ``model``'s backbone, verifying every variable.

    Exactly one source:
    * ``checkpoint``: a ``tf.train.Checkpoint(model=MovinetClassifier)`` prefix or directory
      (the extracted official ``movinet_<id>_base`` folder);
    * ``archive``: the official ``movinet_<id>_base.tar.gz`` (extracted to a temporary folder);
    * ``hub``: a TF Hub handle or a local SavedModel folder (the hub ``classification`` model);
      its variables are matched to the backbone's by name and shape.

    Raises ``PretrainedWeightsError`` (a ``UserError``) when the source is missing or unreadable,
    or when any backbone variable is not restored from a value of the same shape; the model's
    weights are then left as they were. The head is never loaded (it has ``num_classes`` outputs).
    """
    given = [name for name, value in (("checkpoint", checkpoint), ("archive", archive), ("hub", hub))
             if value is not None]
    if len(given) != 1:
        raise UserError("load_pretrained needs exactly one of checkpoint=, archive=, hub= "
                        f"(got {', '.join(given) or 'none'})")
    backbone = backbone_of(model)
    model_id = backbone.get_config()["model_id"]
    if checkpoint is not None:
        source = str(checkpoint)
        if Path(source).is_file() and source.endswith((".tar.gz", ".tgz", ".tar")):
            return _load_archive(backbone, model_id, source)
        prefix = _find_checkpoint_prefix(Path(source), model_id, _is_causal(backbone))
        values, ignored = _read_checkpoint(backbone, model_id, prefix, shown=source)
        return _assign(backbone, values, "checkpoint", source, prefix, model_id, ignored)
    if archive is not None:
        return _load_archive(backbone, model_id, str(archive))
    values, ignored = _read_hub(backbone, model_id, str(hub))
    return _assign(backbone, values, "hub", str(hub), str(hub), model_id, ignored)


def _how_to_get(model_id: str, causal: bool = False) -> str:
    if causal:  # the causal layout fits only the *stream* checkpoints
        return (f"a causal model takes the official Kinetics-600 *stream* weights, {checkpoint_url(model_id, True)} "
                f"(pass the .tar.gz as --archive, or --pretrained {model_id} to download it); "
                "to train from random weights instead, say so explicitly (--from-scratch)")
    return (f"the official Kinetics-600 weights are {checkpoint_url(model_id)} (pass the .tar.gz as "
            f"--archive, or its extracted folder as --checkpoint) or {hub_url(model_id)} (--hub); "
            "to train from random weights instead, say so explicitly (--from-scratch)")


def _is_causal(backbone) -> bool:
    return bool(backbone.get_config().get("causal"))


def _find_checkpoint_prefix(path: Path, model_id: str, causal: bool = False) -> str:
    """A checkpoint prefix from a prefix, an ``.index`` file, or a folder holding one (the official
    archive extracts to a subfolder, so subfolders are searched too)."""
    return find_checkpoint(path, hint=_how_to_get(model_id, causal), recursive=True, error=PretrainedWeightsError)


def _load_archive(backbone, model_id: str, archive: str) -> LoadReport:
    path = Path(archive)
    causal = _is_causal(backbone)
    if not path.is_file():
        raise PretrainedWeightsError(f"{path}: no such archive; " + _how_to_get(model_id, causal))
    with tempfile.TemporaryDirectory(prefix="movinet-weights-") as tmp:
        try:
            with tarfile.open(path, "r:*") as tar:
                # The 'data' filter refuses absolute paths, links out of the folder and devices.
                tar.extractall(tmp, filter="data")
        except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
            raise PretrainedWeightsError(f"{path}: not a readable .tar.gz archive ({exc}); "
                                         "re-download it: " + checkpoint_url(model_id, causal)) from exc
        prefix = _find_checkpoint_prefix(Path(tmp), model_id, causal)
        member = os.path.relpath(prefix, tmp)
        values, ignored = _read_checkpoint(backbone, model_id, prefix, shown=f"{path}!{member}")
        return _assign(backbone, values, "archive", str(path), f"{path}!{member}", model_id, ignored)


def _backbone_node(graph, shown: str) -> int:
    nodes = graph.nodes
    for path in _BACKBONE_PATHS:
        node_id, ok = 0, True
        for name in path:
            children = {c.local_name: c.node_id for c in nodes[node_id].children}
            if name not in children:
                ok = False
                break
            node_id = children[name]
        if ok:
            return node_id
    roots = ", ".join(sorted(c.local_name for c in nodes[0].children)) or "nothing"
    raise PretrainedWeightsError(
        f"{shown}: not a MoViNet checkpoint: expected tf.train.Checkpoint(model=MovinetClassifier) "
        f"(as the official movinet_<id>_base checkpoints are), found a root holding {roots}")


def _read_checkpoint(backbone, model_id: str, prefix: str, *, shown: str):
    """Match the backbone's variables to the checkpoint's object graph; read every value.

    The matching is the object-graph matching ``tf.train.Checkpoint.restore`` does (by the
    names of the edges between objects), done here so that every mismatch can be listed
    before anything is assigned.
    """
    from tensorflow.core.protobuf import trackable_object_graph_pb2

    try:
        reader = tf.train.load_checkpoint(prefix)
        shapes = reader.get_variable_to_shape_map()
        if _OBJECT_GRAPH_KEY not in shapes:
            raise PretrainedWeightsError(
                f"{shown}: a name-based (TF1) checkpoint; expected an object-based "
                "tf.train.Checkpoint like the official movinet_<id>_base ones")
        graph = trackable_object_graph_pb2.TrackableObjectGraph()
        graph.ParseFromString(reader.get_tensor(_OBJECT_GRAPH_KEY))
    except _READ_ERRORS as exc:
        raise PretrainedWeightsError(f"{shown}: unreadable checkpoint, damaged or truncated "
                                     f"({_first_line(exc)}); re-download or re-extract it") from exc

    root = _backbone_node(graph, shown)
    keys: dict = {}  # variable ref -> checkpoint key (None when the checkpoint has no such object)
    stack, seen = [(backbone, root)], set()
    while stack:
        obj, node_id = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        node = graph.nodes[node_id]
        if isinstance(obj, tf.Variable):
            keys[obj.ref()] = next((a.checkpoint_key for a in node.attributes
                                    if a.name == "VARIABLE_VALUE"), None)
            continue
        children = {c.local_name: c.node_id for c in node.children}
        for name, child in tf.train.TrackableView.children(obj).items():
            if name in children:
                stack.append((child, children[name]))

    missing, mismatched, matched = [], [], {}
    for var in backbone.variables:
        key = keys.get(var.ref())
        if key is None or key not in shapes:
            missing.append(_short(var))
        elif tuple(shapes[key]) != tuple(var.shape):
            mismatched.append((_short(var), tuple(var.shape), tuple(shapes[key])))
        else:
            matched[var.ref()] = key
    leftover = sorted(_subtree_keys(graph, root) - set(matched.values()))
    if missing or mismatched or leftover:
        # Functional backbone: stem, the blocks and the head are its layers with weights.
        layers = [c for c in graph.nodes[root].children if c.local_name.startswith("layer_with_weights-")]
        guess = _model_id_with_blocks(len(layers) - 2)
        raise PretrainedWeightsError(_mismatch_message(shown, model_id, len(backbone.variables),
                                                       missing, mismatched, leftover, guess,
                                                       causal=_is_causal(backbone)))
    try:
        values = {ref: reader.get_tensor(key) for ref, key in matched.items()}
    except _READ_ERRORS as exc:
        raise PretrainedWeightsError(f"{shown}: checkpoint data is damaged or truncated "
                                     f"({_first_line(exc)}); re-download or re-extract it") from exc
    ignored = sorted(k.split("/.ATTRIBUTES")[0] for k in set(shapes) - set(matched.values())
                     if k != _OBJECT_GRAPH_KEY and "/.ATTRIBUTES/VARIABLE_VALUE" in k
                     and "save_counter" not in k)
    return values, tuple(ignored)


def _subtree_keys(graph, root: int) -> set:
    found, stack, seen = set(), [root], set()
    while stack:
        node_id = stack.pop()
        if node_id in seen:
            continue
        seen.add(node_id)
        node = graph.nodes[node_id]
        found.update(a.checkpoint_key for a in node.attributes if a.name == "VARIABLE_VALUE")
        stack.extend(c.node_id for c in node.children)
    return found


def _short(var: tf.Variable) -> str:
    return var.name[:-2] if var.name.endswith(":0") else var.name


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _model_id_with_blocks(num_blocks: int) -> str | None:
    """Which MoViNet has this many bottleneck blocks (each id has a different count)."""
    for mid, spec in mg_movinet.BLOCK_SPECS.items():
        if sum(len(getattr(s, "expand_filters", ())) for s in spec) == num_blocks:
            return mid
    return None


def _mismatch_message(shown: str, model_id: str, total: int, missing: Sequence[str],
                      mismatched: Sequence[tuple], leftover: Sequence[str],
                      guess: str | None, *, causal: bool = False) -> str:
    kind = "stream" if causal else "base"
    parts = [f"{shown}: does not fit the {'causal ' if causal else ''}MoViNet-{model_id} backbone"]
    if guess and guess != model_id:
        parts[0] += f" (it looks like MoViNet-{guess}: build the model with model_id={guess!r} " \
                    f"or use movinet_{model_id}_{kind})"
    if missing:
        parts.append(f"{len(missing)} of {total} backbone variables are not in the checkpoint, "
                     f"e.g. {', '.join(missing[:4])}")
    if mismatched:
        shown_shapes = ", ".join(f"{n} {list(a)} vs {list(b)}" for n, a, b in mismatched[:3])
        parts.append(f"{len(mismatched)} have another shape (model vs checkpoint), e.g. {shown_shapes}")
    if leftover:
        parts.append(f"{len(leftover)} checkpoint backbone variables have no place in the model, "
                     f"e.g. {', '.join(k.split('/.ATTRIBUTES')[0] for k in leftover[:3])}")
    if causal and (missing or mismatched) and guess in (None, model_id):
        parts.append("a *base* checkpoint does not fit a causal model (different layers)")
    parts.append(_how_to_get(model_id, causal))
    return "; ".join(parts)


def _normalized_name(name: str) -> str | None:
    """A variable's name from its backbone layer on (``block0_layer0/bneck/...``), or None."""
    parts = name[:-2].split("/") if name.endswith(":0") else name.split("/")
    for index, part in enumerate(parts):
        if _CLASSIFIER_SCOPE_RE.match(part):
            return None
        if _BACKBONE_SCOPE_RE.match(part):
            return "/".join(parts[index:])
    return None


def _read_hub(backbone, model_id: str, handle: str):
    """Values for every backbone variable from a TF Hub model / SavedModel, matched by name and shape."""
    is_url = "://" in handle
    if not is_url and not Path(handle).exists():
        raise PretrainedWeightsError(f"{handle}: no such SavedModel folder; "
                                     + _how_to_get(model_id, _is_causal(backbone)))
    import tensorflow_hub

    try:
        loaded = tensorflow_hub.load(handle)
    except (OSError, ValueError, RuntimeError, tf.errors.OpError) as exc:
        hint = ("no network? download it on a connected machine (append ?tf-hub-format=compressed), "
                "extract it and pass the folder" if is_url else "expected a SavedModel folder "
                "(saved_model.pb + variables/)")
        raise PretrainedWeightsError(f"{handle}: could not load as a TF Hub model ({_first_line(exc)}); "
                                     f"{hint}; " + _how_to_get(model_id, _is_causal(backbone))) from exc
    theirs: dict[str, list] = {}
    for item in tf.train.TrackableView(loaded).descendants():
        if isinstance(item, tf.Variable):
            theirs.setdefault(item.name, []).append(item)
    by_name: dict[str, tf.Variable] = {}
    ignored, duplicated = [], []
    for name, variables in theirs.items():
        unique = {id(v): v for v in variables}
        normal = _normalized_name(name)
        if normal is None:
            ignored.append(name)
        elif len(unique) > 1 or normal in by_name:
            duplicated.append(name)
        else:
            by_name[normal] = next(iter(unique.values()))
    missing, mismatched, values = [], [], {}
    used = set()
    for var in backbone.variables:
        normal = _normalized_name(var.name)
        source = by_name.get(normal) if normal else None
        if source is None:
            missing.append(_short(var))
        elif tuple(source.shape) != tuple(var.shape):
            mismatched.append((_short(var), tuple(var.shape), tuple(source.shape)))
        else:
            values[var.ref()] = source.numpy()
            used.add(normal)
    leftover = sorted(set(by_name) - used)
    if duplicated:
        missing.extend(f"{name} (ambiguous in the SavedModel)" for name in duplicated[:2])
    if missing or mismatched or leftover:
        blocks = {name.split("/")[0] for name in by_name if name.startswith("block")}
        raise PretrainedWeightsError(_mismatch_message(handle, model_id, len(backbone.variables),
                                                       missing, mismatched, leftover,
                                                       _model_id_with_blocks(len(blocks)),
                                                       causal=_is_causal(backbone)))
    return values, tuple(sorted(ignored))


def _assign(backbone, values: dict, kind: str, source: str, where: str, model_id: str,
            ignored: Iterable[str]) -> LoadReport:
    variables = backbone.variables
    if len(values) != len(variables) or any(v.ref() not in values for v in variables):
        raise AssertionError("every backbone variable is matched before assignment")
    for var in variables:
        var.assign(np.asarray(values[var.ref()], dtype=var.dtype.as_numpy_dtype))
    return LoadReport(kind=kind, source=source, checkpoint=where, model_id=model_id,
                      restored=len(variables), ignored=tuple(ignored))


# --- a training run -------------------------------------------------------------------------------

def load_trained_classifier(run_dir: str | os.PathLike, *, which: str = BEST, fast: bool = True):
    """Rebuild a ``train`` run's classifier and restore its weights, checking every variable matched.

    Returns ``(model, classes, config)``.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: no such run folder; train one with `movinet-crossfit train`")
    config = read_run_config(run_dir)
    classes = read_labels(run_dir / LABELS_FILE)
    from movinet_crossfit.movinet.architectures import build_arch_classifier, is_classic

    arch = config.get("arch") or "movinet"
    try:
        if is_classic(arch):
            model = build_arch_classifier(arch, len(classes), config["num_frames"], config["size"],
                                          dropout_rate=config.get("dropout_rate", 0.5))
        else:
            model = build_classifier(config["model_id"], len(classes), config["num_frames"], config["size"],
                                     fast=fast, dropout_rate=config.get("dropout_rate", 0.5),
                                     causal=bool(config.get("causal", False)))
    except (KeyError, TypeError, AttributeError) as exc:
        raise UserError(f"{run_dir / CONFIG_FILE}: incomplete run config ({type(exc).__name__}: {exc}); "
                        "it needs model_id, num_frames and size") from exc
    model.build([None, config["num_frames"], config["size"], config["size"], 3])
    prefix = checkpoint_prefix(run_dir, which)
    try:
        # Every variable of the model must match; the optimizer's slots saved with it are not
        # needed to predict, so they are let go without a warning per slot.
        tf.train.Checkpoint(model=model).read(prefix).assert_existing_objects_matched().expect_partial()
    except (AssertionError, ValueError, tf.errors.OpError) as exc:
        what = arch if is_classic(arch) else f"MoViNet-{config['model_id']}"
        raise UserError(f"{prefix}: does not fit a {what} with {len(classes)} classes "
                        f"({str(exc).splitlines()[0][:300]})") from exc
    except (IndexError, RuntimeError, OSError) as exc:
        # A truncated checkpoint reads as "IndexError: Read less bytes than requested".
        raise UserError(f"{prefix}: checkpoint is damaged or truncated ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0][:200] if str(exc) else ''}); copy the run again") from exc
    return model, classes, config
