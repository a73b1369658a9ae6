"""The inside of the model sandbox: the code that runs in the forked child process.

The trusted parent (``workers.sandbox``) never imports Keras; this module imports it only
inside functions, so the parent may import it for the shared constants below. In the
forkserver (``STRIDE_SANDBOX_FORKSERVER=1`` in its environment) importing this module also
preloads Keras and everything a load + predict imports lazily, then freezes the garbage
collector so that the forked children share those pages instead of copying them.

A child lives in two phases:

1. **Spare** (trusted code only): it enters its scratch folder, sends its output to
   ``child.log``, closes the fds it inherited from the forkserver, scrubs the environment,
   cuts the network, drops root to a uid of its own, asks for SIGKILL if the forkserver dies,
   forbids new sockets (seccomp), then warms TensorFlow up on a tiny model of its own and
   waits for a job.
2. **Job**: it reads one JSON message from the parent, lowers its resource limits, loads the
   untrusted ``model.keras`` (``safe_mode=True``), checks it, predicts, writes
   ``predictions.npy`` and ``result.json``, closes its ``done`` pipe and exits. It sends
   nothing else back: the parent reads those files (and the exit status when there are
   none), and never unpickles data from the child.
"""
from __future__ import annotations

import contextlib
import gc
import json
import os
import resource
import signal
import sys
import time
import traceback

# Files in the scratch folder (the parent writes the first two, the child the others).
MODEL_FILE = "model.keras"
INPUTS_FILE = "inputs.npy"
PREDICTIONS_FILE = "predictions.npy"
RESULT_FILE = "result.json"
LOG_FILE = "child.log"
READY_FILE = ".ready"

# Exit statuses besides 0 (result.json written): the parent maps them to error codes.
EXIT_OUT_OF_MEMORY = 70
EXIT_INTERNAL = 71

FORKSERVER_ENV = "STRIDE_SANDBOX_FORKSERVER"
# What survives the scrub. HOME and TMPDIR are pointed at the scratch folder.
ENV_ALLOWED = (
    "PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TZ",
    "KERAS_BACKEND", "TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS",
    "OMP_NUM_THREADS", "CUDA_VISIBLE_DEVICES",
)
# Test hooks the parent may ask for (only when STRIDE_SANDBOX_TEST_HOOKS=1 in the parent).
DEBUG_ACTIONS = frozenset({
    "sleep", "busy", "crash", "allocate", "allocate_tf", "dump_env", "connect",
})
PREDICT_BATCH = 256
MAX_LAYERS_REPORTED = 512
MAX_DETAIL_CHARS = 300

# Modules a load + predict imports lazily after ``import keras``: preloading them keeps the
# child fast and independent of file permissions once it has dropped root.
_PRELOAD = (
    "encodings.cp437", "encodings.idna", "zipfile", "json", "h5py", "ctypes",
    "keras.src.saving.saving_lib", "keras.src.saving.serialization_lib",
    "keras.src.legacy.saving.legacy_h5_format",
)


def _preload_in_forkserver() -> None:
    import importlib

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras  # noqa: F401  (the point of the forkserver)
    for name in _PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    gc.collect()
    gc.freeze()


if os.environ.get(FORKSERVER_ENV) == "1" and __name__ != "__main__":
    _preload_in_forkserver()


# --------------------------------------------------------------------------------------
# Spare phase: isolation (trusted code only, single-threaded until the warm-up)
# --------------------------------------------------------------------------------------

