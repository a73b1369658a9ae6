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
   forbids new sockets (seccomp), then warms TensorFlow up on a model of its own (the starter
   notebook's layers) and waits for a job.
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
import math
import os
import resource
import signal
import sys
import tempfile
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
    "OMP_NUM_THREADS", "CUDA_VISIBLE_DEVICES", "JAX_PLATFORMS",
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
    "keras.src.legacy.saving.legacy_h5_format", "sysconfig",
    "platform", "grader.integrity",
)


PR_SET_DUMPABLE = 4


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
    # No process of the same uid (a job that escaped its namespaces) may read this one's memory
    # or /proc files, or ptrace it; each child sets it back for its own uid map.
    _libc().prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)




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
    # The forkserver's Keras import already asked tempfile for its folder (/tmp, cached in
    # tempfile.tempdir): outside Landlock's list, so every temporary file (Keras' save, the
    # warm-up) failed with PermissionError and the spare waited cold.
    tempfile.tempdir = scratch
    os.environ["KERAS_HOME"] = os.path.join(scratch, ".keras")
    os.environ.setdefault("PATH", "/usr/bin:/bin")


_CLONE_NEWNS = 0x00020000
_CLONE_NEWCGROUP = 0x02000000
_CLONE_NEWUTS = 0x04000000
_CLONE_NEWIPC = 0x08000000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWPID = 0x20000000
_CLONE_NEWNET = 0x40000000
_NAMESPACE_FLAGS = (_CLONE_NEWNS | _CLONE_NEWCGROUP | _CLONE_NEWUTS | _CLONE_NEWIPC
                    | _CLONE_NEWUSER | _CLONE_NEWPID | _CLONE_NEWNET)


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


