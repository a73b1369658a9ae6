"""The device a worker computes on, as recorded on each submission and generation.

``cpu``, or ``gpu:N`` for the accelerator Keras' backend is using (JAX on the GPU hosts,
``KERAS_BACKEND=jax``; TensorFlow stays the CPU default). The model jail runs its child on the
GPU of a JAX worker host (``STRIDE_SANDBOX_DEVICE``, workers/sandbox_gpu.py) and on the CPU
elsewhere; a grading records the device its child reports (``SandboxResult.device``), and
``sandbox_device()`` is what the jail is planned to use.
"""
from __future__ import annotations

import functools


def keras_backend() -> str:
    """``tensorflow`` (the CPU default) or ``jax`` (GPU hosts), as Keras reads KERAS_BACKEND."""
    import keras

    return keras.backend.backend()


@functools.lru_cache(maxsize=1)
def backend_device() -> str:
    """The first device of this process's Keras backend (imports Keras: worker processes only)."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        return "cpu" if device.platform == "cpu" else f"gpu:{device.id}"
    if backend == "tensorflow":
        import tensorflow as tf

        return "gpu:0" if tf.config.list_logical_devices("GPU") else "cpu"
    if backend == "torch":
        import torch

        return "gpu:0" if torch.cuda.is_available() else "cpu"
    return "cpu"


def sandbox_device() -> str:
    """Where the jail's child is planned to run a student's model (``gpu:0`` or ``cpu``), from
    this worker's settings and device nodes; the child's own report is what a grading records."""
    from workers.sandbox_gpu import DeviceSettingError, device_plan

    try:
        return device_plan().device
    except DeviceSettingError:
        return "cpu"