def _libc():
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def _redirect_stdio(path: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def _close_inherited_fds() -> None:
    """The forkserver hands every child its "alive" pipe and the resource tracker's pipe
    (a root process that unlinks what it is told). The sandbox needs neither."""
    from multiprocessing import forkserver, resource_tracker

    server = forkserver._forkserver
    tracker = resource_tracker._resource_tracker
    for owner, attr in ((server, "_forkserver_alive_fd"), (tracker, "_fd")):
        fd = getattr(owner, attr, None)
        if isinstance(fd, int):
            try:
                os.close(fd)
            except OSError:
                pass
            setattr(owner, attr, None)


def _scrub_environ(scratch: str) -> None:
    kept = {key: os.environ[key] for key in ENV_ALLOWED if key in os.environ}
    os.environ.clear()
    os.environ.update(kept)
    os.environ["HOME"] = scratch
    os.environ["TMPDIR"] = scratch
    os.environ["KERAS_HOME"] = os.path.join(scratch, ".keras")
    os.environ.setdefault("PATH", "/usr/bin:/bin")


_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000


def _unshare(flags: int) -> None:
    unshare = getattr(os, "unshare", None)  # Python >= 3.12
    if unshare is not None:
        unshare(flags)
        return
    import ctypes

    libc = _libc()
    if libc.unshare(ctypes.c_int(flags)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _cut_network(*, as_root: bool) -> str | None:
    """A new, empty network namespace: only a loopback that is down. As root a plain network
    namespace; otherwise (or if that is refused) a user namespace along with it, which must
    happen while the process still has a single thread. None when nothing worked as root."""
    flags = _CLONE_NEWNET if as_root else _CLONE_NEWUSER | _CLONE_NEWNET
    try:
        _unshare(flags)
    except OSError as exc:
        return None if as_root else f"off ({exc.strerror or exc})"
    return "netns" if as_root else "userns+netns"


def _drop_root(scratch: str, uid: int) -> str:
    if os.geteuid() != 0:
        return "unchanged (not root)"
    if not uid:
        return "unchanged (disabled)"
    try:
        os.chown(scratch, uid, uid)
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    except OSError as exc:
        raise SystemExit(f"sandbox: cannot drop root to uid {uid}: {exc}")
    try:
        os.setuid(0)
    except PermissionError:
        return f"uid {uid}"
    raise SystemExit("sandbox: still able to become root after dropping privileges")


def _die_with_parent(parent_pid: int) -> None:
    """SIGKILL when the forkserver dies (it dies with the worker). Set after setuid, which
    clears it."""
    PR_SET_PDEATHSIG = 1
    _libc().prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(EXIT_INTERNAL)


# Syscall numbers and audit architectures for the seccomp filter.
_SECCOMP_ARCH = {
    "x86_64": (0xC000003E, {"socket": 41, "io_uring_setup": 425}),
    "aarch64": (0xC00000B7, {"socket": 198, "io_uring_setup": 425}),
}


def _forbid_sockets() -> str:
    """A seccomp filter: socket() and io_uring_setup() fail with EACCES from now on, in this
    thread and every thread it starts (TensorFlow's pools come later). This also covers what
    a network namespace does not: Unix sockets reached through a path (PostgreSQL's, Redis's).
    """
    import ctypes
    import errno
    import platform

    machine = platform.machine()
    if machine not in _SECCOMP_ARCH:
        return f"off (no filter for {machine})"
    arch, numbers = _SECCOMP_ARCH[machine]

    class SockFilter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte),
                    ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]

    LD_W_ABS, JEQ_K, JGE_K, RET_K = 0x20, 0x15, 0x35, 0x06
    ALLOW, DENY = 0x7FFF0000, 0x00050000 | errno.EACCES
    program = [
        (LD_W_ABS, 0, 0, 4),                   # seccomp_data.arch
        (JEQ_K, 1, 0, arch),
        (RET_K, 0, 0, DENY),                   # another ABI (i386 on x86_64): nothing
        (LD_W_ABS, 0, 0, 0),                   # seccomp_data.nr
        (JGE_K, 3, 0, 0x40000000),             # x32 ABI
        (JEQ_K, 2, 0, numbers["socket"]),
        (JEQ_K, 1, 0, numbers["io_uring_setup"]),
        (RET_K, 0, 0, ALLOW),
        (RET_K, 0, 0, DENY),
    ]
    filters = (SockFilter * len(program))(*[SockFilter(*op) for op in program])
    fprog = SockFprog(len(program), filters)
    libc = _libc()
    PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return f"off (no_new_privs: {os.strerror(ctypes.get_errno())})"
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        return f"off ({os.strerror(ctypes.get_errno())})"
    return "on"


