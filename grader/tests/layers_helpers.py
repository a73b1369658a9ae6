"""Short constructors for layer dicts in Keras' serialisation terms."""
from __future__ import annotations

from typing import Any


def conv(filters: int, kernel_size: Any, strides: Any = 1, padding: str = "valid") -> dict:
    return {"class_name": "Conv2D", "config": {"filters": filters, "kernel_size": kernel_size,
                                              "strides": strides, "padding": padding}}


def zero_pad(padding: Any) -> dict:
    return {"class_name": "ZeroPadding2D", "config": {"padding": padding}}


def max_pool(pool_size: Any = 2, strides: Any = None, padding: str = "valid") -> dict:
    return {"class_name": "MaxPooling2D",
            "config": {"pool_size": pool_size, "strides": strides, "padding": padding}}


def avg_pool(pool_size: Any = 2, strides: Any = None, padding: str = "valid") -> dict:
    return {"class_name": "AveragePooling2D",
            "config": {"pool_size": pool_size, "strides": strides, "padding": padding}}


def flatten() -> dict:
    return {"class_name": "Flatten", "config": {}}


def gap() -> dict:
    return {"class_name": "GlobalAveragePooling2D", "config": {}}


def dense(units: int) -> dict:
    return {"class_name": "Dense", "config": {"units": units}}