def _close_other_fds(keep: set[int]) -> None:
    """Nothing inherited survives but stdio and the two job pipes: no socket, no pipe of the
    forkserver or of the worker can be reused by the model."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2 and fd not in keep:
            with contextlib.suppress(OSError):
                os.close(fd)


def _enter_job_namespaces() -> str:
    """A user namespace of this job's own, with a PID namespace (its first child is init: when
    it exits every process of the job dies with it), a mount, IPC, UTS and network namespace.
    Must run while the process has a single thread (it does: just forked). The uid map keeps
    the same (unprivileged) uid inside, so nothing gains root."""
    uid, gid = os.getuid(), os.getgid()
    _unshare(_CLONE_NEWUSER | _CLONE_NEWPID | _CLONE_NEWNS | _CLONE_NEWIPC | _CLONE_NEWUTS
             | _CLONE_NEWNET)
    with open("/proc/self/setgroups", "w") as handle:
        handle.write("deny")
    with open("/proc/self/uid_map", "w") as handle:
        handle.write(f"{uid} {uid} 1")
    with open("/proc/self/gid_map", "w") as handle:
        handle.write(f"{gid} {gid} 1")
    return "userns+pidns+netns+mntns+ipcns"


def _mirror_status(pid: int, *, reap_all: bool) -> int:
    """Wait for ``pid`` (as init, reap every orphan on the way) and return an exit code that
    carries a signal as 128 + its number."""
    while True:
        try:
            got, status = os.waitpid(-1 if reap_all else pid, 0)
        except ChildProcessError:
            return EXIT_INTERNAL
        except InterruptedError:
            continue
        if got == pid:
            if os.WIFSIGNALED(status):
                return 128 + os.WTERMSIG(status)
            return os.waitstatus_to_exitcode(status)


def _exit_like(code: int) -> None:
    """Leave with ``code``, or die of the signal it carries (so the parent reads -SIGXCPU)."""
    if code > 128:
        sig = code - 128
        with contextlib.suppress(Exception):
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, [sig])
            os.kill(os.getpid(), sig)
            time.sleep(1)
    os._exit(code if 0 <= code < 256 else EXIT_INTERNAL)


def _set_pdeathsig() -> None:
    PR_SET_PDEATHSIG = 1
    _libc().prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)


def _die_with_parent(parent_pid: int) -> None:
    """SIGKILL when the parent dies (the forkserver, which dies with the worker; or the job's
    init, whose death kills the whole PID namespace)."""
    _set_pdeathsig()
    if os.getppid() != parent_pid:
        os._exit(EXIT_INTERNAL)


def _drop_capabilities() -> str:
    """The user namespace gave this process every capability over its own namespaces: drop
    them all (bounding set, then effective/permitted/inheritable), before anything else."""
    import ctypes

    libc = _libc()
    PR_CAPBSET_DROP, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 24, 47, 4
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    for cap in range(64):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and ctypes.get_errno() == 22:
            break  # EINVAL: past the last capability

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    header = Header(0x20080522, 0)
    data = (Data * 2)()
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")
    with open("/proc/self/status") as handle:
        caps = dict(line.split(":", 1) for line in handle if line.startswith("Cap"))
    if int(caps["CapEff"], 16) or int(caps["CapPrm"], 16):
        raise OSError("capabilities still held")
    return "none"


def _landlock_paths(scratch: str, device: dict | None = None) -> tuple[list[str], list[str]]:
    """(read-only paths, read-write paths) the job may open: the Python runtime, the system's
    libraries, its scratch folder; never the project's source, var/, media or /proc of others.
    In GPU mode also the driver's files, read-only (the device nodes: ``_gpu_device_nodes``)."""
    import sysconfig

    project = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    read = {"/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc/ld.so.cache",
            "/etc/localtime", "/etc/nsswitch.conf", "/etc/passwd", "/etc/group",
            "/proc/self", "/proc/cpuinfo", "/proc/meminfo", "/proc/stat",
            "/sys/devices/system/cpu", "/sys/fs/cgroup", "/dev/urandom", "/dev/random",
            sys.base_prefix, sys.prefix, sys.exec_prefix}
    if (device or {}).get("mode") == "gpu":
        read.update(str(path) for path in device.get("read_only", []))
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        with contextlib.suppress(KeyError):
            read.add(sysconfig.get_paths()[key])
    for entry in sys.path:
        if not entry or not os.path.isdir(entry):
            continue
        real = os.path.realpath(entry)
        inside = real == project or real.startswith(project + os.sep)
        if inside and "site-packages" not in real:
            continue  # the project's own source: already imported, never readable again
        read.add(entry)
    allowed = []
    for path in sorted(read):
        real = os.path.realpath(path)
        if real == project or real.startswith(project + os.sep) and "site-packages" not in real:
            continue
        if os.path.exists(path):
            allowed.append(path)
    return allowed, [scratch, "/dev/null", "/dev/zero"]


_LANDLOCK_READ = (1 << 0) | (1 << 2) | (1 << 3)  # EXECUTE, READ_FILE, READ_DIR
_LANDLOCK_FILE = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 14) | (1 << 15)  # + WRITE, TRUNCATE, IOCTL
# A GPU's device nodes: read, write and ioctl (IOCTL_DEV, ABI 5+), nothing else.
_LANDLOCK_DEVICE = (1 << 1) | (1 << 2) | (1 << 15)


def _gpu_device_nodes(device: dict | None) -> list[str]:
    """The NVIDIA nodes a GPU-mode job may open (only ``/dev/nvidia*`` names, whatever it is sent)."""
    if (device or {}).get("mode") != "gpu":
        return []
    return [node for node in device.get("device_nodes", [])
            if isinstance(node, str) and node.startswith("/dev/nvidia") and os.path.exists(node)]


def _landlock_handled(abi: int) -> int:
    handled = (1 << 13) - 1  # ABI 1: EXECUTE .. MAKE_SYM
    if abi >= 2:
        handled |= 1 << 13  # REFER
    if abi >= 3:
        handled |= 1 << 14  # TRUNCATE
    if abi >= 5:
        handled |= 1 << 15  # IOCTL_DEV
    return handled