def _warm_up(scratch: str, hint: dict, job_waiting) -> str:
    """Run the code paths of a job once on a tiny model of our own (TensorFlow's runtime and
    thread pools, kernels, the .keras reader), then forget the model. ``hint`` holds the input
    shape and batch sizes of the previous job, the likeliest for the next one. Stops early
    when a job is already waiting: the job itself will warm the rest up."""
    import keras
    import numpy as np

    shape = tuple(int(dim) for dim in hint.get("input_shape") or (28, 28, 1))
    batches = [int(b) for b in hint.get("batches") or (PREDICT_BATCH,)][:2]
    if int(np.prod(shape)) > 64 * 64 * 3:
        batches = [min(batch, 8) for batch in batches]
    layers = keras.layers
    if len(shape) == 3 and min(shape[:2]) >= 8:
        body = [
            layers.Rescaling(1 / 255),
            layers.Conv2D(4, 3, activation="relu"),
            layers.BatchNormalization(),
            layers.MaxPooling2D(),
            layers.Conv2D(4, 3, padding="same", activation="relu"),
            layers.AveragePooling2D(2),
            layers.Dropout(0.1),
            layers.Flatten(),
        ]
    else:
        body = [layers.Flatten()]
    # TensorFlow's runtime starts with the first op (~65 ms): worth it even for a waiting job.
    model = keras.Sequential([keras.Input(shape), *body, layers.Dense(3, activation="softmax")])
    steps = ["model"]
    if not job_waiting():
        path = os.path.join(scratch, "warm-up.keras")
        model.save(path)
        model = keras.saving.load_model(path, safe_mode=True, compile=False)
        os.unlink(path)
        steps.append("load")
    for batch in batches:
        if job_waiting():
            break
        keras.ops.convert_to_numpy(model(np.zeros((batch, *shape), "float32"), training=False))
        steps.append(f"batch {batch}")
    _model_facts(model)
    del model
    keras.backend.clear_session()
    gc.collect()
    return ", ".join(steps)


# --------------------------------------------------------------------------------------
# Job phase
# --------------------------------------------------------------------------------------

def _set_limits(limits: dict, other_threads: int) -> dict[str, str]:
    report = {}

    def setlimit(name: str, which: int, value: int) -> None:
        try:
            resource.setrlimit(which, (value, value))
            report[name] = str(value)
        except (OSError, ValueError) as exc:
            report[name] = f"off ({exc})"

    used = resource.getrusage(resource.RUSAGE_SELF)
    cpu = int(used.ru_utime + used.ru_stime) + 1 + int(limits["cpu_seconds"])
    try:
        # SIGXCPU at the soft limit, SIGKILL two seconds later.
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 2))
        report["cpu"] = str(limits["cpu_seconds"])
    except (OSError, ValueError) as exc:
        report["cpu"] = f"off ({exc})"
    setlimit("file_size", resource.RLIMIT_FSIZE, int(limits["file_bytes"]))
    setlimit("open_files", resource.RLIMIT_NOFILE, int(limits["open_files"]))
    setlimit("processes", resource.RLIMIT_NPROC, int(limits["processes"]) + other_threads)
    address_space = int(limits["memory_bytes"])
    current = _address_space_bytes()
    if current is not None and current >= address_space:
        report["memory"] = f"off (already {current} bytes mapped)"
    else:
        setlimit("memory", resource.RLIMIT_AS, address_space)
    return report


def _address_space_bytes() -> int | None:
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _threads_of_uid(uid: int) -> int:
    count = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as handle:
                status = handle.read()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        try:
            if int(fields["Uid"].split()[0]) == uid:
                count += int(fields["Threads"])
        except (KeyError, ValueError, IndexError):
            continue
    return count


def _shape(shape) -> list:
    return [None if dim is None else int(dim) for dim in shape]


