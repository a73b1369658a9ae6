"""The data of a model exercise: the downloadable training set and the hidden test set.

The training set is generated from the exercise's seed and cached; the hidden test set is the
teacher's upload when there is one, generated otherwise. It never leaves the server: the
sandbox sees its inputs only, and the public/private split is drawn from a seed.

The generator is public (``grader.datasets``) and so is the course YAML (``test_seed``): a
hidden set generated from that seed could be rebuilt by anyone. So the seeds of the hidden set
and of its split are HMACs of those public numbers under a server secret
(``STRIDE_HIDDEN_SET_KEY``, derived from ``SECRET_KEY`` when unset), never the YAML's seed.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import os
import tempfile
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from exercises.engine.files import storage_cached_copy, upload_local_path
from exercises.models import Exercise, HiddenTestSet
from exercises.types.model import model_params
from grader.datasets import DATASETS, generate, load_test_set

CONFUSION_SPLITS = ("all", "public")


def confusion_png_name(model_name: str, *, split: str = "all") -> str:
    """The storage name of a submission's confusion matrix picture, beside its model file:
    ``all`` for the whole hidden set (private until the due date), ``public`` for its public split."""
    if split not in CONFUSION_SPLITS:
        raise ValueError(f"unknown split {split!r}")
    stem, _dot, _ext = model_name.rpartition(".")
    return f"{stem or model_name}-confusion{'-public' if split == 'public' else ''}.png"


def _cache_dir(name: str) -> Path:
    folder = Path(settings.VAR_DIR) / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _atomic_npz(path: Path, x: np.ndarray, y: np.ndarray) -> Path:
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz")
    os.close(fd)
    np.savez_compressed(tmp, x=x, y=y)
    os.replace(tmp, path)  # readers never see a half-written file
    return path


def training_set_path(*, exercise: Exercise) -> Path:
    """The downloadable training set (.npz with x, y), generated once and cached."""
    p = model_params(exercise.params)
    path = _cache_dir("datasets") / f"{p['dataset']}-train-{p['train_seed']}-{p['train_size']}.npz"
    if not path.exists():
        x, y = generate(p["dataset"], n=p["train_size"], seed=p["train_seed"])
        _atomic_npz(path, x, y)
    return path


def hidden_set_key() -> bytes:
    """The server secret the hidden sets' seeds are keyed by."""
    key = settings.STRIDE_HIDDEN_SET_KEY
    if key:
        return key.encode()
    return hmac.new(settings.SECRET_KEY.encode(), b"stride.hidden-test-set", hashlib.sha256).digest()


def hidden_seed(*parts: object) -> int:
    """A 63-bit seed: an HMAC-SHA256 of the public ``parts`` under the hidden-set key."""
    message = "\x1f".join(str(part) for part in parts).encode()
    return int.from_bytes(hmac.new(hidden_set_key(), message, hashlib.sha256).digest()[:8], "big") >> 1


def hidden_test_set(*, exercise: Exercise) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The hidden test set (x, y) and its public mask. It never leaves the server."""
    p = model_params(exercise.params)
    spec = DATASETS[p["dataset"]]
    uploaded = getattr(exercise, "hidden_test_set", None) if exercise.pk else None
    if uploaded is not None:
        # From the store, once per host and file version (the name carries its hash).
        path = storage_cached_copy(storage=uploaded.file.storage, name=uploaded.file.name,
                                   key=f"testset-{uploaded.sha256}.npz")
        split_seed = hidden_seed("split", uploaded.sha256)
    else:
        seed = hidden_seed("test", p["dataset"], p["test_seed"], p["test_size"])
        # The file's name says nothing of the seed: a digest of it, under var/ (the jail never sees var/).
        tag = hashlib.sha256(str(seed).encode()).hexdigest()[:16]
        path = _cache_dir("hidden") / f"{p['dataset']}-test-{tag}-{p['test_size']}.npz"
        if not path.exists():
            _atomic_npz(path, *generate(p["dataset"], n=p["test_size"], seed=seed))
        split_seed = hidden_seed("split", p["dataset"], p["test_seed"], p["test_size"])
    x, y = _load_test_set_cached(str(path), path.stat().st_mtime_ns, tuple(spec.input_shape), len(spec.class_names))
    order = np.random.default_rng(split_seed).permutation(len(y))
    public = np.zeros(len(y), dtype=bool)
    public[order[: max(1, round(len(y) * float(p["public_fraction"])))]] = True
    return x, y, public


@functools.lru_cache(maxsize=4)
def _load_test_set_cached(path: str, mtime_ns: int, input_shape: tuple, num_classes: int):
    """A worker grades many submissions against the same set: decompress and validate it once
    per file version (the mtime is part of the key, so a replaced file is read again)."""
    x, y = load_test_set(Path(path), input_shape=input_shape, num_classes=num_classes)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def hidden_test_set_upload(*, exercise: Exercise, upload: UploadedFile, user) -> HiddenTestSet:
    """Validate a teacher's .npz (x, y) against the exercise and make it the hidden test set.

    It is validated with ``allow_pickle=False`` before it replaces anything: a bad file changes
    nothing. Students' past submissions keep the grades they had; regrade to apply it to them.
    """
    p = model_params(exercise.params)
    spec = DATASETS[p["dataset"]]
    digest = hashlib.sha256()
    with upload_local_path(upload) as local:
        with open(local, "rb") as source:
            for chunk in iter(lambda: source.read(1 << 20), b""):
                digest.update(chunk)
        _x, y = load_test_set(local, input_shape=tuple(spec.input_shape), num_classes=len(spec.class_names))
    upload.seek(0)
    field = HiddenTestSet._meta.get_field("file")
    name = field.storage.save(f"testsets/exercise-{exercise.pk}-{digest.hexdigest()[:16]}.npz", upload,
                              max_length=field.max_length)
    test_set, _ = HiddenTestSet.objects.update_or_create(
        exercise=exercise,
        defaults={"file": name, "size": int(len(y)), "sha256": digest.hexdigest(), "uploaded_by": user},
    )
    return test_set
