"""The starter notebook of a model exercise: load the training set, train a small CNN, save it
as .keras and submit it with an API token. Filled in with the exercise's own numbers."""
from __future__ import annotations

import json

from exercises.types.model import model_params
from grader.text import format_int


def _cell(kind: str, source: str) -> dict:
    cell = {"cell_type": kind, "metadata": {}, "source": source.strip("\n").splitlines(keepends=True)}
    if kind == "code":
        cell.update({"execution_count": None, "outputs": []})
    return cell


def starter_notebook_json(*, exercise, base_url: str) -> str:
    from grader.datasets import DATASETS

    p = model_params(exercise.params)
    spec = DATASETS[p["dataset"]]
    classes = ", ".join(f"{i} = {name.get('fr', name) if isinstance(name, dict) else name}" for i, name in enumerate(spec.class_names))
    transfer = p.get("backbone")
    model_code = (
        f"""backbone = keras.saving.load_model("{transfer}.keras", compile=False)  # téléchargé depuis la page de l'exercice
backbone.trainable = False  # on garde les filtres appris, on n'entraîne que la tête
model = keras.Sequential([
    keras.Input(shape={tuple(spec.input_shape)}),
    backbone,
    keras.layers.Dense({len(spec.class_names)}, activation="softmax"),
])"""
        if transfer
        else f"""model = keras.Sequential([
    keras.Input(shape={tuple(spec.input_shape)}),
    keras.layers.Rescaling(1 / 255),
    keras.layers.Conv2D(16, 3, activation="relu"),
    keras.layers.MaxPooling2D(2),
    keras.layers.Conv2D(32, 3, activation="relu"),
    keras.layers.MaxPooling2D(2),
    keras.layers.Flatten(),
    keras.layers.Dense(64, activation="relu"),
    keras.layers.Dense({len(spec.class_names)}, activation="softmax"),
])"""
    )
    cells = [
        _cell("markdown", f"""# {exercise.title_i18n.get('fr', exercise.slug)}

Classes : {classes}.

Budget : {format_int(int(p['max_params']), 'fr')} paramètres, fichier de {p['max_file_mb']} Mo au plus. Le modèle reçoit les
images telles quelles (valeurs 0–255 en float32) : normalisez **dans** le modèle (couche `Rescaling`)."""),
        _cell("code", f"""import numpy as np, keras, requests

STRIDE = "{base_url}"
EXERCISE = {exercise.pk}
TOKEN = "collez ici votre jeton (page Profil de Stride)"
headers = {{"Authorization": f"Bearer {{TOKEN}}"}}"""),
        _cell("code", """r = requests.get(f"{STRIDE}/api/v1/exercises/{EXERCISE}/dataset", headers=headers, timeout=60)
r.raise_for_status()
open("train.npz", "wb").write(r.content)
data = np.load("train.npz", allow_pickle=False)
x, y = data["x"].astype("float32"), data["y"]
print(x.shape, y.shape, np.bincount(y))"""),
        _cell("code", model_code + """
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.summary()
model.fit(x, y, epochs=5, batch_size=64, validation_split=0.1)"""),
        _cell("code", """model.save("model.keras")
with open("model.keras", "rb") as f:
    r = requests.post(f"{STRIDE}/api/v1/exercises/{EXERCISE}/submissions", headers=headers,
                      files={"file": ("model.keras", f)}, timeout=120)
print(r.status_code, r.json())
submission = r.json()["submission_id"]"""),
        _cell("code", """import time
while True:
    s = requests.get(f"{STRIDE}/api/v1/submissions/{submission}", headers=headers, timeout=30).json()
    print(s["status"], s.get("position"), s.get("progress"))
    if s["status"] not in ("queued", "running"):
        break
    time.sleep(2)
print(s["feedback"], s["metrics"])"""),
    ]
    notebook = {
        "cells": cells,
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(notebook, ensure_ascii=False, indent=1)
