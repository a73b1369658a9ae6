"""Where the model jail computes: the CPU, or the GPU of a JAX worker host (``STRIDE_SANDBOX_DEVICE``).

Trusted side only (the worker that starts the jail): no Keras, no JAX, no CUDA is imported here.
The plan is made once per forkserver from the worker's environment and the host's device nodes:

- ``STRIDE_SANDBOX_DEVICE=auto`` (the default): the GPU when the worker runs Keras on JAX
  (``KERAS_BACKEND=jax``) and the host has NVIDIA device nodes (``/dev/nvidiactl`` and a
  ``/dev/nvidiaN``), the CPU otherwise;
- ``gpu``: the same, but saying so in the worker's log (a warning) when it cannot be;
- ``cpu``: always the CPU (what every host did before).

When the GPU is asked for and cannot be used (TensorFlow backend, no device node, or the child
fails to initialise CUDA), the job is **graded on the CPU**, never refused: the grade does not
depend on the device, a failed submission would punish a student for a host's fault (and a
retry would land on the same host), and nothing is silent: the worker logs a warning, the
result carries ``device="cpu"`` and why, and the teacher sees ``cpu`` on the submission.

What changes in GPU mode, and only there (docs/sandbox.md, "GPU mode"):

- bubblewrap binds the NVIDIA device nodes (``--dev-bind``: ``/dev/nvidiactl``,
  ``/dev/nvidia-uvm``, ``/dev/nvidia-uvm-tools``, ``/dev/nvidiaN``) and, read-only, what the
  driver's user-space library reads: ``/proc/driver/nvidia``, ``/sys/bus/pci``,
  ``/sys/devices`` (the PCI functions those links point to) and ``/sys/module/nvidia``;
- Landlock lets the job open those device nodes read-write with ``IOCTL_DEV`` (Landlock ABI 5:
  ioctl on any other device stays refused) and read the paths above; the seccomp filter is the
  same as on the CPU (it refuses no system call CUDA needs, and no call is allowed in addition);
- the forkserver still starts with ``CUDA_VISIBLE_DEVICES=-1`` and ``JAX_PLATFORMS=cpu`` and
  never initialises a device (JAX creates its backends lazily): each child sets
  ``CUDA_VISIBLE_DEVICES``, ``XLA_PYTHON_CLIENT_PREALLOCATE=false`` and
  ``XLA_PYTHON_CLIENT_MEM_FRACTION`` (``STRIDE_SANDBOX_GPU_MEMORY_FRACTION``, 0.25 by default)
  itself, after its isolation and before its warm-up: the spare holds its CUDA context while it
  waits, so the seconds of CUDA's start are off the job's path;
- RLIMIT_AS becomes "what the child has mapped once CUDA is up, plus the job's memory limit,
  plus the GPU memory XLA may allocate": CUDA reserves very large virtual ranges, and a fixed
  3 GiB would refuse its start.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

SETTING = "STRIDE_SANDBOX_DEVICE"
MEMORY_FRACTION_SETTING = "STRIDE_SANDBOX_GPU_MEMORY_FRACTION"
CHOICES = ("auto", "cpu", "gpu")
DEFAULT_MEMORY_FRACTION = 0.25
_NODE = re.compile(r"nvidia(ctl|-uvm|-uvm-tools|\d+)\Z")
# Read-only for the driver's library (the PCI functions, the driver's parameters and version).
DRIVER_READ_ONLY = ("/proc/driver/nvidia", "/sys/bus/pci", "/sys/devices", "/sys/module/nvidia")


class DeviceSettingError(ValueError):
    """STRIDE_SANDBOX_DEVICE or the memory fraction is not a value Stride knows."""


@dataclass(frozen=True)
class DevicePlan:
    mode: str  # "cpu" or "gpu"
    reason: str = ""  # why the CPU when the GPU was possible or asked for
    device_nodes: tuple[str, ...] = ()
    read_only: tuple[str, ...] = ()
    visible_devices: str = "0"
    memory_fraction: float = DEFAULT_MEMORY_FRACTION
    requested: str = "auto"
    warnings: list[str] = field(default_factory=list, compare=False)

    @property
    def device(self) -> str:
        """The device this plan grades on, as recorded on a submission (``gpu:0`` or ``cpu``)."""
        return "gpu:0" if self.mode == "gpu" else "cpu"

    def child_settings(self) -> dict:
        """What the spare child needs to initialise the device itself (a plain dict: pickled
        to the child through the forkserver)."""
        if self.mode != "gpu":
            return {"mode": "cpu"}
        return {"mode": "gpu", "device_nodes": list(self.device_nodes),
                "read_only": list(self.read_only), "visible_devices": self.visible_devices,
                "memory_fraction": self.memory_fraction}

    def bwrap_args(self) -> list[str]:
        """bubblewrap arguments added after ``--dev /dev --proc /proc``: nothing on the CPU."""
        if self.mode != "gpu":
            return []
        args: list[str] = []
        for node in self.device_nodes:
            args += ["--dev-bind", node, node]
        for path in self.read_only:
            args += ["--ro-bind-try", path, path]
        return args


def nvidia_device_nodes(dev: Path = Path("/dev")) -> tuple[str, ...]:
    """The NVIDIA device nodes present (character devices; any file in tests' fake ``dev``)."""
    try:
        names = sorted(entry.name for entry in os.scandir(dev) if _NODE.match(entry.name))
    except OSError:
        return ()
    return tuple(str(dev / name) for name in names)


def _memory_fraction(environ) -> float:
    text = (environ.get(MEMORY_FRACTION_SETTING) or "").strip()
    if not text:
        return DEFAULT_MEMORY_FRACTION
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 < value <= 1.0:
        raise DeviceSettingError(f"{MEMORY_FRACTION_SETTING} must be a number in (0, 1], not {text!r}")
    return value


def _visible_devices(environ) -> str:
    """The worker's own CUDA_VISIBLE_DEVICES (which GPU this worker was given), else ``0``."""
    value = (environ.get("CUDA_VISIBLE_DEVICES") or "").strip()
    if not value or value == "-1" or not re.fullmatch(r"[0-9A-Za-z,:-]{1,200}", value):
        return "0"
    return value


def device_plan(environ=None, *, dev: Path = Path("/dev")) -> DevicePlan:
    """The jail's device for this worker: read once when its forkserver starts."""
    environ = os.environ if environ is None else environ
    requested = (environ.get(SETTING) or "auto").strip().lower()
    if requested not in CHOICES:
        raise DeviceSettingError(f"{SETTING} must be one of {', '.join(CHOICES)}, not {requested!r}")
    if requested == "cpu":
        return DevicePlan(mode="cpu", reason=f"{SETTING}=cpu", requested=requested)
    backend = (environ.get("KERAS_BACKEND") or "tensorflow").strip().lower()
    nodes = nvidia_device_nodes(dev)
    has_gpu = any(Path(node).name == "nvidiactl" for node in nodes) and any(
        Path(node).name[len("nvidia"):].isdigit() for node in nodes)
    if backend != "jax":
        reason = f"KERAS_BACKEND={backend}: the jail uses a GPU only with Keras on JAX"
    elif not has_gpu:
        reason = f"no NVIDIA device node in {dev} (/dev/nvidiactl and /dev/nvidiaN)"
    else:
        return DevicePlan(mode="gpu", device_nodes=nodes,
                          read_only=tuple(path for path in DRIVER_READ_ONLY if os.path.exists(path)),
                          visible_devices=_visible_devices(environ),
                          memory_fraction=_memory_fraction(environ), requested=requested)
    plan = DevicePlan(mode="cpu", reason=reason, requested=requested)
    if requested == "gpu":
        plan.warnings.append(f"{SETTING}=gpu but {reason}: models are graded on the CPU")
    return plan


def log_plan(plan: DevicePlan) -> None:
    for warning in plan.warnings:
        log.warning("sandbox: %s", warning)
    if plan.mode == "gpu":
        log.info("sandbox: grading on the GPU (%s), memory fraction %s", ", ".join(plan.device_nodes),
                 plan.memory_fraction)
