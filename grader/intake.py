"""Static checks of an uploaded ``.keras`` model, before Keras ever opens it.

A ``.keras`` file is a zip archive. Keras 3.15 writes exactly three members for a Sequential or
Functional model saved with ``model.save("model.keras")``:

- ``metadata.json``: ``{"keras_version": ..., "date_saved": ...}``;
- ``config.json``: the architecture, every object written as
  ``{"module", "class_name", "config", "registered_name", ...}``;
- ``model.weights.h5``: the weights (and the optimizer's state), in HDF5.

Why check by hand rather than trust ``keras.models.load_model(..., safe_mode=True)``:
``safe_mode`` only refuses Python lambdas. It is not a sandbox. Loading a config imports any
module it names under ``keras.*``, resolves any exported Keras function by name (some read or
download files), rebuilds custom objects registered in the loading process, and allocates every
weight the config asks for before a single value is read. So the worker runs this module first,
in the trusted process, on bytes only, and refuses anything outside a small known-good subset of
Keras; the model is then loaded in a sandbox process anyway (see DESIGN.md).

``check_model_file`` applies these rules, in this order (cheap ones first, nothing decompressed
before the sizes declared in the archive are known to be sane):

1. **Extension** ``.keras``. ``.h5``/``.hdf5`` is Keras' legacy format: it carries the model as
   pickled/marshalled Python in places (Lambda bytecode) and is loaded by other code paths, so
   it is refused with the fix (``model.save("model.keras")``).
2. **File size** at most ``max_bytes``, checked on disk before reading anything.
3. **A valid zip**: ``zipfile.is_zipfile``; a truncated upload is named as such.
4. **Members**: only the three names above (no ``assets/``: none of the allowed layers needs
   files, and files are what lookup layers and ``TFSMLayer`` use), no duplicates, no absolute
   path, no ``..``, no backslash, no encryption, only stored or deflated.
5. **Sizes declared in the archive**: total uncompressed size at most 200 MB, and a compression
   ratio at most 100 for every member above 1 MiB (a zip bomb inflates a few kilobytes into
   gigabytes; Keras stores its members uncompressed, so honest files have a ratio of about 1).
6. **CRC of every member** (``testzip``), which reads the data, now that its size is bounded.
7. **metadata.json** small and a JSON object; **model.weights.h5** starts with the HDF5
   signature.
8. **config.json**: at most 1 MB, nesting depth at most 64 (checked before parsing: a deep
   JSON exhausts the parser's recursion), no duplicate keys, no huge integers.
9. **Every object in the config** (any dict with a ``class_name``, at any depth, including
   ``compile_config``): its ``module`` is ``keras`` or ``keras.<something>`` and the pair
   (module, class) is on an explicit allow-list; ``registered_name`` is null or the class name
   itself (anything else names a custom object registered in the loading process). Lambdas
   (``__lambda__``), serialised functions (``"class_name": "function"``, except built-in
   activations, losses and metrics by name), tensors, numpy arrays and type specs are refused.
10. **Layers**: each one in an allow-list (convolutions, pooling, dense, normalisation, dropout,
    activations, reshape/merge, the four random augmentations, nested Sequential/Functional);
    ``Lambda``, ``TFSMLayer``, ``TorchModuleWrapper``, ``JaxLayer``, ``FlaxLayer``, lookup and
    text layers, and anything unknown are refused by name. A key named ``function`` (how
    ``Lambda`` carries its code) is refused anywhere.
11. **Activations**: a built-in name (``"relu"``) or ``{"module": "keras.activations", ...}``.
12. **Strings**: none that names a dangerous module or built-in (``os.system``, ``subprocess``,
    ``builtins.eval``, ``__import__``, ...), a dunder, a URL or an absolute path; none longer
    than 10,000 characters (serialised bytecode is long).
13. **Shape bomb**: from the config alone, follow the shapes from the input through every layer
    and count the parameters with the course's formulas (``((m×n×d)+1)×k``, ``(n_in+1)×n_out``,
    ...). Refuse above 50 million parameters, or a layer output above 64 million values per
    image, before Keras allocates a single weight. Where the config gives two shapes for a layer
    (the propagated one and its ``build_config``), the larger count is used.

Every refusal raises ``IntakeError`` with a bilingual explanation meant for a student.
"""
from __future__ import annotations

import json
import math
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from grader.layers import window_output
from grader.result import I18nText, i18n
from grader.text import format_int

MAX_UNCOMPRESSED_BYTES = 200 * 1024 * 1024
MAX_COMPRESSION_RATIO = 100
RATIO_CHECKED_ABOVE = 1024 * 1024
MAX_CONFIG_BYTES = 1024 * 1024
MAX_METADATA_BYTES = 64 * 1024
MAX_JSON_DEPTH = 64
MAX_STRING_CHARS = 10_000
MAX_INT_DIGITS = 18
MAX_LAYERS = 1_000
MAX_PARAMS = 50_000_000
MAX_VALUES_PER_IMAGE = 64 * 1024 * 1024

ALLOWED_MEMBERS = ("metadata.json", "config.json", "model.weights.h5")
REQUIRED_MEMBERS = ("config.json", "model.weights.h5")
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

MODEL_CLASSES: dict[str, frozenset[str]] = {
    "Sequential": frozenset({"keras", "keras.models"}),
    "Functional": frozenset({"keras.src.models.functional"}),
    "Model": frozenset({"keras", "keras.models"}),
}

ALLOWED_LAYERS = frozenset({
    "InputLayer", "Conv2D", "SeparableConv2D", "DepthwiseConv2D", "Dense",
    "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D",
    "Flatten", "Dropout", "SpatialDropout2D", "BatchNormalization", "LayerNormalization",
    "Normalization", "Activation", "ReLU", "LeakyReLU", "Softmax", "Rescaling", "Reshape",
    "Add", "Concatenate", "ZeroPadding2D",
    "RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom",
})

# Refused with a reason of their own, so the student learns why.
FORBIDDEN_LAYERS: dict[str, tuple[str, str]] = {
    "Lambda": ("elle contient du code Python (le corps de la fonction), qui serait exécuté "
               "au chargement", "it holds Python code (the function's body), which would run "
               "when the model is loaded"),
    "TFSMLayer": ("elle charge un SavedModel TensorFlow depuis un chemin de fichier, avec son "
                  "propre graphe de calcul", "it loads a TensorFlow SavedModel from a file "
                  "path, with its own computation graph"),
    "TorchModuleWrapper": ("elle contient un module PyTorch sérialisé (pickle)",
                           "it holds a pickled PyTorch module"),
    "JaxLayer": ("elle appelle une fonction JAX arbitraire", "it calls an arbitrary JAX "
                 "function"),
    "FlaxLayer": ("elle appelle un module Flax arbitraire", "it calls an arbitrary Flax module"),
}
LOOKUP_LAYERS = frozenset({
    "StringLookup", "IntegerLookup", "TextVectorization", "Hashing", "HashedCrossing",
    "CategoryEncoding", "Discretization",
})