def _restrict_filesystem(scratch: str, device: dict | None = None) -> str:
    """Landlock (the kernel's unprivileged sandboxing, three system calls): from now on this
    process and its descendants open only the paths above; TCP is refused (ABI 4+), and
    signals and abstract Unix sockets stay inside the job (ABI 6+)."""
    import ctypes

    libc = _libc()
    syscall = libc.syscall
    syscall.restype = ctypes.c_long
    create, add_rule, restrict = 444, 445, 446  # the same on x86_64 and aarch64
    abi = syscall(create, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    if abi < 1:
        raise OSError(ctypes.get_errno(), "Landlock is not available in this kernel")

    class RulesetAttr(ctypes.Structure):
        _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64),
                    ("scoped", ctypes.c_uint64)]

    class PathBeneath(ctypes.Structure):
        _pack_ = 1
        _fields_ = [("allowed", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]

    handled = _landlock_handled(abi)
    attr = RulesetAttr(handled, 3 if abi >= 4 else 0, 3 if abi >= 6 else 0)
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    ruleset = syscall(create, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset")
    try:
        read_only, read_write = _landlock_paths(scratch, device)
        for paths, rights in ((read_only, _LANDLOCK_READ), (read_write, handled),
                              (_gpu_device_nodes(device), _LANDLOCK_DEVICE)):
            for path in paths:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
                try:
                    allowed = rights & handled
                    if not os.path.isdir(path):
                        allowed &= _LANDLOCK_FILE
                    rule = PathBeneath(allowed, fd)
                    if syscall(add_rule, ruleset, 1, ctypes.byref(rule), 0) != 0:
                        raise OSError(ctypes.get_errno(), f"landlock_add_rule {path}")
                finally:
                    os.close(fd)
        if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
            raise OSError(ctypes.get_errno(), "no_new_privs")
        if syscall(restrict, ruleset, 0) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self")
    finally:
        os.close(ruleset)
    return f"landlock abi {abi}"


# Syscalls a model never needs and an escape would: refused with EPERM (EACCES for socket(),
# ENOSYS for clone3 so that glibc falls back to clone, whose namespace flags are checked).
_DENIED = ("socket", "socketpair", "ptrace", "process_vm_readv", "process_vm_writev",
           "pidfd_open", "pidfd_getfd", "pidfd_send_signal", "unshare", "setns", "mount",
           "umount2", "pivot_root", "chroot", "bpf", "perf_event_open", "userfaultfd",
           "keyctl", "add_key", "request_key", "io_uring_setup", "io_uring_enter",
           "io_uring_register", "kcmp", "open_by_handle_at", "name_to_handle_at",
           "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick",
           "mount_setattr", "kexec_load", "init_module", "finit_module", "delete_module")
_SYSCALLS = {
    "x86_64": {
        "socket": 41, "socketpair": 53, "ptrace": 101, "process_vm_readv": 310,
        "process_vm_writev": 311, "pidfd_open": 434, "pidfd_getfd": 438,
        "pidfd_send_signal": 424, "unshare": 272, "setns": 308, "mount": 165, "umount2": 166,
        "pivot_root": 155, "chroot": 161, "bpf": 321, "perf_event_open": 298,
        "userfaultfd": 323, "keyctl": 250, "add_key": 248, "request_key": 249,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "kcmp": 312,
        "open_by_handle_at": 304, "name_to_handle_at": 303, "open_tree": 428,
        "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
        "mount_setattr": 442, "kexec_load": 246, "init_module": 175, "finit_module": 313,
        "delete_module": 176, "clone": 56, "clone3": 435,
    },
    "aarch64": {
        "socket": 198, "socketpair": 199, "ptrace": 117, "process_vm_readv": 270,
        "process_vm_writev": 271, "pidfd_open": 434, "pidfd_getfd": 438,
        "pidfd_send_signal": 424, "unshare": 97, "setns": 268, "mount": 40, "umount2": 39,
        "pivot_root": 41, "chroot": 51, "bpf": 280, "perf_event_open": 241,
        "userfaultfd": 282, "keyctl": 219, "add_key": 217, "request_key": 218,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "kcmp": 272,
        "open_by_handle_at": 265, "name_to_handle_at": 264, "open_tree": 428,
        "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
        "mount_setattr": 442, "kexec_load": 104, "init_module": 105, "finit_module": 273,
        "delete_module": 106, "clone": 220, "clone3": 435,
    },
}
_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}


def _seccomp_program(machine: str) -> list[tuple[int, int, int, int]]:
    import errno

    numbers = _SYSCALLS[machine]
    LD_W_ABS, JEQ_K, JGE_K, JSET_K, RET_K = 0x20, 0x15, 0x35, 0x45, 0x06
    ALLOW = 0x7FFF0000
    ERRNO = 0x00050000
    deny = [numbers[name] for name in _DENIED]
    program = [
        (LD_W_ABS, 0, 0, 4),                    # seccomp_data.arch
        (JEQ_K, 1, 0, _AUDIT_ARCH[machine]),
        (RET_K, 0, 0, ERRNO | errno.EPERM),     # another ABI (i386 on x86_64): nothing
        (LD_W_ABS, 0, 0, 0),                    # seccomp_data.nr
    ]
    if machine == "x86_64":
        program.append((JGE_K, 0, 1, 0x40000000))  # the x32 ABI: nothing
        program.append((RET_K, 0, 0, ERRNO | errno.EPERM))
    program.append((JEQ_K, 0, 1, numbers["clone3"]))
    program.append((RET_K, 0, 0, ERRNO | errno.ENOSYS))
    program.append((JEQ_K, 0, 3, numbers["clone"]))
    program.append((LD_W_ABS, 0, 0, 16))        # args[0] (low half): the clone flags
    program.append((JSET_K, 0, 1, _NAMESPACE_FLAGS))
    program.append((RET_K, 0, 0, ERRNO | errno.EPERM))
    program.append((LD_W_ABS, 0, 0, 0))
    for number in deny:
        code = errno.EACCES if number == numbers["socket"] else errno.EPERM
        program.append((JEQ_K, 0, 1, number))
        program.append((RET_K, 0, 0, ERRNO | code))
    program.append((RET_K, 0, 0, ALLOW))
    return program


def _install_seccomp() -> str:
    """A seccomp filter, in this thread and every thread or process it starts: no socket (not
    even a Unix one reached by path), no ptrace, process_vm_*, pidfd_*, no new namespace, no
    mount, no io_uring, bpf, keyring or kernel module."""
    import ctypes
    import platform

    machine = platform.machine()
    if machine not in _SYSCALLS:
        raise OSError(f"no seccomp filter for {machine}")

    class SockFilter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte),
                    ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]

    program = _seccomp_program(machine)
    filters = (SockFilter * len(program))(*[SockFilter(*op) for op in program])
    fprog = SockFprog(len(program), filters)
    libc = _libc()
    PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "no_new_privs")
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "seccomp")
    return "on"


