"""Integrity report of a model exercise: which pairs of submissions look copied.

Pure NumPy (and h5py, read-only, for the weights of a ``.keras`` file); no Django. Three
signals per pair of students, each compared with the whole class:

- **predictions**: on the hidden test set, the share of the images that either model gets wrong
  on which both give *the same wrong answer* (a Jaccard index of identical mistakes). Honest
  models share some hard images, but rarely the same wrong class on most of them;
- **weights**: a digest of the tensors rounded to 4 decimals (identical weights, whatever the
  layers are called), and a count sketch of all weights whose cosine between two models of the
  same architecture is about 0 for independent trainings and near 1 for a model fine-tuned
  from another;
- **architecture**: a fingerprint of the layers' classes and settings, names left out.

A pair is flagged when one of its signals stands far above the class: a robust z-score
(median and MAD of all pairs) over ``Z_FLAG`` and a value over an absolute floor, or identical
weights. The z-scores are reported so that the teacher can judge.
"""
from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

SKETCH_DIM = 512
ROUND_DECIMALS = 4
Z_FLAG = 6.0
# Absolute floors: a z-score alone could flag a tiny excess in a very uniform class.
AGREEMENT_FLOOR = 0.6
SIMILARITY_FLOOR = 0.6
MAX_WEIGHTS_BYTES = 200 * 2**20
# Keys of a layer's config that name things rather than compute them.
_NAME_KEYS = {"name", "inbound_nodes", "input_layers", "output_layers", "registered_name", "build_config",
              "shared_object_id", "module"}


@dataclass
class ModelFingerprint:
    """What the integrity report keeps of one submission."""

    architecture: str  # hex digest of the layers without their names
    weights_digest: str  # hex digest of the rounded tensors, in layer order
    sketch: np.ndarray  # float32[SKETCH_DIM], a count sketch of every weight


@dataclass
class PairReport:
    a: int  # the items' keys (submission ids)
    b: int
    agreement: float  # Jaccard index of identical wrong answers on the hidden set
    shared_errors: int  # images both got wrong with the same answer
    similarity: float | None  # cosine of the weight sketches (same architecture only)
    same_weights: bool
    same_architecture: bool
    z_agreement: float = 0.0
    z_similarity: float = 0.0
    flagged: bool = False
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"a": self.a, "b": self.b, "agreement": round(self.agreement, 4), "shared_errors": self.shared_errors,
                "similarity": None if self.similarity is None else round(self.similarity, 4),
                "same_weights": self.same_weights, "same_architecture": self.same_architecture,
                "z_agreement": round(self.z_agreement, 2), "z_similarity": round(self.z_similarity, 2),
                "flagged": self.flagged, "reasons": list(self.reasons)}


def _strip_names(value):
    if isinstance(value, dict):
        return {k: _strip_names(v) for k, v in sorted(value.items()) if k not in _NAME_KEYS}
    if isinstance(value, list):
        return [_strip_names(v) for v in value]
    return value


def _layers_in_order(config: dict) -> list[dict]:
    inner = config.get("config", {}) if isinstance(config, dict) else {}
    layers = inner.get("layers") if isinstance(inner, dict) else None
    return [layer for layer in layers if isinstance(layer, dict)] if isinstance(layers, list) else []


def architecture_fingerprint(config: dict) -> str:
    """A digest of the model's layers (classes and settings) that ignores every name."""
    canonical = [_strip_names({"class_name": layer.get("class_name"), "config": layer.get("config", {})})
                 for layer in _layers_in_order(config)]
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, default=str).encode()).hexdigest()


def weights_from_keras_file(path) -> tuple[dict, list[np.ndarray]]:
    """The config and the weight tensors of a ``.keras`` file, in the order of its layers, read
    as data (h5py on the zip's ``model.weights.h5``): no Keras, no code of the file runs."""
    import h5py

    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
        info = archive.getinfo("model.weights.h5")
        if info.file_size > MAX_WEIGHTS_BYTES:
            raise ValueError("the weights file is too large")
        raw = archive.read(info)
    found: list[tuple[tuple, np.ndarray]] = []
    with h5py.File(io.BytesIO(raw), "r") as h5:
        def visit(name: str, node) -> None:
            # Keras names the groups after the layers' classes and places (conv2d, conv2d_1...),
            # not their names; the optimizer's state is not the model.
            if isinstance(node, h5py.Dataset) and node.dtype.kind in "fiu" and not name.startswith("optimizer/"):
                key = tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in name.split("/"))
                found.append((key, np.asarray(node[()], dtype=np.float32)))
        h5.visititems(visit)
    found.sort(key=lambda item: item[0])
    return config, [tensor for _key, tensor in found]


def weights_digest(tensors: Sequence[np.ndarray], *, decimals: int = ROUND_DECIMALS) -> str:
    digest = hashlib.sha256()
    for tensor in tensors:
        rounded = np.round(np.asarray(tensor, dtype=np.float64), decimals) + 0.0  # -0.0 -> 0.0
        digest.update(str(rounded.shape).encode())
        digest.update(rounded.astype(np.float32).tobytes())
    return digest.hexdigest()


