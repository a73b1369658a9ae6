"""The API of API.md, driven as a student's script would, for the four instant types.

For each type the test computes the right answer on its own (no call into grader/), gets
score 1, then sends a wrong answer and gets less.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from django.core.management import call_command
from django.test import Client

from tests.factories import PASSWORD, student

pytestmark = pytest.mark.django_db
SEED = Path(__file__).resolve().parents[1] / "exercises" / "seed" / "cnn-diffusion"

# The test's own table of the kernels the course names (not grader.convolution.KERNELS).
KNOWN_KERNELS = {
    "identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
    "laplacian": [[0, -1, 0], [-1, 4, -1], [0, -1, 0]],
    "sobel_h": [[1, 2, 1], [0, 0, 0], [-1, -2, -1]],
    "sobel_v": [[1, 0, -1], [2, 0, -2], [1, 0, -1]],
    "blur": [[1 / 9] * 3] * 3,
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    "emboss": [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]],
}


@pytest.fixture
def course():
    call_command("load_course", verbosity=0)
    from courses.models import Course

    return Course.objects.get(slug="cnn-diffusion")


@pytest.fixture
def api(course):
    user = student(course, username="api-student")
    client = Client()
    token = client.post("/api/v1/auth/token", {"username": user.username, "password": PASSWORD},
                        content_type="application/json").json()["token"]
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


def _exercises(api, kind):
    rows = api.get("/api/v1/courses/cnn-diffusion/exercises").json()
    return [r for r in rows if r["type"] == kind]


def _answer(api, exercise_id, answer):
    return api.post(f"/api/v1/exercises/{exercise_id}/attempts", {"answer": answer}, content_type="application/json")


# --- independent answer keys -----------------------------------------------------------------
def _out(size, k, s, pad):
    if pad == "same":
        return math.ceil(size / s)
    return (size - k) // s + 1


def shape_after(input_shape, layers):
    shape = tuple(input_shape)
    for layer in layers:
        cfg, name = layer["config"], layer["class_name"]
        if name == "Dense":
            shape = (*shape[:-1], cfg["units"])
            continue
        if name == "Flatten":
            shape = (math.prod(shape),)
            continue
        h, w, c = shape
        if name == "Conv2D":
            h = _out(h, cfg["kernel_size"][0], cfg["strides"][0], cfg["padding"])
            w = _out(w, cfg["kernel_size"][1], cfg["strides"][1], cfg["padding"])
            c = cfg["filters"]
        elif name == "ZeroPadding2D":
            (top, bottom), (left, right) = cfg["padding"]
            h, w = h + top + bottom, w + left + right
        elif name in ("MaxPooling2D", "AveragePooling2D"):
            strides = cfg.get("strides") or cfg["pool_size"]
            h = _out(h, cfg["pool_size"][0], strides[0], cfg.get("padding", "valid"))
            w = _out(w, cfg["pool_size"][1], strides[1], cfg.get("padding", "valid"))
        elif name == "GlobalAveragePooling2D":
            shape = (c,)
            continue
        shape = (h, w, c)
    return shape


def params_of(input_shape, layers):
    counts, shape = [], tuple(input_shape)
    for layer in layers:
        cfg, name = layer["config"], layer["class_name"]
        if name == "Conv2D":
            m, n = cfg["kernel_size"]
            counts.append((m * n * shape[-1] + 1) * cfg["filters"])
        elif name == "Dense":
            counts.append((shape[-1] + 1) * cfg["units"])
        else:
            counts.append(0)
        shape = shape_after(shape, [layer])
    return counts


def test_output_size(api):
    for row in _exercises(api, "output_size"):
        variant = api.get(f"/api/v1/exercises/{row['id']}").json()["variant"]
        shape = list(shape_after(variant["input_shape"], variant["layers"]))
        wrong = _answer(api, row["id"], {"shape": [shape[0] + 1, shape[1], shape[2]]}).json()
        assert wrong["score"] < 1 and not wrong["correct"]
        right = _answer(api, row["id"], {"shape": shape}).json()
        assert right["correct"] and right["score"] == pytest.approx(0.9), row["slug"]  # one retry at 10 %
        assert "O =" in wrong["feedback"] or "O=" in wrong["feedback"]


def test_param_count(api):
    for row in _exercises(api, "param_count"):
        variant = api.get(f"/api/v1/exercises/{row['id']}").json()["variant"]
        counts = params_of(variant["input_shape"], variant["layers"])
        value = sum(counts) if variant["ask"] == "total" else counts[variant["ask"]["layer"]]
        wrong = _answer(api, row["id"], {"value": value + 7}).json()
        assert wrong["score"] < 1
        right = _answer(api, row["id"], {"value": value}).json()
        assert right["correct"], (row["slug"], value, right)


def test_the_12_mpx_question_and_forgotten_biases(api):
    row = next(r for r in _exercises(api, "param_count") if "12mpx" in r["slug"])
    forgot = _answer(api, row["id"], {"value": 3_600_000_000}).json()
    assert not forgot["correct"] and "biais" in forgot["feedback"].lower()
    assert _answer(api, row["id"], {"value": 3_600_000_100}).json()["correct"]


def test_kernel_reconstruct_by_least_squares(api):
    for row in _exercises(api, "kernel"):
        variant = api.get(f"/api/v1/exercises/{row['id']}").json()["variant"]
        if variant["mode"] != "reconstruct":
            continue
        image, target = np.array(variant["input"], float), np.array(variant["output"], float)
        h, w = target.shape
        # Each output pixel is a dot product of a 3x3 patch with the kernel: solve for the 9 unknowns.
        patches = np.stack([image[i:i + h, j:j + w].ravel() for i in range(3) for j in range(3)], axis=1)
        kernel, *_ = np.linalg.lstsq(patches, target.ravel(), rcond=None)
        right = _answer(api, row["id"], {"kernel": kernel.reshape(3, 3).round(4).tolist()}).json()
        assert right["correct"] and right["score"] == 1, row["slug"]
        wrong = _answer(api, row["id"], {"kernel": [[0, 0, 0], [0, 1, 0], [0, 0, 0]]}).json()
        assert wrong["score"] < 1 and not wrong["correct"]


def test_kernel_identify(api):
    for row in _exercises(api, "kernel"):
        variant = api.get(f"/api/v1/exercises/{row['id']}").json()["variant"]
        if variant["mode"] != "identify":
            continue
        name = next(n for n, k in KNOWN_KERNELS.items() if np.allclose(k, variant["kernel"], atol=1e-3))
        ids = [c["id"] for c in variant["choices"]]
        assert name in ids
        wrong = _answer(api, row["id"], {"choice": next(i for i in ids if i != name)}).json()
        assert wrong["score"] == 0
        right = _answer(api, row["id"], {"choice": name}).json()
        assert right["correct"] and right["score"] > 0


def test_mcq_against_the_course_files(api):
    keys = {}
    for f in (SEED / "exercises").glob("*.yaml"):
        data = yaml.safe_load(f.read_text())
        if data["type"] == "mcq":
            keys[data["slug"]] = [c["id"] for c in data["params"]["choices"] if c["correct"]]
    rows = _exercises(api, "mcq")
    assert {r["slug"] for r in rows} == set(keys)
    for row in rows:
        variant = api.get(f"/api/v1/exercises/{row['id']}").json()["variant"]
        correct = keys[row["slug"]]
        wrong_ids = [c["id"] for c in variant["choices"] if c["id"] not in correct]
        wrong = _answer(api, row["id"], {"choices": wrong_ids[:1]}).json()
        assert wrong["score"] == 0 and not wrong["correct"]
        right = _answer(api, row["id"], {"choices": correct}).json()
        assert right["correct"] and 0 < right["score"] <= 1


def test_variants_are_personal_and_stable(api, course):
    other = Client()
    other.force_login(student(course, username="other-student"))
    row = next(r for r in _exercises(api, "output_size") if "explicit" in r["slug"] or "valid-vs-same" in r["slug"])
    mine = [api.get(f"/api/v1/exercises/{row['id']}").json()["variant"] for _ in range(2)]
    assert mine[0] == mine[1]
    variants = {str(other.get(f"/api/v1/exercises/{row['id']}").json()["variant"])}
    for i in range(6):
        c = Client()
        c.force_login(student(course, username=f"s{i}"))
        variants.add(str(c.get(f"/api/v1/exercises/{row['id']}").json()["variant"]))
    assert len(variants) > 1


def test_private_keys_never_reach_the_student(api):
    for row in api.get("/api/v1/courses/cnn-diffusion/exercises").json():
        variant = api.get(f"/api/v1/exercises/{row['id']}").json()["variant"]
        assert not any(k.startswith("_") for k in variant), row["slug"]