def _detail(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".replace(os.getcwd() + os.sep, "")
    text = " ".join(text.split())
    return text if len(text) <= MAX_DETAIL_CHARS else text[:MAX_DETAIL_CHARS - 1] + "…"


def _is_out_of_memory(exc: BaseException) -> bool:
    # TensorFlow's allocator, refused by RLIMIT_AS, raises ResourceExhaustedError ("OOM when
    # allocating"), after retrying for about 10 s.
    return isinstance(exc, MemoryError) or type(exc).__name__ == "ResourceExhaustedError"


def _model_facts(model) -> tuple[list[dict], int]:
    layers = []
    for layer in model.layers[:MAX_LAYERS_REPORTED]:
        try:
            output = layer.output
            if isinstance(output, (list, tuple)):
                output = output[0]
            shape = _shape(output.shape[1:])
        except (AttributeError, ValueError, TypeError, IndexError):
            shape = []
        layers.append({
            "name": str(layer.name)[:200],
            "class_name": type(layer).__name__[:100],
            "output_shape": shape,
            "params": int(layer.count_params()),
        })
    return layers, int(model.count_params())


class Refused(Exception):
    """A model the exercise cannot accept: an error code for the parent, and its facts."""

    def __init__(self, code: str, **params) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


def load_check_predict(model_path: str, inputs, *, expected_input_shape, num_classes: int,
                       max_params: int, debug_action: str | None = None):
    """Load a .keras file (``safe_mode``, not compiled), check its input and output shapes and
    its size, and predict ``inputs`` in batches. Returns (predictions float32, layers,
    param_count); raises ``Refused`` with an error code. The sandbox child runs this; the
    benchmark runs the very same function in a warm process, without a sandbox."""
    import keras
    import numpy as np

    if debug_action == "allocate":
        hog = bytearray(8 * 2**30)  # MemoryError at once under RLIMIT_AS
        del hog
    if debug_action == "allocate_tf":
        keras.ops.convert_to_numpy(keras.ops.ones((2**31,), "float32") * 2)

    try:
        model = keras.saving.load_model(model_path, safe_mode=True, compile=False)
    except Exception as exc:
        if _is_out_of_memory(exc):
            raise
        raise Refused("load_failed", detail=_detail(exc))
    if not isinstance(model, keras.Model):
        raise Refused("load_failed", detail=f"not a keras.Model: {type(model).__name__}"[:100])

    expected = _shape(expected_input_shape)
    try:
        model_inputs = model.inputs
    except (AttributeError, ValueError):
        model_inputs = None
    if not model_inputs or len(model_inputs) != 1:
        raise Refused("bad_input_shape", got=None, count=len(model_inputs or []))
    got = _shape(model_inputs[0].shape[1:])
    if got != expected:
        raise Refused("bad_input_shape", got=got, count=1)

    want = [None, int(num_classes)]
    try:
        outputs = model.outputs or []
    except (AttributeError, ValueError):
        outputs = []
    out_shape = _shape(outputs[0].shape) if len(outputs) == 1 else None
    if out_shape != want:
        raise Refused("bad_output_shape", got=out_shape, count=len(outputs))

    layers, param_count = _model_facts(model)
    if param_count > int(max_params):
        raise Refused("over_budget", params=param_count, layers=layers, param_count=param_count)

    if debug_action == "sleep":
        time.sleep(3600)
    if debug_action == "busy":
        while True:
            pass
    if debug_action == "crash":
        os.kill(os.getpid(), signal.SIGSEGV)

    batches = []
    try:
        for start in range(0, len(inputs), PREDICT_BATCH):
            out = model(inputs[start:start + PREDICT_BATCH], training=False)
            batches.append(np.asarray(keras.ops.convert_to_numpy(out), dtype=np.float32))
    except Exception as exc:
        if _is_out_of_memory(exc):
            raise
        raise Refused("crashed", detail=_detail(exc), layers=layers, param_count=param_count)
    predictions = np.concatenate(batches) if batches else np.zeros((0, want[1]), np.float32)
    return predictions, layers, param_count


def _run_job(job: dict) -> dict:
    import numpy as np

    inputs = np.load(INPUTS_FILE, allow_pickle=False)
    predictions, layers, param_count = load_check_predict(
        MODEL_FILE, inputs, expected_input_shape=job["expected_input_shape"],
        num_classes=int(job["num_classes"]), max_params=int(job["max_params"]),
        debug_action=job.get("debug_action"))
    with open(PREDICTIONS_FILE, "xb") as handle:
        np.save(handle, predictions, allow_pickle=False)
    return {"layers": layers, "param_count": param_count}


def _collect_debug(action: str | None) -> dict | None:
    if action not in ("dump_env", "connect"):
        return None
    info = {
        "env_keys": sorted(os.environ),
        "uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups(),
        "netns": os.readlink("/proc/self/ns/net"),
        "rlimits": {name: list(resource.getrlimit(getattr(resource, name)))
                    for name in ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_NOFILE",
                                 "RLIMIT_NPROC", "RLIMIT_CORE")},
    }
    try:
        with open("/proc/self/net/dev") as handle:
            info["net_interfaces"] = sorted(line.split(":")[0].strip()
                                            for line in handle.read().splitlines()[2:])
    except OSError as exc:
        info["net_interfaces"] = [f"unreadable: {exc}"]
    if action == "connect":
        import socket

        attempts = {}
        for label, target in (("tcp_redis", ("127.0.0.1", 6379)), ("tcp_db", ("127.0.0.1", 5432))):
            try:
                socket.create_connection(target, timeout=2).close()
                attempts[label] = "connected"
            except OSError as exc:
                attempts[label] = f"failed: {type(exc).__name__}: {exc}"
        try:
            socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close()
            attempts["unix_socket"] = "created"
        except OSError as exc:
            attempts["unix_socket"] = f"failed: {type(exc).__name__}: {exc}"
        info["connect"] = attempts
    return info


