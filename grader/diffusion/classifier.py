"""The judge: a small CNN that names the fruit and the colour of a 32×32 image.

    python -m grader.diffusion.classifier [--out grader/diffusion/weights] [--seed 0]

It is trained on the dataset generator's images of *every* fruit×colour pair (the held-out
pairs included: the judge must know what a « poire rouge » looks like even though the diffusion
model never saw one), and measured on fresh images. A generation is *recognised* when both
heads name the prompt's fruit and colour.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

WEIGHTS_NAME = "classifier.weights.h5"
CARD_NAME = "classifier.json"


def train(*, seed: int = 0, images: int = 30_000, epochs: int = 4) -> tuple[object, dict]:
    import keras

    from grader.diffusion import data
    from grader.diffusion.model import build_classifier

    keras.utils.set_random_seed(seed)
    started = time.monotonic()
    x, fruits, colours = data.generate(images, seed=seed + 1000)
    model = build_classifier()
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss={"fruit": "sparse_categorical_crossentropy",
                        "colour": "sparse_categorical_crossentropy"},
                  metrics={"fruit": "accuracy", "colour": "accuracy"})
    model.fit(x, {"fruit": fruits, "colour": colours}, batch_size=64, epochs=epochs, verbose=2)
    x_test, f_test, c_test = data.generate(3000, seed=seed + 2000)
    predicted = model.predict(x_test, batch_size=256, verbose=0)
    f_ok = predicted["fruit"].argmax(1) == f_test
    c_ok = predicted["colour"].argmax(1) == c_test
    card = {"images": images, "epochs": epochs, "seed": seed,
            "seconds": round(time.monotonic() - started, 1),
            "test_images": len(x_test), "fruit_accuracy": round(float(f_ok.mean()), 4),
            "colour_accuracy": round(float(c_ok.mean()), 4),
            "both_accuracy": round(float((f_ok & c_ok).mean()), 4),
            "parameters": int(model.count_params())}
    return model, card


def main(argv: list[str] | None = None) -> int:
    from grader.diffusion import WEIGHTS_DIR

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--images", type=int, default=30_000)
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args(argv)
    model, card = train(seed=args.seed, images=args.images, epochs=args.epochs)
    args.out.mkdir(parents=True, exist_ok=True)
    model.save_weights(args.out / WEIGHTS_NAME)
    (args.out / CARD_NAME).write_text(json.dumps(card, indent=2) + "\n")
    print(json.dumps(card))
    return 0


if __name__ == "__main__":
    sys.exit(main())