def warm_up_model(shape: tuple[int, ...], classes: int):
    """The spare's own model: the starter notebook's layers for images big enough for them
    (``tests/test_warm_up_model.py`` checks that they stay the notebook's), else a linear model."""
    import keras

    layers = keras.layers
    if len(shape) == 3 and min(shape[:2]) >= 12:
        body = [
            layers.Rescaling(1 / 255),
            layers.Conv2D(16, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(64, activation="relu"),
        ]
    else:
        body = [layers.Flatten()]
    return keras.Sequential([keras.Input(shape), *body, layers.Dense(classes, activation="softmax")])


def _warm_up(scratch: str, hint: dict, job_waiting) -> str:
    """Run the code paths of a job once on a model of our own (TensorFlow's runtime and thread
    pools, the kernels of each layer at its shapes, the .keras reader), then forget the model.
    ``hint`` holds the previous job's input shape, number of classes and batch sizes, the
    likeliest for the next one. The model is the course's starter architecture (the one the
    exercise's notebook gives, ``exercises.submissions.notebooks``): most submissions keep its
    layers and sizes, and TensorFlow's kernels are built for exact shapes, so a job on such a
    model finds them ready. Nothing of another student's model is used. Stops early when a job
    is already waiting: the job itself will warm the rest up."""
    import keras
    import numpy as np

    shape = tuple(int(dim) for dim in hint.get("input_shape") or (28, 28, 1))
    classes = min(max(int(hint.get("classes") or 3), 2), 1000)
    batches = [int(b) for b in hint.get("batches") or (PREDICT_BATCH,)][:2]
    if int(np.prod(shape)) > 64 * 64 * 3:
        batches = [min(batch, 8) for batch in batches]
    # TensorFlow's runtime starts with the first op (~65 ms): worth it even for a waiting job.
    # On JAX the job's own path is taken (no random initial values, one compiled forward pass):
    # the backend's client, XLA's compiler and the jit machinery start here, not in the job.
    with _no_random_initial_values():
        model = warm_up_model(shape, classes)
    steps = ["model"]
    if not job_waiting():
        path = os.path.join(scratch, "warm-up.keras")
        model.save(path)
        with _no_random_initial_values():
            model = keras.saving.load_model(path, safe_mode=True, compile=False)
        os.unlink(path)
        steps.append("load")
    if keras.backend.backend() == "jax":
        batches = batches[:1]  # the job pads its last batch: one compiled shape
    for batch in batches:
        if job_waiting():
            break
        _predict(model, np.zeros((batch, *shape), "float32"))
        steps.append(f"batch {batch}")
    _model_facts(model)
    del model
    keras.backend.clear_session()
    gc.collect()
    return ", ".join(steps)


# The device this child computes on, once ``_init_device`` has run: its name as recorded on
# the submission, and the bytes XLA may allocate there (for RLIMIT_AS).
_DEVICE = {"name": "cpu", "gpu_bytes": 0}


def _init_device(settings: dict | None) -> str:
    """Start the GPU in this child (GPU mode, Keras on JAX), after every isolation step and
    before the warm-up: the spare holds its CUDA context while it waits, so CUDA's start is off
    the job's path, and the forkserver (``JAX_PLATFORMS=cpu``, ``CUDA_VISIBLE_DEVICES=-1``)
    never touched the device. Returns what the isolation report says; when CUDA cannot start
    here the child goes on on the CPU and says why (workers/sandbox_gpu.py)."""
    import keras

    if (settings or {}).get("mode") != "gpu" or keras.backend.backend() != "jax":
        return "cpu"
    import jax
    import numpy as np

    os.environ["CUDA_VISIBLE_DEVICES"] = str(settings.get("visible_devices") or "0")
    os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
    os.environ["XLA_PYTHON_CLIENT_MEM_FRACTION"] = str(float(settings.get("memory_fraction") or 0.25))
    os.environ.pop("JAX_PLATFORMS", None)
    try:
        jax.config.update("jax_platforms", "cuda,cpu")
        gpu = jax.devices()[0]
        if gpu.platform != "gpu":
            raise RuntimeError(f"JAX's first device is {gpu.platform}")
        jax.device_put(np.zeros(4, "float32"), gpu).block_until_ready()
        stats = gpu.memory_stats() or {}
        _DEVICE.update(name=f"gpu:{int(gpu.id)}", gpu_bytes=int(stats.get("bytes_limit") or 0))
        return _DEVICE["name"]
    except Exception as exc:  # noqa: BLE001  (graded on the CPU instead, and said)
        print(f"sandbox: GPU mode, but CUDA did not start: {exc!r}; on the CPU", file=sys.stderr,
              flush=True)
        os.environ["CUDA_VISIBLE_DEVICES"] = "-1"
        with contextlib.suppress(Exception):  # the CPU client may already be the one in use
            from jax.extend.backend import clear_backends

            jax.config.update("jax_platforms", "cpu")
            clear_backends()
        _DEVICE.update(name="cpu", gpu_bytes=0)
        return f"cpu (GPU mode, but CUDA did not start: {type(exc).__name__}: {str(exc)[:120]})"


# --------------------------------------------------------------------------------------
# Job phase
# --------------------------------------------------------------------------------------

def _set_limits(limits: dict, other_threads: int) -> dict[str, str]:
    """The job's resource limits. In GPU mode RLIMIT_AS counts from what CUDA has already mapped
    (very large virtual ranges): mapped + the job's memory limit + the GPU memory XLA may use."""
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
    if _DEVICE["name"] != "cpu" and current is not None:
        setlimit("memory", resource.RLIMIT_AS, current + address_space + _DEVICE["gpu_bytes"])
        report["memory"] += f" (GPU mode: {current} mapped + {address_space} + {_DEVICE['gpu_bytes']} on the GPU)"
    elif current is not None and current >= address_space:
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


def _own_threads() -> int:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 1


def _shape(shape) -> list:
    return [None if dim is None else int(dim) for dim in shape]


def _detail(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".replace(os.getcwd() + os.sep, "")
    text = " ".join(text.split())
    return text if len(text) <= MAX_DETAIL_CHARS else text[:MAX_DETAIL_CHARS - 1] + "…"


def _is_out_of_memory(exc: BaseException) -> bool:
    # TensorFlow's allocator, refused by RLIMIT_AS, raises ResourceExhaustedError ("OOM when
    # allocating"), after retrying for about 10 s.
    # XLA (JAX, CPU or GPU) raises its runtime error with RESOURCE_EXHAUSTED.
    if type(exc).__name__ in ("XlaRuntimeError", "JaxRuntimeError"):
        return "RESOURCE_EXHAUSTED" in str(exc)[:500]
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
        with _no_random_initial_values():
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

    try:
        predictions = _predict(model, inputs)
    except Exception as exc:
        if _is_out_of_memory(exc):
            raise
        raise Refused("crashed", detail=_detail(exc), layers=layers, param_count=param_count)
    if predictions is None:
        predictions = np.zeros((0, want[1]), np.float32)
    return predictions, layers, param_count


@contextlib.contextmanager
def _no_random_initial_values():
    """While a model is built or loaded on JAX, its layers' random initialisers give zeros.

    Loading builds every layer, which draws each weight's initial value, and JAX compiles its
    random-number generator anew for each weight shape: 2 to 12 s per shape on these CPUs (XLA's
    threefry), most of a fresh child's job. The values are overwritten at once by the file's
    weights, so nothing the model computes changes. TensorFlow draws them in microseconds."""
    import keras

    if keras.backend.backend() != "jax":
        yield
        return
    import numpy as np
    from keras.src import backend

    module = backend.random

    def zeros(shape, *args, dtype=None, **kwargs):
        try:
            return np.zeros(tuple(shape), dtype=dtype or keras.config.floatx())
        except TypeError:  # a dtype NumPy does not know (bfloat16)
            return keras.ops.zeros(tuple(shape), dtype=dtype)

    names = ("normal", "uniform", "truncated_normal")
    saved = {name: getattr(module, name) for name in names}
    for name in names:
        setattr(module, name, zeros)
    try:
        yield
    finally:
        for name, function in saved.items():
            setattr(module, name, function)


def _predict(model, inputs):
    """The model's outputs for ``inputs`` (float32), by batches of PREDICT_BATCH; None for none.

    TensorFlow runs the layers eagerly (fast kernels, nothing to compile). JAX would compile
    every operation for every new shape (seconds in a fresh child), so there the forward pass
    is compiled once, as one XLA program, and the last batch is padded to the same shape."""
    import keras
    import numpy as np

    if len(inputs) == 0:
        return None
    batches = []
    if keras.backend.backend() != "jax":
        for start in range(0, len(inputs), PREDICT_BATCH):
            out = model(inputs[start:start + PREDICT_BATCH], training=False)
            batches.append(np.asarray(keras.ops.convert_to_numpy(out), dtype=np.float32))
        return np.concatenate(batches)
    import jax

    trainable = [variable.value for variable in model.trainable_variables]
    non_trainable = [variable.value for variable in model.non_trainable_variables]

    def forward(trainable, non_trainable, batch):
        out, _ = model.stateless_call(trainable, non_trainable, batch, training=False)
        if isinstance(out, dict):
            out = next(iter(out.values()))
        if isinstance(out, (list, tuple)):
            out = out[0]
        return out

    compiled = jax.jit(forward)
    size = min(len(inputs), PREDICT_BATCH)
    for start in range(0, len(inputs), size):
        batch = inputs[start:start + size]
        real = len(batch)
        if real < size:
            batch = np.concatenate([batch, np.zeros((size - real, *batch.shape[1:]), batch.dtype)])
        out = compiled(trainable, non_trainable, batch)
        batches.append(np.asarray(out, dtype=np.float32)[:real])
    return np.concatenate(batches)


def _run_job(job: dict) -> dict:
    import numpy as np

    inputs = np.load(INPUTS_FILE, allow_pickle=False)
    predictions, layers, param_count = load_check_predict(
        MODEL_FILE, inputs, expected_input_shape=job["expected_input_shape"],
        num_classes=int(job["num_classes"]), max_params=int(job["max_params"]),
        debug_action=job.get("debug_action"))
    with open(PREDICTIONS_FILE, "xb") as handle:
        np.save(handle, predictions, allow_pickle=False)
    return {"layers": layers, "param_count": param_count, "fingerprint": _fingerprint(MODEL_FILE)}


def _fingerprint(path: str) -> dict | None:
    """The weights' fingerprint for the integrity report (copied models), read here, inside the
    jail: parsing a student's HDF5 is as hostile as loading it (h5py's bundled HDF5 has had heap
    overflows), so the worker never parses the file itself. None if the file cannot be read as
    data (the report then goes without its weight signals)."""
    try:
        from grader.integrity import fingerprint_keras_file

        found = fingerprint_keras_file(path)
    except Exception:  # noqa: BLE001 — whatever the file does, the grade stands
        return None
    sketch = [float(value) for value in found.sketch]
    if not all(math.isfinite(value) for value in sketch):
        return None  # NaN or infinite weights: JSON cannot carry them, and they compare to nothing
    return {"architecture": found.architecture, "weights_digest": found.weights_digest, "sketch": sketch}


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


def _run_attack(source: str, targets: dict) -> dict:
    """Test hook (never in production: the parent sends it only under STRIDE_SANDBOX_TEST_HOOKS
    and the spare accepts it only when started so): attacker code run exactly where a parser
    exploit would run, in place of the model loader, after every isolation step."""
    namespace: dict = {"__name__": "stride_attack"}
    exec(compile(source, "<attack>", "exec"), namespace)
    return namespace["attack"](targets)


def _isolate(scratch: str, jobs, done, setup: dict, isolation: dict) -> None:
    """Every isolation step, in order, in the process that will run the job. Returns in that
    process (the job's second process of a fresh PID namespace); its ancestors only wait."""
    forkserver_pid = os.getppid()
    os.chdir(scratch)
    _redirect_stdio(os.path.join(scratch, LOG_FILE))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    _close_inherited_fds()
    _close_other_fds({jobs.fileno(), done.fileno()})
    _scrub_environ(scratch)
    isolation["environment"] = "scrubbed"
    _die_with_parent(forkserver_pid)
    isolation["user"] = f"uid {os.getuid()}"
    _libc().prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)  # its own /proc/self/uid_map must be writable
    isolation["namespaces"] = _enter_job_namespaces()
    # This process stays in the worker's view (the parent can kill it and reads its status);
    # its child is init of the new PID namespace, and init's child runs the job.
    init = os.fork()
    if init:
        jobs.close()
        done.close()
        _exit_like(_mirror_status(init, reap_all=False))
    _set_pdeathsig()  # init dies with the process above, and the whole namespace with it
    job = os.fork()
    if job:
        jobs.close()
        done.close()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _exit_like(_mirror_status(job, reap_all=True))
    _die_with_parent(1)
    isolation["pid"] = "own PID namespace"
    isolation["capabilities"] = _drop_capabilities()
    isolation["filesystem"] = _restrict_filesystem(scratch, setup.get("device"))
    isolation["seccomp"] = _install_seccomp()


class _Timeline:
    """Where a child's life went, sent with its result (``SandboxResult.isolation``) for the
    benchmarks and anyone debugging a slow job: "started 12 ms, isolated 31 ms,
    warm 402 ms, waited 5 ms, job 150 ms" (each phase's own duration)."""

    def __init__(self, since: float | None = None) -> None:
        self.last = time.monotonic()
        self.phases: list[str] = []
        if isinstance(since, float) and since <= self.last:  # when the worker asked for this child
            self.phases.append(f"started {(self.last - since) * 1000:.0f} ms")

    def mark(self, phase: str) -> None:
        now = time.monotonic()
        self.phases.append(f"{phase} {(now - self.last) * 1000:.0f} ms")
        self.last = now

    def text(self) -> str:
        return ", ".join(self.phases)


def child_main(scratch: str, jobs, done, setup: dict) -> None:
    """The sandbox process. Never returns: it leaves through ``os._exit``.

    ``jobs``: the read end of the parent's one-way pipe (one JSON message). ``done``: a write
    end on which nothing is ever written: closing it tells the parent that the files are
    complete, without waiting for the exit (tearing down a TensorFlow process takes ~10 ms).
    """
    code = EXIT_INTERNAL
    isolation: dict[str, str] = {}
    clock = _Timeline(setup.get("asked_at"))
    preloaded = os.getpid() != _IMPORTED_BY
    try:
        # Any failure to isolate ends the child before it reads a job: fail closed.
        _isolate(scratch, jobs, done, setup, isolation)
        clock.mark("isolated")
        isolation["forkserver"] = "preloaded" if preloaded else "not preloaded: the child imported its module"
        isolation["device"] = _init_device(setup.get("device"))
        try:
            isolation["warm_up"] = _warm_up(scratch, setup.get("warm_up") or {}, jobs.poll)
        except Exception as exc:  # noqa: BLE001  (a cold child still works, only slower)
            isolation["warm_up"] = f"failed ({type(exc).__name__})"
            print(f"sandbox: warm-up failed: {exc!r}", file=sys.stderr, flush=True)
        clock.mark("warm")
        open(READY_FILE, "x").close()

        try:
            message = jobs.recv_bytes(1 << 16)
        except (EOFError, OSError):
            os._exit(0)  # the parent went away or discarded this spare
        jobs.close()
        job = json.loads(message)
        gc.disable()  # a short life: the address-space limit bounds it anyway
        isolation.update(_set_limits(job["limits"], _own_threads() + 1))
        action = job.get("debug_action")
        payload: dict = {"status": "ok", "error_code": None, "error_params": {},
                         "layers": [], "param_count": 0, "isolation": isolation,
                         "device": _DEVICE["name"]}
        attack = job.get("attack")
        if attack is not None and setup.get("test_hooks"):
            payload["debug"] = {"attack": _run_attack(attack["source"], attack["targets"])}
            _write_json(RESULT_FILE, payload)
            code = 0
            return
        clock.mark("waited")
        try:
            payload.update(_run_job(job))
            clock.mark("job")
        except Refused as refusal:
            params = dict(refusal.params)
            payload["layers"] = params.pop("layers", [])
            payload["param_count"] = params.pop("param_count", 0)
            payload.update(status="error", error_code=refusal.code, error_params=params)
        if action:
            payload["debug"] = _collect_debug(action)
        isolation["timeline"] = clock.text()
        _write_json(RESULT_FILE, payload)
        code = 0
    except BaseException as exc:  # noqa: BLE001
        if _is_out_of_memory(exc):
            code = EXIT_OUT_OF_MEMORY
            with contextlib.suppress(BaseException):
                _write_json(RESULT_FILE, {"status": "error", "error_code": "out_of_memory",
                                          "error_params": {}, "layers": [], "param_count": 0,
                                          "isolation": isolation, "device": _DEVICE["name"]})
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


# Last: it uses the functions above.
if os.environ.get(FORKSERVER_ENV) == "1" and __name__ != "__main__":
    _preload_in_forkserver()
# A child forked from a forkserver that preloaded this module runs in another process than the
# one that imported it; a child that had to import it itself paid for it (and for Keras's lazy
# modules) before its job. ``child_main`` reports which (isolation["forkserver"]).
_IMPORTED_BY = os.getpid()