def _write_json(path: str, payload: dict) -> None:
    with open(path, "x", encoding="utf-8") as handle:
        json.dump(payload, handle, allow_nan=False)


def child_main(scratch: str, jobs, done, setup: dict) -> None:
    """The sandbox process. Never returns: it leaves through ``os._exit``.

    ``jobs``: the read end of the parent's one-way pipe (one JSON message). ``done``: a write
    end on which nothing is ever written: closing it tells the parent that the files are
    complete, without waiting for the exit (tearing down a TensorFlow process takes ~10 ms).
    """
    code = EXIT_INTERNAL
    isolation: dict[str, str] = {}
    try:
        parent_pid = os.getppid()
        os.chdir(scratch)
        _redirect_stdio(os.path.join(scratch, LOG_FILE))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        _close_inherited_fds()
        _scrub_environ(scratch)
        isolation["environment"] = "scrubbed"
        # Root: a network namespace needs root, and dropping root must come before any user
        # namespace (inside one, setuid to an unmapped uid is impossible).
        network = _cut_network(as_root=True) if os.geteuid() == 0 else None
        uid = setup.get("uid")
        own_uid = uid is None  # one uid per sandbox: two children never share files or limits
        if own_uid:
            uid = int(setup["uid_base"]) + os.getpid()
        isolation["user"] = _drop_root(scratch, int(uid))
        # RLIMIT_NPROC counts every thread of the uid: leave room for the others (counted
        # before a user namespace, inside which every uid reads as 65534).
        other_threads = 0 if own_uid and isolation["user"].startswith("uid ") \
            else _threads_of_uid(os.getuid())
        isolation["network"] = network or _cut_network(as_root=False)
        _die_with_parent(parent_pid)
        isolation["sockets"] = _forbid_sockets() if setup.get("seccomp", True) else "off"
        try:
            isolation["warm_up"] = _warm_up(scratch, setup.get("warm_up") or {}, jobs.poll)
        except Exception as exc:  # noqa: BLE001  (a cold child still works, only slower)
            isolation["warm_up"] = f"failed ({type(exc).__name__})"
            print(f"sandbox: warm-up failed: {exc!r}", file=sys.stderr, flush=True)
        open(READY_FILE, "x").close()

        try:
            message = jobs.recv_bytes(1 << 16)
        except (EOFError, OSError):
            os._exit(0)  # the parent went away or discarded this spare
        jobs.close()
        job = json.loads(message)
        gc.disable()  # a short life: the address-space limit bounds it anyway
        isolation.update(_set_limits(job["limits"], other_threads))
        action = job.get("debug_action")
        payload: dict = {"status": "ok", "error_code": None, "error_params": {},
                         "layers": [], "param_count": 0, "isolation": isolation}
        try:
            payload.update(_run_job(job))
        except Refused as refusal:
            params = dict(refusal.params)
            payload["layers"] = params.pop("layers", [])
            payload["param_count"] = params.pop("param_count", 0)
            payload.update(status="error", error_code=refusal.code, error_params=params)
        if action:
            payload["debug"] = _collect_debug(action)
        _write_json(RESULT_FILE, payload)
        code = 0
    except BaseException as exc:  # noqa: BLE001
        if _is_out_of_memory(exc):
            code = EXIT_OUT_OF_MEMORY
            with contextlib.suppress(BaseException):
                _write_json(RESULT_FILE, {"status": "error", "error_code": "out_of_memory",
                                          "error_params": {}, "layers": [], "param_count": 0,
                                          "isolation": isolation})
                code = 0
        with contextlib.suppress(BaseException):
            traceback.print_exc()
    finally:
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        with contextlib.suppress(BaseException):
            done.close()
        os._exit(code)