def weights_sketch(tensors: Sequence[np.ndarray], *, dim: int = SKETCH_DIM) -> np.ndarray:
    """A count sketch of every weight: each tensor's values go to buckets with signs drawn from
    a seed that depends only on its place and shape, so two models of one architecture share
    the buckets and the cosine of their sketches approximates that of their weights."""
    sketch = np.zeros(dim, dtype=np.float64)
    for index, tensor in enumerate(tensors):
        flat = np.asarray(tensor, dtype=np.float64).ravel()
        if not flat.size:
            continue
        seed = int.from_bytes(hashlib.sha256(f"{index}:{tensor.shape}".encode()).digest()[:8], "little")
        rng = np.random.default_rng(seed)
        buckets = rng.integers(0, dim, flat.size)
        signs = rng.choice(np.array([-1.0, 1.0]), flat.size)
        # Centre each tensor: biases and scales initialised to constants would look alike.
        sketch += np.bincount(buckets, weights=signs * (flat - flat.mean()), minlength=dim)
    return sketch.astype(np.float32)


def fingerprint_keras_file(path) -> ModelFingerprint:
    config, tensors = weights_from_keras_file(path)
    return ModelFingerprint(architecture=architecture_fingerprint(config), weights_digest=weights_digest(tensors),
                            sketch=weights_sketch(tensors))


def error_agreement(a: np.ndarray, b: np.ndarray, labels: np.ndarray) -> tuple[float, int]:
    """(Jaccard index of identical wrong answers, how many): among the images either model gets
    wrong, the share on which both give the same wrong class."""
    a, b, labels = (np.asarray(v).ravel() for v in (a, b, labels))
    wrong_a, wrong_b = a != labels, b != labels
    either = int(np.count_nonzero(wrong_a | wrong_b))
    same = int(np.count_nonzero(wrong_a & wrong_b & (a == b)))
    return (same / either if either else 1.0), same


def _cosine(u: np.ndarray, v: np.ndarray) -> float:
    nu, nv = float(np.linalg.norm(u)), float(np.linalg.norm(v))
    return float(np.dot(u, v) / (nu * nv)) if nu and nv else 0.0


def robust_z(values: Sequence[float]) -> np.ndarray:
    """(x - median) / (1.4826 · MAD): a z-score that a few copied pairs cannot inflate."""
    x = np.asarray(values, dtype=np.float64)
    if not x.size:
        return x
    median = float(np.median(x))
    mad = 1.4826 * float(np.median(np.abs(x - median)))
    scale = max(mad, float(np.std(x)) * 0.1, 1e-3)
    return (x - median) / scale


def integrity_pairs(*, predictions: dict[int, np.ndarray], labels: np.ndarray,
                    fingerprints: dict[int, ModelFingerprint] | None = None) -> list[PairReport]:
    """Every pair of submissions with its signals and z-scores against the class, flagged pairs
    first (then by agreement). ``predictions`` are class indices on the hidden test set."""
    fingerprints = fingerprints or {}
    keys = sorted(predictions)
    pairs: list[PairReport] = []
    for a, b in combinations(keys, 2):
        agreement, shared = error_agreement(predictions[a], predictions[b], labels)
        fa, fb = fingerprints.get(a), fingerprints.get(b)
        same_arch = bool(fa and fb and fa.architecture == fb.architecture)
        pairs.append(PairReport(
            a=a, b=b, agreement=agreement, shared_errors=shared,
            similarity=_cosine(fa.sketch, fb.sketch) if same_arch else None,
            same_weights=bool(fa and fb and fa.weights_digest == fb.weights_digest), same_architecture=same_arch))
    if not pairs:
        return pairs
    for pair, z in zip(pairs, robust_z([p.agreement for p in pairs]), strict=True):
        pair.z_agreement = float(z)
    comparable = [p for p in pairs if p.similarity is not None]
    for pair, z in zip(comparable, robust_z([abs(p.similarity) for p in comparable]), strict=True):
        pair.z_similarity = float(z)
    for pair in pairs:
        if pair.same_weights:
            pair.reasons.append("same_weights")
        if pair.similarity is not None and pair.similarity >= SIMILARITY_FLOOR and pair.z_similarity >= Z_FLAG:
            pair.reasons.append("similar_weights")
        if pair.agreement >= AGREEMENT_FLOOR and pair.z_agreement >= Z_FLAG:
            pair.reasons.append("same_mistakes")
        pair.flagged = bool(pair.reasons)
    pairs.sort(key=lambda p: (not p.flagged, -max(p.z_agreement, p.z_similarity)))
    return pairs


def generation_pairs(rows: Sequence[tuple[int, int, str, int, int]]) -> list[dict]:
    """Generations of *different* students with the same prompt, seed and steps: the same image
    (a shared recipe rather than their own search). ``rows`` are (id, user id, prompt, seed, steps)."""
    groups: dict[tuple[str, int, int], list[tuple[int, int]]] = {}
    for pk, user_id, prompt, seed, steps in rows:
        groups.setdefault((" ".join(prompt.lower().split()), seed, steps), []).append((pk, user_id))
    found = []
    for (prompt, seed, steps), members in groups.items():
        users = {user for _pk, user in members}
        if len(users) > 1:
            firsts = {}
            for pk, user in sorted(members):
                firsts.setdefault(user, pk)
            found.append({"prompt": prompt, "seed": seed, "steps": steps, "generations": sorted(firsts.values()),
                          "users": sorted(users)})
    return sorted(found, key=lambda g: (-len(g["users"]), g["prompt"]))