# Objects that may appear inside layer configs and compile_config, by module.
AUXILIARY_CLASSES: dict[str, frozenset[str]] = {
    "keras": frozenset({"DTypePolicy", "FloatDTypePolicy"}),
    "keras.dtype_policies": frozenset({"DTypePolicy", "FloatDTypePolicy"}),
    "keras.initializers": frozenset({
        "Constant", "GlorotNormal", "GlorotUniform", "HeNormal", "HeUniform", "Identity",
        "IdentityInitializer", "LecunNormal", "LecunUniform", "Ones", "Orthogonal",
        "OrthogonalInitializer", "RandomNormal", "RandomUniform", "TruncatedNormal",
        "VarianceScaling", "Zeros"}),
    "keras.regularizers": frozenset({"L1", "L2", "L1L2", "OrthogonalRegularizer"}),
    "keras.constraints": frozenset({"MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm"}),
    "keras.optimizers": frozenset({
        "Adadelta", "Adafactor", "Adagrad", "Adam", "AdamW", "Adamax", "Ftrl", "Lamb", "Lion",
        "Nadam", "RMSprop", "SGD"}),
    "keras.optimizers.schedules": frozenset({
        "CosineDecay", "CosineDecayRestarts", "ExponentialDecay", "InverseTimeDecay",
        "PiecewiseConstantDecay", "PolynomialDecay"}),
    "keras.losses": frozenset({
        "BinaryCrossentropy", "BinaryFocalCrossentropy", "CategoricalCrossentropy",
        "CategoricalFocalCrossentropy", "CategoricalHinge", "CosineSimilarity", "Hinge", "Huber",
        "KLDivergence", "LogCosh", "MeanAbsoluteError", "MeanAbsolutePercentageError",
        "MeanSquaredError", "MeanSquaredLogarithmicError", "Poisson",
        "SparseCategoricalCrossentropy", "SquaredHinge"}),
    "keras.metrics": frozenset({
        "AUC", "Accuracy", "BinaryAccuracy", "BinaryCrossentropy", "CategoricalAccuracy",
        "CategoricalCrossentropy", "F1Score", "FBetaScore", "FalseNegatives", "FalsePositives",
        "Mean", "MeanAbsoluteError", "MeanSquaredError", "Precision", "Recall",
        "SparseCategoricalAccuracy", "SparseCategoricalCrossentropy",
        "SparseTopKCategoricalAccuracy", "TopKCategoricalAccuracy", "TrueNegatives",
        "TruePositives"}),
}

ACTIVATIONS = frozenset({
    "celu", "elu", "exponential", "gelu", "glu", "hard_shrink", "hard_sigmoid", "hard_silu",
    "hard_swish", "hard_tanh", "leaky_relu", "linear", "log_sigmoid", "log_softmax", "mish",
    "relu", "relu6", "selu", "sigmoid", "silu", "soft_shrink", "softmax", "softplus",
    "softsign", "sparse_plus", "sparse_sigmoid", "sparsemax", "squareplus", "swish", "tanh",
    "tanh_shrink", "threshold",
})
# Functions Keras may write by name in compile_config ({"class_name": "function", ...}).
FUNCTIONS_BY_MODULE: dict[str, frozenset[str]] = {
    "keras.activations": ACTIVATIONS,
    "keras.losses": frozenset({
        "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy",
        "mean_squared_error", "mean_absolute_error", "categorical_hinge", "hinge", "huber",
        "kl_divergence", "log_cosh", "poisson", "squared_hinge"}),
    "keras.metrics": frozenset({
        "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
        "sparse_top_k_categorical_accuracy", "top_k_categorical_accuracy",
        "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy",
        "mean_squared_error", "mean_absolute_error"}),
}

# The special class names of Keras' serialisation that are not Keras classes.
SERIALISED_PYTHON = {
    "__lambda__": ("une fonction Python (lambda) et son code", "a Python function (lambda) "
                   "and its code"),
    "__typespec__": ("un TypeSpec TensorFlow", "a TensorFlow TypeSpec"),
    "__tensor__": ("un tenseur", "a tensor"),
    "__numpy__": ("un tableau numpy", "a numpy array"),
    "__bytes__": ("des octets bruts", "raw bytes"),
    "__slice__": ("une tranche Python", "a Python slice"),
    "__ellipsis__": ("une ellipse Python", "a Python ellipsis"),
}
FORBIDDEN_KEYS = frozenset({"function", "function_type", "output_shape_type",
                            "output_shape_module"})

_DANGEROUS_MODULES = ("os", "posix", "nt", "subprocess", "builtins", "__builtin__", "sys",
                      "shutil", "importlib", "pickle", "marshal", "ctypes", "socket", "runpy",
                      "pty", "code", "pathlib", "io", "tensorflow", "tf", "torch", "jax",
                      "numpy", "np", "requests", "urllib", "http")
_DANGEROUS_NAMES = ("eval", "exec", "execfile", "compile", "system", "popen", "spawn",
                    "getattr", "setattr", "open", "__import__", "import_module", "get_file")
_DANGEROUS_STRING = re.compile(
    r"(?<![\w.])(?:" + "|".join(_DANGEROUS_MODULES) + r")\.[A-Za-z_]"
    r"|^\s*(?:" + "|".join(_DANGEROUS_NAMES) + r")\s*$"
    r"|\b(?:eval|exec|__import__|getattr|system|popen)\s*\("
    r"|__[A-Za-z0-9]\w*__"
    r"|[a-z][a-z0-9+.-]*://"
    r"|^(?:/|[A-Za-z]:[\\/]|~/)|(?:^|[\\/])\.\.(?:[\\/]|$)")
_ALLOWED_DUNDERS = frozenset({"__keras_tensor__"})


class IntakeError(ValueError):
    """An uploaded model refused before loading; ``message`` explains why, in French and English.

    ``code`` is a short stable key for the rule that refused it (``"extension"``,
    ``"zip_bomb"``, ``"forbidden_layer"``, ...), for statistics and tests.
    """

    def __init__(self, message: I18nText, *, code: str = "refused"):
        super().__init__(message.get("en") or message.get("fr"))
        self.message = message
        self.code = code


@dataclass(frozen=True)
class IntakeLayer:
    """One layer found in the config. ``path`` names nested models, e.g. ``backbone/conv1``."""

    name: str
    class_name: str
    config: dict[str, Any]
    path: str
    input_shape: tuple[int | None, ...] | None
    output_shape: tuple[int | None, ...] | None
    params: int


@dataclass(frozen=True)
class IntakeReport:
    """What the static checks learnt about an accepted file."""

    config: dict[str, Any]
    layers: list[IntakeLayer]
    estimated_params: int
    input_shape: tuple[int | None, ...] | None
    output_shape: tuple[int | None, ...] | None
    keras_version: str | None
    members: dict[str, int] = field(default_factory=dict)  # name → uncompressed bytes


def _refuse(code: str, fr: str, en: str) -> IntakeError:
    return IntakeError(i18n(f"Modèle refusé : {fr}", f"Model refused: {en}"), code=code)


def _quote(value: Any, limit: int = 80) -> str:
    """A value from the upload, safe to show: shortened, control characters escaped."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = text[:limit + 1]
    text = "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)
    return text if len(text) <= limit else text[:limit] + "…"


# ----------------------------------------------------------------------------- entry point

def check_model_file(path: Path, *, filename: str, max_bytes: int) -> IntakeReport:
    """Check an uploaded model file statically; return what it holds or raise ``IntakeError``.

    ``filename`` is the name the student gave the file (the stored ``path`` may be renamed).
    Any unexpected failure while analysing the file also refuses it (fail closed).
    """
    try:
        return _check_model_file(Path(path), filename=filename, max_bytes=max_bytes)
    except IntakeError:
        raise
    except RecursionError:
        raise _refuse("config_depth", "la configuration est imbriquée trop profondément.",
                      "the configuration is nested too deeply.") from None
    except Exception as error:
        raise _refuse(
            "unreadable",
            f"le fichier n'a pas pu être analysé ({type(error).__name__}). Enregistrez le "
            f"modèle avec model.save(\"model.keras\") et envoyez ce fichier tel quel.",
            f"the file could not be analysed ({type(error).__name__}). Save the model with "
            f"model.save(\"model.keras\") and upload that file as it is.") from error


def _check_model_file(path: Path, *, filename: str, max_bytes: int) -> IntakeReport:
    _check_extension(filename)
    size = path.stat().st_size
    if size > max_bytes:
        raise _refuse(
            "file_size",
            f"le fichier pèse {size / 2**20:.1f} Mo, la limite de cet exercice est "
            f"{max_bytes / 2**20:.1f} Mo. Réduisez le modèle (moins de filtres, un "
            f"GlobalAveragePooling2D plutôt qu'un Flatten avant les couches denses).",
            f"the file is {size / 2**20:.1f} MB, this exercise's limit is "
            f"{max_bytes / 2**20:.1f} MB. Make the model smaller (fewer filters, a "
            f"GlobalAveragePooling2D rather than a Flatten before the dense layers).")
    with open(path, "rb") as handle:
        head = handle.read(8)
    if head == HDF5_SIGNATURE:
        raise _refuse("legacy_h5", *_H5_REASON)
    if not zipfile.is_zipfile(path):
        if head.startswith(b"PK\x03\x04"):
            raise _refuse(
                "truncated_zip",
                "l'archive .keras est incomplète (tronquée) : l'envoi a sans doute été "
                "interrompu. Envoyez le fichier à nouveau.",
                "the .keras archive is incomplete (truncated): the upload was probably cut "
                "short. Upload the file again.")
        raise _refuse(
            "not_zip",
            "ce n'est pas un fichier .keras : un .keras est une archive zip écrite par "
            "model.save(\"model.keras\"). Renommer un autre fichier ne suffit pas.",
            "this is not a .keras file: a .keras file is a zip archive written by "
            "model.save(\"model.keras\"). Renaming another file does not make one.")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
        raise _refuse("bad_zip", "l'archive zip est abîmée ; enregistrez et envoyez-la à nouveau.",
                      "the zip archive is damaged; save it and upload it again.") from None
    with archive:
        members = _check_members(archive)
        _check_crc(archive)
        keras_version = _read_metadata(archive) if "metadata.json" in members else None
        _check_weights_header(archive)
        config = _read_config(archive)
    _check_tree(config)
    analysis = _Analysis()
    input_shape, output_shape = analysis.model(config, given=None, path="")
    return IntakeReport(config=config, layers=analysis.layers, estimated_params=analysis.params,
                        input_shape=input_shape, output_shape=output_shape,
                        keras_version=keras_version, members=members)


_H5_REASON = (
    "le format .h5/.hdf5 est l'ancien format de Keras : il peut contenir du code Python "
    "sérialisé et passe par d'autres chemins de chargement, moins sûrs. Enregistrez le modèle "
    "au format actuel avec model.save(\"model.keras\") et envoyez ce fichier.",
    "the .h5/.hdf5 format is Keras' legacy format: it can hold serialised Python code and "
    "goes through other, less safe loading paths. Save the model in the current format with "
    "model.save(\"model.keras\") and upload that file.")


def _check_extension(filename: str) -> None:
    suffix = PurePosixPath(str(filename).replace("\\", "/")).suffix.lower()
    if suffix == ".keras":
        return
    if suffix in (".h5", ".hdf5"):
        raise _refuse("legacy_h5", *_H5_REASON)
    shown = suffix or "aucune"
    raise _refuse(
        "extension",
        f"seuls les fichiers .keras sont acceptés (extension reçue : {shown}). Enregistrez le "
        f"modèle avec model.save(\"model.keras\").",
        f"only .keras files are accepted (extension received: {suffix or 'none'}). Save the "
        f"model with model.save(\"model.keras\").")


# ----------------------------------------------------------------------------- the archive

def _check_members(archive: zipfile.ZipFile) -> dict[str, int]:
    infos = archive.infolist()
    names = [info.filename for info in infos]
    for name in names:
        parts = name.replace("\\", "/").split("/")
        if (name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts
                or "\\" in name or "\x00" in name):
            raise _refuse(
                "member_path",
                f"l'archive contient un chemin dangereux ({_quote(name)}) : un chemin absolu "
                f"ou « .. » pourrait écrire hors du dossier lors de l'extraction.",
                f"the archive holds a dangerous path ({_quote(name)}): an absolute path or "
                f"“..” could write outside the folder when extracted.")
    for name in names:
        if name not in ALLOWED_MEMBERS:
            raise _refuse(
                "extra_member",
                f"l'archive contient « {_quote(name)} », qu'un modèle .keras n'a pas. Seuls "
                f"{', '.join(ALLOWED_MEMBERS)} sont acceptés (pas de dossier assets/ : les "
                f"couches autorisées n'en ont pas besoin). Enregistrez le modèle directement "
                f"avec model.save(\"model.keras\") sans retoucher l'archive.",
                f"the archive holds “{_quote(name)}”, which a .keras model does not have. "
                f"Only {', '.join(ALLOWED_MEMBERS)} are accepted (no assets/ folder: the "
                f"allowed layers do not need one). Save the model directly with "
                f"model.save(\"model.keras\") without editing the archive.")
    if len(set(names)) != len(names):
        raise _refuse("duplicate_member", "l'archive contient deux fois le même fichier.",
                      "the archive holds the same file twice.")
    for required in REQUIRED_MEMBERS:
        if required not in names:
            raise _refuse(
                "missing_member",
                f"l'archive n'a pas de {required} : ce n'est pas un modèle complet. "
                f"Enregistrez-le avec model.save(\"model.keras\").",
                f"the archive has no {required}: it is not a complete model. Save it with "
                f"model.save(\"model.keras\").")
    total = 0
    for info in infos:
        if info.flag_bits & 0x1:
            raise _refuse("encrypted", "l'archive est chiffrée.", "the archive is encrypted.")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _refuse(
                "compression",
                "l'archive utilise une compression que Keras n'écrit pas.",
                "the archive uses a compression method that Keras does not write.")
        if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
            raise _refuse("bad_zip", "l'archive zip est incohérente (tailles).",
                          "the zip archive is inconsistent (sizes).")
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > RATIO_CHECKED_ABOVE and ratio > MAX_COMPRESSION_RATIO:
            raise _refuse(
                "zip_bomb",
                f"« {_quote(info.filename)} » se décompresse {ratio:,.0f} fois plus gros "
                f"(limite {MAX_COMPRESSION_RATIO}) : c'est la signature d'une bombe zip.",
                f"“{_quote(info.filename)}” inflates {ratio:,.0f} times (limit "
                f"{MAX_COMPRESSION_RATIO}): that is the signature of a zip bomb.")
        total += info.file_size
    if total > MAX_UNCOMPRESSED_BYTES:
        raise _refuse(
            "zip_bomb",
            f"le contenu décompressé pèserait {total / 2**20:,.0f} Mo (limite "
            f"{MAX_UNCOMPRESSED_BYTES / 2**20:.0f} Mo) : c'est la signature d'une bombe zip "
            f"ou d'un modèle bien trop gros.",
            f"the uncompressed content would take {total / 2**20:,.0f} MB (limit "
            f"{MAX_UNCOMPRESSED_BYTES / 2**20:.0f} MB): that is the signature of a zip bomb or "
            f"of a far too large model.")
    return {info.filename: info.file_size for info in infos}


def _check_crc(archive: zipfile.ZipFile) -> None:
    try:
        bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as error:
        raise _refuse("bad_zip", f"l'archive zip est abîmée ({_quote(str(error))}).",
                      f"the zip archive is damaged ({_quote(str(error))}).") from None
    except Exception as error:  # noqa: BLE001 (zlib.error and friends: any failure is a damaged zip)
        raise _refuse("bad_zip", f"l'archive zip est abîmée ({type(error).__name__}).",
                      f"the zip archive is damaged ({type(error).__name__}).") from None
    if bad is not None:
        raise _refuse("bad_zip", f"« {_quote(bad)} » est abîmé dans l'archive (CRC faux).",
                      f"“{_quote(bad)}” is damaged in the archive (wrong CRC).")


def _read_metadata(archive: zipfile.ZipFile) -> str | None:
    if archive.getinfo("metadata.json").file_size > MAX_METADATA_BYTES:
        raise _refuse("metadata", "metadata.json est anormalement gros.",
                      "metadata.json is abnormally large.")
    metadata = _parse_json(archive.read("metadata.json"), "metadata.json")
    if not isinstance(metadata, dict):
        raise _refuse("metadata", "metadata.json n'est pas un objet JSON.",
                      "metadata.json is not a JSON object.")
    version = metadata.get("keras_version")
    return version if isinstance(version, str) else None


def _check_weights_header(archive: zipfile.ZipFile) -> None:
    with archive.open("model.weights.h5") as weights:
        head = weights.read(len(HDF5_SIGNATURE))
    if head != HDF5_SIGNATURE:
        raise _refuse("weights", "model.weights.h5 n'est pas un fichier HDF5 de poids.",
                      "model.weights.h5 is not an HDF5 weights file.")


# ----------------------------------------------------------------------------- JSON

_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)


def _json_depth(raw: bytes) -> int:
    """The deepest nesting of ``[`` and ``{`` outside strings, without a recursive parser."""
    stripped = np.frombuffer(_JSON_STRING.sub(b'""', raw), dtype=np.uint8)
    if stripped.size == 0:
        return 0
    steps = (np.isin(stripped, (ord("["), ord("{"))).astype(np.int64)
             - np.isin(stripped, (ord("]"), ord("}"))))
    return int(np.cumsum(steps).max())


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _refuse("config_value", f"la configuration contient un entier démesuré "
                      f"({_quote(text, 30)}).",
                      f"the configuration holds an enormous integer ({_quote(text, 30)}).")
    return int(text)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        twice = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise _refuse("config_json", f"la clé « {_quote(twice)} » apparaît deux fois dans un "
                      f"même objet JSON.", f"the key “{_quote(twice)}” appears twice in one "
                      f"JSON object.")
    return result


def _parse_json(raw: bytes, member: str) -> Any:
    if _json_depth(raw) > MAX_JSON_DEPTH:
        raise _refuse("config_depth",
                      f"{member} est imbriqué sur plus de {MAX_JSON_DEPTH} niveaux.",
                      f"{member} is nested more than {MAX_JSON_DEPTH} levels deep.")
    try:
        return json.loads(raw.decode("utf-8"), parse_int=_bounded_int,
                          object_pairs_hook=_no_duplicates)
    except IntakeError:
        raise
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as error:
        raise _refuse("config_json", f"{member} n'est pas un JSON valide ({_quote(str(error))}).",
                      f"{member} is not valid JSON ({_quote(str(error))}).") from None


def _read_config(archive: zipfile.ZipFile) -> dict[str, Any]:
    if archive.getinfo("config.json").file_size > MAX_CONFIG_BYTES:
        raise _refuse(
            "config_size",
            f"config.json dépasse {MAX_CONFIG_BYTES // 1024} Ko : un modèle de cours en fait "
            f"quelques dizaines.",
            f"config.json exceeds {MAX_CONFIG_BYTES // 1024} KB: a course model takes a few "
            f"tens.")
    config = _parse_json(archive.read("config.json"), "config.json")
    if not isinstance(config, dict):
        raise _refuse("not_a_model", "config.json ne décrit pas un modèle Keras.",
                      "config.json does not describe a Keras model.")
    return config


# ----------------------------------------------------------------------------- the config tree

def _check_tree(node: Any, where: str = "") -> None:
    """Rules 9 to 12 on every value of the config, at any depth."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in FORBIDDEN_KEYS:
                raise _refuse(
                    "function",
                    f"la configuration contient une clé « {key} » ({where or 'racine'}) : "
                    f"c'est ainsi qu'une couche Lambda transporte du code Python.",
                    f"the configuration holds a “{key}” key ({where or 'root'}): that is how a "
                    f"Lambda layer carries Python code.")
            _check_string(key, where)
            if key in ("activation", "recurrent_activation"):
                _check_activation(value, where)
        if "class_name" in node:
            _check_object(node, where)
            name = node.get("config", {}).get("name") if isinstance(
                node.get("config"), dict) else None
            where = f"{where}/{_quote(name, 40)}" if isinstance(name, str) else where
        for value in node.values():
            _check_tree(value, where)
    elif isinstance(node, list):
        for value in node:
            _check_tree(value, where)
    elif isinstance(node, str):
        _check_string(node, where)


def _check_string(text: str, where: str) -> None:
    if len(text) > MAX_STRING_CHARS:
        raise _refuse(
            "long_string",
            f"la configuration contient un texte de {format_int(len(text), 'fr')} caractères "
            f"({where or 'racine'}) : c'est la forme que prend du code sérialisé.",
            f"the configuration holds a string of {format_int(len(text), 'en')} characters "
            f"({where or 'root'}): that is what serialised code looks like.")
    if text in _ALLOWED_DUNDERS:
        return
    match = _DANGEROUS_STRING.search(text)
    if match:
        raise _refuse(
            "dangerous_string",
            f"la configuration contient « {_quote(text)} » ({where or 'racine'}), qui désigne "
            f"du code Python, un module système, un fichier ou une adresse réseau. Un modèle "
            f"n'en a jamais besoin.",
            f"the configuration holds “{_quote(text)}” ({where or 'root'}), which names Python "
            f"code, a system module, a file or a network address. A model never needs one.")


def _check_activation(value: Any, where: str) -> None:
    if value is None:
        return
    if isinstance(value, str) and value in ACTIVATIONS:
        return
    if (isinstance(value, dict) and value.get("module") == "keras.activations"
            and value.get("class_name") == "function" and value.get("config") in ACTIVATIONS):
        return
    raise _refuse(
        "activation",
        f"activation inconnue {_quote(value)} ({where or 'racine'}) : seules les activations "
        f"intégrées à Keras sont acceptées, par leur nom (\"relu\", \"softmax\", ...).",
        f"unknown activation {_quote(value)} ({where or 'root'}): only Keras' built-in "
        f"activations are accepted, by name (\"relu\", \"softmax\", ...).")


def _check_object(node: dict[str, Any], where: str) -> None:
    class_name = node.get("class_name")
    if not isinstance(class_name, str):
        raise _refuse("config_value", f"« class_name » doit être un texte ({where or 'racine'}).",
                      f"“class_name” must be a string ({where or 'root'}).")
    if class_name == "__keras_tensor__":
        return
    if class_name in SERIALISED_PYTHON:
        fr, en = SERIALISED_PYTHON[class_name]
        raise _refuse(
            "serialised_python",
            f"la configuration contient {fr} ({where or 'racine'}) : du code ou des objets "
            f"Python sérialisés ne sont jamais chargés.",
            f"the configuration holds {en} ({where or 'root'}): serialised Python code or "
            f"objects are never loaded.")
    module = node.get("module")
    registered = node.get("registered_name")
    if class_name == "function":
        allowed = FUNCTIONS_BY_MODULE.get(module) if isinstance(module, str) else None
        if allowed is None or node.get("config") not in allowed:
            raise _refuse(
                "function",
                f"la configuration désigne une fonction Python ({_quote(module)}."
                f"{_quote(node.get('config'))}, {where or 'racine'}) : seules les activations, "
                f"pertes et métriques intégrées à Keras sont acceptées, par leur nom.",
                f"the configuration names a Python function ({_quote(module)}."
                f"{_quote(node.get('config'))}, {where or 'root'}): only Keras' built-in "
                f"activations, losses and metrics are accepted, by name.")
        return
    _check_layer_name(class_name, where)
    if registered is not None and registered != class_name:
        raise _refuse(
            "custom_object",
            f"« {_quote(class_name)} » porte le nom enregistré « {_quote(registered)} » "
            f"({where or 'racine'}) : c'est un objet personnalisé "
            f"(@register_keras_serializable), refusé car son code n'est pas celui de Keras.",
            f"“{_quote(class_name)}” carries the registered name “{_quote(registered)}” "
            f"({where or 'root'}): it is a custom object (@register_keras_serializable), "
            f"refused because its code is not Keras' own.")
    if not isinstance(module, str) or not (module == "keras" or module.startswith("keras.")):
        raise _refuse(
            "module",
            f"l'objet « {_quote(class_name)} » vient du module {_quote(module)} "
            f"({where or 'racine'}) : seules les classes de Keras lui-même (module keras.*) "
            f"sont acceptées, jamais un objet personnalisé ou un autre module.",
            f"the object “{_quote(class_name)}” comes from the module {_quote(module)} "
            f"({where or 'root'}): only Keras' own classes (module keras.*) are accepted, never "
            f"a custom object or another module.")
    if class_name in MODEL_CLASSES and module in MODEL_CLASSES[class_name]:
        return
    if module == "keras.layers" and class_name in ALLOWED_LAYERS:
        return
    if class_name in AUXILIARY_CLASSES.get(module, ()):
        return
    raise _refuse(
        "forbidden_object",
        f"l'objet {_quote(module)}.{_quote(class_name)} ({where or 'racine'}) ne fait pas "
        f"partie des classes Keras acceptées pour cet exercice.",
        f"the object {_quote(module)}.{_quote(class_name)} ({where or 'root'}) is not one of "
        f"the Keras classes accepted for this exercise.")


def _check_layer_name(class_name: str, where: str) -> None:
    """Refuse the known-dangerous layers by name, with their reason."""
    if class_name in FORBIDDEN_LAYERS:
        fr, en = FORBIDDEN_LAYERS[class_name]
        raise _refuse(
            "forbidden_layer",
            f"la couche {class_name} ({where or 'racine'}) est interdite : {fr}. Remplacez-la "
            f"par des couches standard (par exemple Rescaling ou Activation au lieu d'une "
            f"Lambda).",
            f"the {class_name} layer ({where or 'root'}) is forbidden: {en}. Replace it with "
            f"standard layers (for instance Rescaling or Activation instead of a Lambda).")
    if class_name in LOOKUP_LAYERS:
        raise _refuse(
            "forbidden_layer",
            f"la couche {class_name} ({where or 'racine'}) est interdite : les couches de "
            f"prétraitement de texte ou de catégories lisent des vocabulaires (fichiers) et "
            f"n'ont pas leur place dans un classifieur d'images.",
            f"the {class_name} layer ({where or 'root'}) is forbidden: text and category "
            f"preprocessing layers read vocabularies (files) and have no place in an image "
            f"classifier.")


# ----------------------------------------------------------------------------- shape bomb

Shape = tuple[int | None, ...]

_IDENTITY_LAYERS = frozenset({
    "Dropout", "SpatialDropout2D", "BatchNormalization", "LayerNormalization", "Normalization",
    "Activation", "ReLU", "LeakyReLU", "Softmax", "Rescaling", "RandomFlip", "RandomRotation",
    "RandomTranslation", "RandomZoom",
})


def _bad_value(class_name: str, name: str, key: str, value: Any) -> IntakeError:
    return _refuse(
        "config_value",
        f"la couche {class_name} « {_quote(name)} » a une valeur impossible pour « {key} » : "
        f"{_quote(value)}.",
        f"the {class_name} layer “{_quote(name)}” has an impossible value for “{key}”: "
        f"{_quote(value)}.")


class _LayerConfig:
    """Typed reads of one layer's config; a bad value refuses the file."""

    def __init__(self, class_name: str, name: str, config: Mapping[str, Any]):
        self.class_name, self.name, self.config = class_name, name, config

    def integer(self, key: str, default: int | None = None, *, minimum: int = 1) -> int:
        value = self.config.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise _bad_value(self.class_name, self.name, key, value)
        return value

    def pair(self, key: str, default: Any = None, *, minimum: int = 1) -> tuple[int, int]:
        value = self.config.get(key, default)
        if isinstance(value, list) and len(value) == 2:
            first, second = value
        elif isinstance(value, list) and len(value) == 1:
            first = second = value[0]
        else:
            first = second = value
        for item in (first, second):
            if isinstance(item, bool) or not isinstance(item, int) or item < minimum:
                raise _bad_value(self.class_name, self.name, key, value)
        return first, second

    def flag(self, key: str, default: bool) -> bool:
        value = self.config.get(key, default)
        if not isinstance(value, bool):
            raise _bad_value(self.class_name, self.name, key, value)
        return value

    def padding(self) -> str:
        value = self.config.get("padding", "valid")
        if value not in ("valid", "same"):
            raise _bad_value(self.class_name, self.name, "padding", value)
        return value

    def channels_axis(self) -> int:
        value = self.config.get("data_format", "channels_last")
        if value in (None, "channels_last"):
            return -1
        if value == "channels_first":
            return 0
        raise _bad_value(self.class_name, self.name, "data_format", value)


def _read_shape(value: Any, *, batch: bool) -> Shape | None:
    """A shape from the config (``[null, 32, 32, 3]``), batch dimension dropped."""
    if not isinstance(value, list) or (batch and not value):
        return None
    dims = value[1:] if batch else value
    shape = []
    for dim in dims:
        if dim is None:
            shape.append(None)
        elif isinstance(dim, bool) or not isinstance(dim, int) or dim < 0:
            return None
        else:
            shape.append(dim)
    return tuple(shape)


def _values(shape: Shape) -> int | None:
    return None if any(dim is None for dim in shape) else math.prod(shape)


def _window(size: int | None, window: int, stride: int, padding: str,
            dilation: int = 1) -> int | None:
    """``grader.layers.window_output`` for a dimension that may be unknown (None), never below 0."""
    if size is None:
        return None
    return max(0, window_output(size, window, stride, padding, dilation))


def _spatial(shape: Shape, axis: int) -> tuple[int | None, int | None]:
    if len(shape) != 3:
        return None, None
    return (shape[1], shape[2]) if axis == 0 else (shape[0], shape[1])


def _image(shape: Shape, axis: int, rows: int | None, cols: int | None,
           channels: int | None) -> Shape:
    return (channels, rows, cols) if axis == 0 else (rows, cols, channels)


def _channels(shape: Shape, axis: int) -> int | None:
    if not shape:
        return None
    return shape[0] if axis == 0 else shape[-1]


def _axis_size(read: _LayerConfig, shape: Shape, axis: Any) -> int | None:
    """The number of values along normalisation axes (Keras counts the batch as axis 0)."""
    axes = axis if isinstance(axis, list) else [axis]
    rank = len(shape) + 1
    size = 1
    for item in axes:
        if isinstance(item, bool) or not isinstance(item, int) or not -rank < item < rank \
                or item == 0:
            raise _bad_value(read.class_name, read.name, "axis", axis)
        dim = shape[item - 1] if item > 0 else shape[item]
        if dim is None:
            return None
        size *= dim
    return size


def layer_estimate(class_name: str, config: Mapping[str, Any],
                   shape: Shape | None) -> tuple[int | None, Shape | None]:
    """(parameters, output shape) of one plain layer on an input shape (batch left out).

    Either may be ``None`` when the input is not known well enough. The counts are the course's
    formulas, extended to the allowed layers: ``((m×n×d)+1)×k`` for Conv2D, ``(n_in+1)×n_out``
    for Dense, ``4×channels`` for BatchNormalization, 0 for pooling and reshaping layers.
    """
    name = config.get("name", "?")
    read = _LayerConfig(class_name, name if isinstance(name, str) else "?", config)
    if class_name == "InputLayer":
        declared = _read_shape(config.get("batch_shape", config.get("batch_input_shape")),
                               batch=True)
        if declared is None:
            declared = _read_shape(config.get("shape"), batch=False)
        return 0, declared
    if shape is None:
        return None, None
    if class_name in _IDENTITY_LAYERS:
        if class_name == "BatchNormalization":
            size = _axis_size(read, shape, config.get("axis", -1))
            weights = 2 + read.flag("center", True) + read.flag("scale", True)
            return (None if size is None else weights * size), shape
        if class_name == "LayerNormalization":
            size = _axis_size(read, shape, config.get("axis", -1))
            weights = read.flag("center", True) + read.flag("scale", True)
            return (None if size is None else weights * size), shape
        if class_name == "Normalization":
            size = _axis_size(read, shape, config.get("axis", -1))
            return (None if size is None else 2 * size + 1), shape
        return 0, shape
    if class_name in ("Conv2D", "SeparableConv2D", "DepthwiseConv2D"):
        axis = read.channels_axis()
        rows, cols = read.pair("kernel_size")
        strides = read.pair("strides", 1)
        dilation = read.pair("dilation_rate", 1)
        padding = read.padding()
        bias = read.flag("use_bias", True)
        channels = _channels(shape, axis)
        height, width = _spatial(shape, axis)
        out_rows = _window(height, rows, strides[0], padding, dilation[0])
        out_cols = _window(width, cols, strides[1], padding, dilation[1])
        if class_name == "Conv2D":
            filters = read.integer("filters")
            groups = read.integer("groups", 1)
            out_channels = filters
            params = None if channels is None else (
                rows * cols * (channels // groups) * filters + bias * filters)
        elif class_name == "SeparableConv2D":
            filters = read.integer("filters")
            multiplier = read.integer("depth_multiplier", 1)
            out_channels = filters
            params = None if channels is None else (
                rows * cols * channels * multiplier + channels * multiplier * filters
                + bias * filters)
        else:
            multiplier = read.integer("depth_multiplier", 1)
            out_channels = None if channels is None else channels * multiplier
            params = None if channels is None else (
                rows * cols * channels * multiplier + bias * channels * multiplier)
        return params, _image(shape, axis, out_rows, out_cols, out_channels)
    if class_name in ("MaxPooling2D", "AveragePooling2D"):
        axis = read.channels_axis()
        pool = read.pair("pool_size", 2)
        strides = read.pair("strides", pool) if config.get("strides") is not None else pool
        padding = read.padding()
        height, width = _spatial(shape, axis)
        return 0, _image(shape, axis, _window(height, pool[0], strides[0], padding),
                         _window(width, pool[1], strides[1], padding), _channels(shape, axis))
    if class_name in ("GlobalAveragePooling2D", "GlobalMaxPooling2D"):
        axis = read.channels_axis()
        channels = _channels(shape, axis)
        if read.flag("keepdims", False):
            return 0, _image(shape, axis, 1, 1, channels)
        return 0, (channels,)
    if class_name == "Flatten":
        return 0, (_values(shape),)
    if class_name == "Dense":
        units = read.integer("units")
        bias = read.flag("use_bias", True)
        lora = config.get("lora_rank") or 0
        if isinstance(lora, bool) or not isinstance(lora, int) or lora < 0:
            raise _bad_value(class_name, read.name, "lora_rank", lora)
        n_in = shape[-1] if shape else None
        params = None if n_in is None else n_in * units + bias * units + lora * (n_in + units)
        return params, (*shape[:-1], units) if shape else None
    if class_name == "ZeroPadding2D":
        axis = read.channels_axis()
        value = config.get("padding", 1)
        if isinstance(value, list) and len(value) == 2 and all(
                isinstance(item, list) for item in value):
            top, bottom = _LayerConfig(class_name, read.name, {"p": value[0]}).pair(
                "p", minimum=0)
            left, right = _LayerConfig(class_name, read.name, {"p": value[1]}).pair(
                "p", minimum=0)
        else:
            top, left = read.pair("padding", 1, minimum=0)
            bottom, right = top, left
        height, width = _spatial(shape, axis)
        return 0, _image(shape, axis, None if height is None else height + top + bottom,
                         None if width is None else width + left + right,
                         _channels(shape, axis))
    if class_name == "Reshape":
        target = config.get("target_shape")
        if not isinstance(target, list) or not target or any(
                isinstance(dim, bool) or not isinstance(dim, int) or dim == 0 or dim < -1
                for dim in target) or target.count(-1) > 1:
            raise _bad_value(class_name, read.name, "target_shape", target)
        if -1 in target:
            known = math.prod(dim for dim in target if dim != -1)
            total = _values(shape)
            return 0, tuple(None if dim == -1 and total is None else
                            (total // known if dim == -1 else dim) for dim in target)
        return 0, tuple(target)
    return 0, shape


class _Analysis:
    """Follows the shapes through a model config, counting parameters (rule 13)."""

    def __init__(self) -> None:
        self.layers: list[IntakeLayer] = []
        self.params = 0
        self.count = 0
        self.depth = 0

    # -- models

    def model(self, node: Any, *, given: Shape | None, path: str) -> tuple[Shape | None,
                                                                          Shape | None]:
        """(input shape, output shape) of a Sequential or Functional model config."""
        if not isinstance(node, dict) or node.get("class_name") not in MODEL_CLASSES:
            raise _refuse(
                "not_a_model",
                "config.json ne décrit pas un modèle Sequential ou Functional (créé avec "
                "keras.Sequential ou keras.Model). Les modèles sous-classés ne sont pas "
                "acceptés : leur code Python n'est pas dans le fichier.",
                "config.json does not describe a Sequential or Functional model (made with "
                "keras.Sequential or keras.Model). Subclassed models are not accepted: their "
                "Python code is not in the file.")
        config = node.get("config")
        layers = config.get("layers") if isinstance(config, dict) else None
        if not isinstance(layers, list) or not all(isinstance(layer, dict) for layer in layers):
            raise _refuse("not_a_model", "la liste des couches du modèle est illisible.",
                          "the model's list of layers is unreadable.")
        self.depth += 1
        if self.depth > 8:
            raise _refuse("config_depth", "des modèles imbriqués sur plus de 8 niveaux.",
                          "models nested more than 8 levels deep.")
        if node["class_name"] == "Sequential":
            result = self._sequential(node, config, layers, given, path)
        else:
            result = self._functional(layers, given, path)
        self.depth -= 1
        return result

    def _sequential(self, node: dict[str, Any], config: dict[str, Any], layers: list[dict],
                    given: Shape | None, path: str) -> tuple[Shape | None, Shape | None]:
        declared = [given,
                    _read_shape(config.get("build_input_shape"), batch=True),
                    _read_shape((node.get("build_config") or {}).get("input_shape")
                                if isinstance(node.get("build_config"), dict) else None,
                                batch=True)]
        shape = next((candidate for candidate in declared if candidate is not None), None)
        input_shape = shape
        for index, layer in enumerate(layers):
            if index == 0 and layer.get("class_name") == "InputLayer":
                shape = self.layer(layer, [None], path)
                input_shape = shape
                continue
            shape = self.layer(layer, [shape], path)
        return input_shape, shape

    def _functional(self, layers: list[dict], given: Shape | None,
                    path: str) -> tuple[Shape | None, Shape | None]:
        outputs: dict[str, Shape | None] = {}
        input_shape = output = None
        for layer in layers:
            name = layer.get("name", (layer.get("config") or {}).get("name")
                             if isinstance(layer.get("config"), dict) else None)
            candidates: list[Shape | None] = []
            for tensor in _keras_tensors(layer.get("inbound_nodes")):
                source = tensor.get("keras_history")
                if isinstance(source, list) and source and isinstance(source[0], str) and \
                        outputs.get(source[0]) is not None:
                    candidates.append(outputs[source[0]])
                candidates.append(_read_shape(tensor.get("shape"), batch=True))
            if layer.get("class_name") == "InputLayer":
                shape = self.layer(layer, [None], path)
                input_shape = input_shape or shape
            else:
                if layer.get("class_name") in ("Add", "Concatenate"):
                    tensors = _keras_tensors(layer.get("inbound_nodes"))
                    shape = self._merge(layer, tensors, outputs, path)
                else:
                    shape = self.layer(layer, candidates or [given], path)
            if isinstance(name, str):
                outputs[name] = shape
            output = shape
        return input_shape, output

    def _merge(self, layer: dict[str, Any], tensors: list[dict[str, Any]],
               outputs: dict[str, Shape | None], path: str) -> Shape | None:
        shapes = []
        for tensor in tensors:
            source = tensor.get("keras_history")
            known = outputs.get(source[0]) if isinstance(source, list) and source and \
                isinstance(source[0], str) else None
            shapes.append(known if known is not None else _read_shape(tensor.get("shape"),
                                                                      batch=True))
        self.count_layer()
        config = layer.get("config") if isinstance(layer.get("config"), dict) else {}
        name = config.get("name", "?")
        if not shapes or any(shape is None for shape in shapes):
            out = None
        elif layer["class_name"] == "Add":
            out = tuple(max((shape[i] for shape in shapes if len(shape) > i and
                             shape[i] is not None), default=None)
                        for i in range(max(len(shape) for shape in shapes)))
        else:
            axis = config.get("axis", -1)
            rank = len(shapes[0])
            if isinstance(axis, bool) or not isinstance(axis, int) or not -rank <= axis < rank:
                raise _bad_value("Concatenate", name, "axis", axis)
            total = [shape[axis] for shape in shapes if len(shape) == rank]
            out = list(shapes[0])
            out[axis] = None if None in total else sum(total)
            out = tuple(out)
        self._record(layer, config, shapes[0] if shapes else None, out, 0, path)
        return out

    # -- layers

    def count_layer(self) -> None:
        self.count += 1
        if self.count > MAX_LAYERS:
            raise _refuse("too_many_layers",
                          f"le modèle a plus de {MAX_LAYERS} couches.",
                          f"the model has more than {MAX_LAYERS} layers.")

    def layer(self, layer: dict[str, Any], candidates: Sequence[Shape | None],
              path: str) -> Shape | None:
        class_name = layer.get("class_name")
        config = layer.get("config")
        if not isinstance(config, dict):
            raise _refuse("config_value", f"la couche {_quote(class_name)} n'a pas de "
                          f"configuration lisible.", f"the {_quote(class_name)} layer has no "
                          f"readable configuration.")
        name = config.get("name") if isinstance(config.get("name"), str) else str(class_name)
        build = layer.get("build_config")
        built = _read_shape(build.get("input_shape"), batch=True) if isinstance(
            build, dict) else None
        shapes = [shape for shape in candidates if shape is not None]
        if class_name in MODEL_CLASSES:
            given = shapes[0] if shapes else built
            _, out = self.model(layer, given=given, path=f"{path}{name}/")
            return out
        self.count_layer()
        if built is not None and built not in shapes:
            shapes.append(built)
        if not shapes:
            shapes = [None]
        params, out = None, None
        for shape in shapes:
            count, shape_out = layer_estimate(class_name, config, shape)
            if count is not None:
                params = count if params is None else max(params, count)
            out = out if out is not None else shape_out
        if params is None:
            if class_name in ("Conv2D", "SeparableConv2D", "DepthwiseConv2D", "Dense",
                              "BatchNormalization", "LayerNormalization", "Normalization"):
                raise _refuse(
                    "unknown_shape",
                    f"impossible de connaître la taille de l'entrée de la couche {class_name} "
                    f"« {_quote(name)} » d'après la configuration, donc son nombre de "
                    f"paramètres. Donnez une entrée au modèle (keras.Input(shape=...)) et "
                    f"enregistrez-le après l'entraînement.",
                    f"the input size of the {class_name} layer “{_quote(name)}” cannot be "
                    f"known from the configuration, hence neither its number of parameters. "
                    f"Give the model an input (keras.Input(shape=...)) and save it after "
                    f"training.")
            params = 0
        self._record(layer, config, shapes[0], out, params, path)
        return out

    def _record(self, layer: dict[str, Any], config: dict[str, Any], shape: Shape | None,
                out: Shape | None, params: int, path: str) -> None:
        class_name = str(layer.get("class_name"))
        name = config.get("name") if isinstance(config.get("name"), str) else class_name
        self.params += params
        if params > MAX_PARAMS or self.params > MAX_PARAMS:
            shown = format_int(params, "fr"), format_int(params, "en")
            inputs = "?" if shape is None else ", ".join(
                "?" if dim is None else str(dim) for dim in shape)
            raise _refuse(
                "shape_bomb",
                f"la couche {class_name} « {_quote(name)} » (entrée ({inputs})) aurait "
                f"{shown[0]} paramètres, et le modèle au moins {format_int(self.params, 'fr')} "
                f"(limite {format_int(MAX_PARAMS, 'fr')}). Un Flatten sur une grande image "
                f"suivi d'un Dense fait exploser ce nombre : réduisez d'abord la taille avec "
                f"des convolutions et du pooling, ou un GlobalAveragePooling2D.",
                f"the {class_name} layer “{_quote(name)}” (input ({inputs})) would have "
                f"{shown[1]} parameters, and the model at least {format_int(self.params, 'en')} "
                f"(limit {format_int(MAX_PARAMS, 'en')}). A Flatten on a large image followed by "
                f"a Dense makes that number explode: shrink the size first with convolutions "
                f"and pooling, or a GlobalAveragePooling2D.")
        values = _values(out) if out is not None else None
        if values is not None and values > MAX_VALUES_PER_IMAGE:
            raise _refuse(
                "shape_bomb",
                f"la sortie de la couche {class_name} « {_quote(name)} » aurait "
                f"{format_int(values, 'fr')} valeurs par image (limite "
                f"{format_int(MAX_VALUES_PER_IMAGE, 'fr')}).",
                f"the output of the {class_name} layer “{_quote(name)}” would have "
                f"{format_int(values, 'en')} values per image (limit "
                f"{format_int(MAX_VALUES_PER_IMAGE, 'en')}).")
        self.layers.append(IntakeLayer(name=name, class_name=class_name, config=config,
                                       path=f"{path}{name}", input_shape=shape,
                                       output_shape=out, params=params))


def _keras_tensors(node: Any) -> list[dict[str, Any]]:
    """The ``__keras_tensor__`` configs found anywhere inside ``inbound_nodes``, in order."""
    if isinstance(node, dict):
        if node.get("class_name") == "__keras_tensor__" and isinstance(node.get("config"), dict):
            return [node["config"]]
        return [tensor for value in node.values() for tensor in _keras_tensors(value)]
    if isinstance(node, list):
        return [tensor for value in node for tensor in _keras_tensors(value)]
    return []
