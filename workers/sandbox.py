"""Load an untrusted ``.keras`` model in a fresh, isolated, fast process and get its predictions.

The worker (this process) never imports Keras or TensorFlow. It asks a ``multiprocessing``
forkserver, started once with Keras preloaded, for a new child per submission; that child
(``workers.sandbox_child``) loads the model, checks it, predicts and exits. The parent trusts
nothing it sends back: it reads two files from the child's scratch folder (``result.json``,
validated strictly, and ``predictions.npy`` with ``allow_pickle=False``) and its exit status.

**Fresh and fast.** A child forks from the forkserver, isolates itself, warms TensorFlow up on a
model of its own (the starter notebook's layers, at the previous job's input shape and number of
classes: never another student's model) and waits as the *spare*. A job
takes the spare; once it is over a new spare is forked in the background, so the next job finds
a warm, never-used process. If a job is already waiting, the spare cuts its warm-up short.
The child closes an otherwise unused pipe when its files are complete, so the parent reads them
without waiting for the ~10 ms teardown of a TensorFlow process (reaped in the background).
What the jail costs against a warm process and a fresh ``python`` per job, as a root and as an
unprivileged worker: ``bench/grading_sandbox.py``, figures in docs/performance.md ("The jail").

**The jail** (docs/sandbox.md: each property, how, and the test that proves it as root and as
an unprivileged worker). The same whether the worker runs as root or not:

- the forkserver, and so every child, runs under **bubblewrap** (``_jail_argv``): a user, network,
  IPC and UTS namespace, a new session, no capabilities; mounted: the system's libraries, the
  Python runtime, the project read-only with ``var/`` and ``STRIDE_VAR_DIR`` under empty tmpfs,
  an empty ``/tmp``, the scratch root. As root the worker first drops to ``STRIDE_SANDBOX_UID``
  (1800000000 by default, never 0) with ``setpriv``, so the jail owns nothing of the worker's;
  not root, it keeps the worker's uid and relies on the layers below;
- the forkserver starts with the environment scrubbed to ``sandbox_child.ENV_ALLOWED``: no
  secret sits in a child's initial environment block (its memory, /proc/PID/environ), and the
  worker and the forkserver are non-dumpable;
- each child, while it has a single thread (``sandbox_child._isolate``): its own scratch folder
  as working directory, HOME, TMPDIR and tempfile's folder; every inherited descriptor but its
  two job pipes closed; a user + PID + mount + network + IPC namespace of its own (its init is
  the job's parent: when it exits, every process of the job dies; a PDEATHSIG chain ties it to
  the forkserver, which dies with the worker); no capabilities; **Landlock** (its scratch folder
  read-write, the runtime read-only; no TCP; signals and abstract sockets scoped); a **seccomp**
  filter (no socket, ptrace, process_vm_*, pidfd_*, new namespace, mount, io_uring, bpf);
  then, once the job is known, RLIMIT_CPU, _FSIZE, _NOFILE, _NPROC and _AS. A failure of any
  step ends the child before it reads a job (fail closed); without bubblewrap
  ``SandboxUnavailable`` is raised and no model runs;
- the parent copies in only the model and the inputs (never the labels), writes with O_EXCL,
  reads back with O_NOFOLLOW|O_NONBLOCK, regular files only, size-capped, validates
  ``result.json`` strictly and scores the predictions itself; it removes the folder afterwards.

The forkserver runs on the CPU (``CUDA_VISIBLE_DEVICES=-1``, ``JAX_PLATFORMS=cpu``): a CUDA
context cannot be shared across fork. On a JAX worker with a GPU each child starts its own
(GPU mode: ``workers/sandbox_gpu.py``); everywhere else the children run on the CPU.

**Celery.**

- Connect ``sandbox_warm_up()`` to ``worker_process_init`` (the pool process runs the tasks)
  and ``sandbox_shutdown()`` to ``worker_process_shutdown`` (pool processes leave through
  ``os._exit``: atexit never runs there; a later start sweeps what a killed one left behind).
  ``sandbox_warm_up`` returns at once: the forkserver preloads Keras (~2.5 s) in the background,
  and Celery kills a pool process whose init takes over 4 s. A job that comes sooner waits.
- Not in the main worker process (``worker_init``/``worker_ready``): a forkserver belongs to the
  process that started it. A fork handler here makes it work anyway, but each pool process
  then starts its own forkserver, and the main one's is wasted memory.
- Each pool process holds a forkserver (~0.6 GB, Keras imported) and a spare; avoid
  ``--max-tasks-per-child`` on the model queue: each new pool process pays ~2.5 s once.
  The sandbox already makes every job fresh.
- A pool process is "daemonic" to multiprocessing; ``_as_plain_parent`` explains why starting
  the sandbox from it is safe anyway. Task soft time limits should exceed ``wall_seconds``;
  on a soft limit the child is reaped (2 s grace, then killed) in the background.

Any process that uses the sandbox re-imports its ``__main__`` module in each child, as every
forkserver/spawn multiprocessing child does: scripts need ``if __name__ == "__main__":``.
Importing this module imports the ``workers`` package, hence Celery and Django's module (not
its settings); the child module is preloaded into the forkserver for the same reason.
"""
from __future__ import annotations

import atexit
import contextlib
import io
import json
import logging
import math
import multiprocessing
import multiprocessing.connection
import os
import re
import shutil
import signal
import stat
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from . import sandbox_child as child
from . import sandbox_gpu

__all__ = [
    "ERROR_CODES", "SandboxLimits", "SandboxResult", "SandboxUnavailable", "run_model_in_sandbox",
    "sandbox_keep_warm", "sandbox_shutdown", "sandbox_warm_up",
]

log = logging.getLogger(__name__)

ERROR_CODES = (
    "load_failed", "bad_input_shape", "bad_output_shape", "over_budget", "timeout",
    "crashed", "out_of_memory", "bad_predictions",
)
TEST_HOOKS_ENV = "STRIDE_SANDBOX_TEST_HOOKS"
PRELOAD = ["keras", "encodings.cp437", "workers.sandbox_child"]
_UID_BASE = 1_800_000_000
_SCRATCH_PREFIX = "stride-sandbox-"
_MAX_RESULT_BYTES = 1 << 20
_MAX_LOG_TAIL = 64 << 10
_OOM_PATTERNS = re.compile(
    rb"MemoryError|std::bad_alloc|Cannot allocate memory|ResourceExhausted|OOM when allocating")


@dataclass(frozen=True)
class SandboxLimits:
    wall_seconds: float = 60
    cpu_seconds: int = 60
    memory_bytes: int = 3 * 2**30  # RLIMIT_AS; TensorFlow needs 2 GiB (1 GiB kills it)
    file_bytes: int = 64 * 2**20
    open_files: int = 256
    processes: int = 64  # RLIMIT_NPROC counts threads; TensorFlow starts a few

    def __post_init__(self) -> None:
        if not self.wall_seconds > 0 or self.cpu_seconds < 1:
            raise ValueError("wall_seconds and cpu_seconds must be positive")
        if self.memory_bytes < 2 * 2**30:
            raise ValueError("memory_bytes below 2 GiB: TensorFlow itself would not start")
        if self.file_bytes < 2**20 or self.open_files < 64 or self.processes < 64:
            raise ValueError("file_bytes >= 1 MiB, open_files >= 64 and processes >= 64")


@dataclass(frozen=True)
class SandboxResult:
    ok: bool
    predictions: np.ndarray | None  # (N, K) float32, finite
    error: dict[str, str] | None  # {"fr": ..., "en": ...}, for the student
    error_code: str | None  # one of ERROR_CODES
    layers: list[dict]  # [{"name", "class_name", "output_shape" (no batch), "params"}]
    param_count: int
    seconds: float
    # What isolation the child applied ({"network": "netns", "user": "uid ...", ...}), as it
    # reported it: for logs, never for decisions.
    isolation: dict[str, str] = field(default_factory=dict)
    debug: dict | None = None  # test hooks only
    # Where the job computed: ``cpu`` or ``gpu:N`` (the child's report, accepted only when the
    # jail was started in GPU mode; see workers/sandbox_gpu.py).
    device: str = "cpu"
    # The weights' fingerprint the child read inside the jail ({"architecture", "weights_digest",
    # "sketch"}), for the integrity report; None when the file's weights could not be read.
    fingerprint: dict | None = None


# --------------------------------------------------------------------------------------
# Messages for the student (the child sends a code and facts; the words are ours)
# --------------------------------------------------------------------------------------

def _shape_text(shape) -> str:
    if shape is None:
        return "?"
    items = ["None" if dim is None else str(dim) for dim in shape]
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def _number(value: int, lang: str) -> str:
    return f"{value:,}".replace(",", "\u202f" if lang == "fr" else ",")


def _message(code: str, params: dict, *, expected_input_shape: tuple[int, ...],
             num_classes: int, max_params: int, limits: SandboxLimits) -> dict[str, str]:
    detail = params.get("detail") if isinstance(params.get("detail"), str) else ""
    expected = _shape_text(expected_input_shape)
    if code == "load_failed":
        return {
            "fr": "Le fichier n'a pas pu être chargé comme modèle Keras"
                  + (f" ({detail})" if detail else "") + ". Enregistrez le modèle avec "
                  "model.save(\"modele.keras\") et n'utilisez que des couches standard de Keras.",
            "en": "The file could not be loaded as a Keras model"
                  + (f" ({detail})" if detail else "") + ". Save the model with "
                  "model.save(\"model.keras\") and use only standard Keras layers.",
        }
    if code == "bad_input_shape":
        if params.get("got") is None:
            count = params.get("count", 0)
            return {
                "fr": f"Le modèle n'a pas une entrée unique de forme connue ({count} entrée(s)) : "
                      f"l'exercice fournit des images de forme {expected}. Commencez le modèle "
                      f"par keras.Input(shape={expected}).",
                "en": f"The model does not have a single input of known shape ({count} "
                      f"input(s)): the exercise provides images of shape {expected}. Start the "
                      f"model with keras.Input(shape={expected}).",
            }
        got = _shape_text(params["got"])
        return {
            "fr": f"Le modèle attend des entrées de forme {got} (sans la dimension du lot), "
                  f"mais l'exercice fournit des images de forme {expected}. Commencez le modèle "
                  f"par keras.Input(shape={expected}).",
            "en": f"The model expects inputs of shape {got} (batch dimension excluded), "
                  f"but the exercise provides images of shape {expected}. Start the model "
                  f"with keras.Input(shape={expected}).",
        }
    if code == "bad_output_shape":
        got = _shape_text(params.get("got"))
        want = _shape_text((None, num_classes))
        return {
            "fr": f"La sortie du modèle a la forme {got} ; l'exercice attend {want}, un score "
                  f"par classe pour chaque image. Terminez le modèle par "
                  f"Dense({num_classes}, activation=\"softmax\").",
            "en": f"The model's output has shape {got}; the exercise expects {want}, one score "
                  f"per class for each image. End the model with "
                  f"Dense({num_classes}, activation=\"softmax\").",
        }
    if code == "over_budget":
        count = params.get("params") if isinstance(params.get("params"), int) else 0
        return {
            "fr": f"Le modèle a {_number(count, 'fr')} paramètres, plus que la limite de "
                  f"{_number(max_params, 'fr')} fixée par l'exercice. Réduisez le nombre de "
                  "filtres ou de neurones, ou ajoutez du pooling avant les couches denses.",
            "en": f"The model has {_number(count, 'en')} parameters, more than the exercise's "
                  f"limit of {_number(max_params, 'en')}. Use fewer filters or units, or pool "
                  "before the dense layers.",
        }
    if code == "timeout":
        seconds = params.get("seconds", limits.wall_seconds)
        return {
            "fr": f"L'évaluation du modèle a dépassé le temps alloué ({seconds:g} s). Un modèle "
                  "plus petit ira plus vite.",
            "en": f"Evaluating the model took longer than allowed ({seconds:g} s). A smaller "
                  "model will be faster.",
        }
    if code == "out_of_memory":
        gib = limits.memory_bytes / 2**30
        return {
            "fr": f"Le modèle a dépassé la mémoire autorisée ({gib:g} Gio). Réduisez la taille "
                  "des couches.",
            "en": f"The model needed more memory than allowed ({gib:g} GiB). Make its layers "
                  "smaller.",
        }
    if code == "bad_predictions":
        count, total = params.get("count", 0), params.get("total", 0)
        if params.get("reason") == "not_finite":
            return {
                "fr": f"Les prédictions du modèle contiennent des valeurs non finies (NaN ou "
                      f"infini) : {_number(count, 'fr')} sur {_number(total, 'fr')}. Vérifiez "
                      "les poids du modèle (un entraînement qui a divergé donne des NaN).",
                "en": f"The model's predictions contain non-finite values (NaN or infinity): "
                      f"{_number(count, 'en')} of {_number(total, 'en')}. Check the model's "
                      "weights (a training run that diverged gives NaN).",
            }
        return {
            "fr": "Le modèle n'a pas produit de prédictions utilisables"
                  + (f" ({detail})" if detail else "") + ".",
            "en": "The model did not produce usable predictions"
                  + (f" ({detail})" if detail else "") + ".",
        }
    # crashed (and anything unexpected)
    return {
        "fr": "Le modèle a fait échouer l'évaluation" + (f" ({detail})" if detail else "")
              + ". Vérifiez qu'il se charge et prédit dans votre notebook avec "
              "keras.saving.load_model.",
        "en": "The model made the evaluation fail" + (f" ({detail})" if detail else "")
              + ". Check that it loads and predicts in your notebook with "
              "keras.saving.load_model.",
    }


# --------------------------------------------------------------------------------------
# The forkserver and the spare child
# --------------------------------------------------------------------------------------

def _context():
    return multiprocessing.get_context("forkserver")


def _forkserver():
    from multiprocessing import forkserver

    return forkserver._forkserver


def _process_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            state = handle.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in (b"Z", b"X")


_ENV_LOCK = threading.Lock()


@contextlib.contextmanager
def _scrubbed_environ():
    """The environment the forkserver starts with (and so every child's initial environment
    block, readable in its memory and /proc/self/environ). Swapping os.environ briefly is the
    only way multiprocessing offers; it happens once per process."""
    with _ENV_LOCK:
        saved = dict(os.environ)
        kept = {key: saved[key] for key in child.ENV_ALLOWED if key in saved}
        kept.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        # The forkserver never sees a GPU (nor does JAX probe one there): a child in GPU mode
        # sets its own before its first JAX operation (sandbox_child._init_device).
        kept["CUDA_VISIBLE_DEVICES"] = "-1"
        kept["JAX_PLATFORMS"] = "cpu"
        kept[child.FORKSERVER_ENV] = "1"
        # Python 3.11's forkserver ignores the sys.path it is sent (fixed in 3.12): without this
        # it could not import workers.sandbox_child, silently, and every child imported it (and
        # the worker's package, Celery included) itself: about 240 ms before each job.
        kept["PYTHONPATH"] = os.pathsep.join(entry for entry in sys.path if entry and os.path.isdir(entry))
        os.environ.clear()
        os.environ.update(kept)
        try:
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)


def _ensure_forkserver() -> None:
    server = _forkserver()
    pid = server._forkserver_pid
    if pid is not None and _process_alive(pid):
        if _POOL.forkserver_owner != os.getpid() and not _POOL.warned_foreign:
            _POOL.warned_foreign = True
            log.warning("sandbox: this process's forkserver was started by other code, without "
                        "Keras preloaded or a scrubbed environment; sandboxes will be slow")
        return
    _context().set_forkserver_preload(PRELOAD)
    # The worker itself: no process of its uid may read its memory, environment or fds.
    child._libc().prctl(child.PR_SET_DUMPABLE, 0, 0, 0, 0)
    root = _POOL.scratch_root()
    try:
        plan = sandbox_gpu.device_plan()
    except sandbox_gpu.DeviceSettingError as exc:
        raise SandboxUnavailable(str(exc)) from exc
    sandbox_gpu.log_plan(plan)
    with _scrubbed_environ(), _jailed_spawn(root, plan):
        server.ensure_running()
    _POOL.forkserver_owner = os.getpid()
    _POOL.bound_root = root
    _POOL.device_plan = plan


class SandboxUnavailable(RuntimeError):
    """The jail cannot be built here (no bubblewrap, no user namespaces): no model runs."""


def _sandbox_uid() -> int:
    """The uid the jail runs under: the worker's own when it is not root; as root, an unused
    uid (``STRIDE_SANDBOX_UID``, 1800000000 by default) that owns nothing of the worker's."""
    if os.geteuid() != 0:
        return os.geteuid()
    setting = os.environ.get("STRIDE_SANDBOX_UID", "").strip()
    uid = int(setting) if setting.isdigit() else _UID_BASE
    if uid == 0:
        raise SandboxUnavailable("STRIDE_SANDBOX_UID=0: the sandbox never runs as root")
    return uid


def _jail_argv(scratch_root: Path, plan: sandbox_gpu.DevicePlan | None = None) -> list[str]:
    """bubblewrap around the forkserver (so around every child): a user namespace, no network,
    IPC or UTS of the host, a new session, and a filesystem of its own: the system's libraries
    and the Python runtime read-only, the project read-only but without var/, an empty /tmp,
    and the scratch root read-write (each job then restricts itself to its own folder). As root
    the worker first drops to the sandbox uid (setpriv), so the jail is the same either way."""
    import sysconfig

    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable("bubblewrap (bwrap) is not installed: apt-get install bubblewrap")
    argv: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            raise SandboxUnavailable("setpriv (util-linux) is not installed")
        uid = _sandbox_uid()
        interpreter = os.path.realpath(sys.executable)
        closed = _closed_folder(interpreter)
        if closed is not None:
            raise SandboxUnavailable(
                f"the sandbox's user (uid {uid}) cannot reach the Python interpreter {interpreter}: {closed} "
                f"is closed to other users (bin/bootstrap opens it as root: chmod o+x {closed})")
        argv += [setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                 "--inh-caps=-all", "--"]
    argv += [bwrap, "--unshare-user", "--unshare-net", "--unshare-ipc", "--unshare-uts",
             "--unshare-cgroup-try", "--new-session", "--cap-drop", "ALL"]
    for path in ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc"):
        argv += ["--ro-bind-try", path, path]
    argv += ["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    if plan is not None:
        argv += plan.bwrap_args()  # GPU mode only: the NVIDIA nodes and the driver's files
    project = Path(__file__).resolve().parent.parent
    read_only = {sys.base_prefix, sys.prefix, sys.exec_prefix, str(project)}
    read_only.update(sysconfig.get_paths().get(key, "") for key in ("purelib", "platlib"))
    read_only.update(entry for entry in sys.path if entry and os.path.isdir(entry))
    for path in sorted({os.path.realpath(p) for p in read_only if p and os.path.isdir(p)}):
        if os.geteuid() != 0 or _world_readable(path):  # the sandbox uid could not read it
            argv += ["--ro-bind", path, path]
    hidden = {(project / "var").resolve()}
    if os.environ.get("STRIDE_VAR_DIR"):
        hidden.add(Path(os.environ["STRIDE_VAR_DIR"]).resolve())
    for path in sorted(hidden):
        if path.is_dir():
            argv += ["--tmpfs", str(path)]
    root = os.path.realpath(scratch_root)
    argv += ["--bind", root, root, "--chdir", root]
    return argv


def _closed_folder(path: str) -> str | None:
    """The first folder above ``path`` that another uid cannot enter, or None."""
    for parent in reversed(Path(path).parents):
        if not os.stat(parent).st_mode & stat.S_IXOTH:
            return str(parent)
    return None


def _world_readable(path: str) -> bool:
    """Whether another uid can list ``path`` (every folder above it traversable)."""
    return bool(os.stat(path).st_mode & stat.S_IROTH) and _closed_folder(path) is None


@contextlib.contextmanager
def _jailed_spawn(scratch_root: Path, plan: sandbox_gpu.DevicePlan | None = None):
    """multiprocessing starts the forkserver with ``util.spawnv_passfds``: put the jail in front
    of the interpreter (bubblewrap keeps the listener and alive fds it is passed)."""
    from multiprocessing import resource_tracker, util

    prefix = _jail_argv(scratch_root, plan)
    resource_tracker.ensure_running()  # the worker's own, outside the jail
    original = util.spawnv_passfds

    def jailed(path, args, passfds):
        argv = prefix + [path, *list(args)[1:]]
        return original(os.fsencode(argv[0]), argv, passfds)

    util.spawnv_passfds = jailed
    try:
        yield
    finally:
        util.spawnv_passfds = original


@dataclass
class _Spare:
    process: multiprocessing.process.BaseProcess
    scratch: Path
    jobs: object  # write end of a one-way pipe: the one job message
    done: object  # read end of a pipe the child only closes: "my files are complete"


class _Pool:
    """One warm, never-used spare child per worker process, and the children on their way
    out (reaped, and their scratch folders removed, off the job's path)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.spare: _Spare | None = None
        self.dying: list[_Spare] = []
        self.threads: set[threading.Thread] = set()
        self.root: Path | None = None
        self.bound_root: Path | None = None  # the scratch root the running jail binds
        # The running forkserver's device (what its jail binds, what its children initialise).
        self.device_plan: sandbox_gpu.DevicePlan = sandbox_gpu.DevicePlan(mode="cpu")
        self.owner_pid = os.getpid()
        self.forkserver_owner: int | None = None
        self.warned_foreign = False
        self.shut = False
        # The previous job's input shape and batch sizes: the next spare warms up on them.
        self.warm_up_hint: dict = {}

    def scratch_root(self) -> Path:
        if self.root is None or not self.root.is_dir():
            base = Path(os.environ.get("STRIDE_SANDBOX_DIR") or tempfile.gettempdir())
            _traversable_folder(base)
            _remove_stale_roots(base)
            self.root = Path(tempfile.mkdtemp(prefix=f"{_SCRATCH_PREFIX}{os.getpid()}-",
                                              dir=base))
            # Children of another uid must reach their own folder inside, but not list it.
            os.chmod(self.root, 0o711)
        return self.root

    def _start_spare(self) -> _Spare:
        _ensure_forkserver()
        scratch = Path(tempfile.mkdtemp(prefix="job-", dir=self.scratch_root()))
        ctx = _context()
        jobs_r, jobs_w = ctx.Pipe(duplex=False)
        done_r, done_w = ctx.Pipe(duplex=False)
        if os.geteuid() == 0:
            os.chown(scratch, _sandbox_uid(), _sandbox_uid())
        setup = {"warm_up": self.warm_up_hint, "asked_at": time.monotonic(),
                 "test_hooks": os.environ.get(TEST_HOOKS_ENV) == "1",
                 "device": self.device_plan.child_settings()}
        try:
            with _as_plain_parent():
                process = ctx.Process(target=child.child_main,
                                      args=(str(scratch), jobs_r, done_w, setup),
                                      name="stride-sandbox", daemon=True)
                try:
                    process.start()
                except EOFError as exc:  # the forkserver died: its jail did not start
                    raise SandboxUnavailable(
                        "the sandbox's forkserver exited as it started (the jail could not run Python; "
                        "the worker's log has bubblewrap's message)") from exc
        except BaseException:
            jobs_w.close()
            done_r.close()
            _remove_tree(scratch)
            raise
        finally:
            jobs_r.close()
            done_w.close()
        return _Spare(process, scratch, jobs_w, done_r)

    def take(self) -> _Spare:
        """The spare, or a new child when there is none (or it died)."""
        with self.lock:
            stocked = _take_from_stock(self, main=self.spare)  # a ready one first (issue #17)
            if stocked is not None:
                return stocked
            spare, self.spare = self.spare, None
            if spare is not None and spare.process.exitcode is None:
                return spare
            if spare is not None:
                self.dying.append(spare)
            return self._start_spare()

    def ensure_spare(self) -> None:
        with self.lock:
            if self.shut:
                return
            if self.spare is not None and self.spare.process.exitcode is None:
                return
            if self.spare is not None:
                self.dying.append(self.spare)
                self.spare = None
            try:
                self.spare = self._start_spare()
            except Exception:
                log.exception("sandbox: could not start a spare child")

    def reap(self, *, grace: float) -> None:
        """Wait up to ``grace`` for each dying child to exit, then kill it; remove its files."""
        while True:
            with self.lock:
                if not self.dying:
                    return
                spare = self.dying.pop(0)
            _close_pipes(spare)
            spare.process.join(grace)
            _stop(spare.process)
            with contextlib.suppress(Exception):
                spare.process.close()
            _remove_tree(spare.scratch)

    def retire(self, spare: _Spare) -> None:
        """After a job: a new spare, then the old child reaped, in the background."""
        _close_pipes(spare)
        with self.lock:
            self.dying.append(spare)
            self.threads = {thread for thread in self.threads if thread.is_alive()}

            def maintain() -> None:
                self.ensure_spare()
                self.reap(grace=2.0)

            thread = threading.Thread(target=maintain, name="stride-sandbox-spare", daemon=True)
            self.threads.add(thread)
        thread.start()

    def ensure_spare_soon(self) -> None:
        with self.lock:
            if self.shut:
                return
            thread = threading.Thread(target=self.ensure_spare, name="stride-sandbox-spare",
                                      daemon=True)
            self.threads.add(thread)
        thread.start()

    def shutdown(self) -> None:
        with self.lock:
            self.shut = True
            threads = list(self.threads)
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(30)
        with self.lock:
            if self.spare is not None:
                self.dying.append(self.spare)
                self.spare = None
        self.reap(grace=0.5)
        with self.lock:
            if self.forkserver_owner == os.getpid():
                # The jail binds the scratch root: both go together.
                with contextlib.suppress(Exception):
                    _forkserver()._stop()
                self.forkserver_owner = None
                self.bound_root = None
                self.device_plan = sandbox_gpu.DevicePlan(mode="cpu")
            if self.root is not None and os.getpid() == self.owner_pid:
                _remove_tree(self.root)
                self.root = None

    def forget_after_fork(self) -> None:
        """In a forked child (a Celery pool process): the spare, the scratch root and the
        forkserver belong to the parent. Forget them without touching them."""
        self.lock = threading.Lock()
        for spare in ([self.spare] if self.spare else []) + self.dying:
            _close_pipes(spare)  # this process's copies of the fds; the parent keeps its own
            with contextlib.suppress(Exception):
                multiprocessing.process._children.discard(spare.process)
        self.spare = None
        self.dying = []
        self.threads = set()
        self.root = None
        self.bound_root = None
        self.device_plan = sandbox_gpu.DevicePlan(mode="cpu")
        self.owner_pid = os.getpid()
        self.shut = False
        if self.forkserver_owner is not None:
            server = _forkserver()
            fd = server._forkserver_alive_fd
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
            server._forkserver_address = None
            server._forkserver_alive_fd = None
            server._forkserver_pid = None
            server._lock = threading.Lock()
            self.forkserver_owner = None


@contextlib.contextmanager
def _as_plain_parent():
    """Build and start a child as a plain multiprocessing parent would.

    - A Celery prefork pool process is "daemonic" to multiprocessing (billiard installs its own
      process object), which then refuses to start children because they would be orphaned
      when it is killed. Ours cannot be: a spare exits on EOF of its job pipe, and a busy child
      gets SIGKILL when the forkserver, which exits with this process, dies.
    - The child receives the parent's authkey; billiard's refuses to be pickled, and the child
      has no use for the worker's anyway: it gets a random one.
    """
    config = multiprocessing.process.current_process()._config
    saved = {key: config[key] for key in ("daemon", "authkey") if key in config}
    config["daemon"] = False
    config["authkey"] = multiprocessing.process.AuthenticationString(os.urandom(32))
    try:
        yield
    finally:
        config.pop("daemon", None)
        config.update(saved)


def _close_pipes(spare: _Spare) -> None:
    for conn in (spare.jobs, spare.done):  # a waiting spare exits on EOF
        with contextlib.suppress(Exception):
            conn.close()


_POOL = _Pool()


def _after_fork_in_child() -> None:
    global _ENV_LOCK
    _ENV_LOCK = threading.Lock()  # another thread may have held it at the fork
    _POOL.forget_after_fork()
    _forget_stock_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(lambda: _POOL.shutdown() if os.getpid() == _POOL.owner_pid else None)


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    if not os.path.lexists(path):
        return
    # A child may have left a folder without permissions: open them up, without following links.
    for folder, dirs, _files in os.walk(path):
        for name in dirs:
            target = os.path.join(folder, name)
            if not os.path.islink(target):
                with contextlib.suppress(OSError):
                    os.chmod(target, 0o700)
    shutil.rmtree(path, ignore_errors=True)


def _remove_stale_roots(base: Path) -> None:
    """Scratch roots of worker processes that died without cleaning up (a hard time limit)."""
    pattern = re.compile(re.escape(_SCRATCH_PREFIX) + r"(\d+)-")
    with contextlib.suppress(OSError):
        for entry in os.scandir(base):
            match = pattern.match(entry.name)
            if not match or not entry.is_dir(follow_symlinks=False):
                continue
            if entry.stat(follow_symlinks=False).st_uid != os.geteuid():
                continue
            if not _process_alive(int(match.group(1))):
                _remove_tree(Path(entry.path))


def _stop(process) -> None:
    if process.exitcode is not None:
        return
    with contextlib.suppress(Exception):
        process.terminate()
        process.join(1.0)
    if process.exitcode is None:
        with contextlib.suppress(Exception):
            process.kill()
            process.join(5.0)


# --------------------------------------------------------------------------------------
# More warm spares while a queue waits (issue #17: a deadline rush)
# --------------------------------------------------------------------------------------
# Back to back, a job used to find the one spare still warming up (it is forked when the
# previous job ends), and paid for it: 2.5x a warm process instead of 1.4x. While jobs are
# queued, the worker asks for a stock of extra spares, warmed up in the background between
# jobs, so that each job takes a child that is ready. Each is a fresh, never-used process, as
# before; they are forked from the same forkserver and hold about 0.2 GB each once warm.

_STOCK: list[_Spare] = []


def _take_from_stock(pool: _Pool, *, main: _Spare | None) -> _Spare | None:
    """A spare of the stock for the next job, under ``pool.lock``: a ready one unless the main
    spare is ready itself; any live one when there is no main spare; else None."""
    pool.dying.extend(spare for spare in _STOCK if spare.process.exitcode is not None)
    _STOCK[:] = [spare for spare in _STOCK if spare.process.exitcode is None]
    main_alive = main is not None and main.process.exitcode is None
    if main_alive and (main.scratch / child.READY_FILE).exists():
        return None
    ready = [spare for spare in _STOCK if (spare.scratch / child.READY_FILE).exists()]
    chosen = ready[0] if ready else (_STOCK[0] if _STOCK and not main_alive else None)
    if chosen is not None:
        _STOCK.remove(chosen)
    return chosen


def sandbox_keep_warm(spares: int) -> int:
    """Keep ``spares`` warm children in all (the main spare included) while a queue waits:
    forks the missing ones now (they warm up on their own, in the background), and retires the
    stock beyond it once the queue is gone. Returns the number of children now kept."""
    spares = max(0, int(spares))
    with _POOL.lock:
        if _POOL.shut:
            return 0
        _STOCK[:] = [spare for spare in _STOCK if spare.process.exitcode is None]
        extra = max(0, spares - 1)
        while len(_STOCK) > extra:
            _POOL.dying.append(_STOCK.pop())
        missing = extra - len(_STOCK)
        for _ in range(missing):
            try:
                _STOCK.append(_POOL._start_spare())
            except Exception:
                log.exception("sandbox: could not start a spare child for the stock")
                break
        kept = len(_STOCK) + (1 if _POOL.spare is not None else 0)
    if _POOL.dying:
        _reap_soon(_POOL)
    return kept


def _reap_soon(pool: _Pool) -> None:
    """Reap the dying children in the background (the stock's surplus, dead spares)."""
    thread = threading.Thread(target=pool.reap, kwargs={"grace": 2.0}, name="stride-sandbox-reap", daemon=True)
    with pool.lock:
        pool.threads.add(thread)
    thread.start()



def _forget_stock_after_fork() -> None:
    """In a forked child: the stock belongs to the parent (as ``_Pool.forget_after_fork``)."""
    for spare in _STOCK:
        _close_pipes(spare)
        with contextlib.suppress(Exception):
            multiprocessing.process._children.discard(spare.process)
    _STOCK.clear()


def _shutdown_stock() -> None:
    with _POOL.lock:
        _POOL.dying.extend(_STOCK)
        _STOCK.clear()


def sandbox_warm_up(*, wait: bool = False, timeout: float = 120.0) -> None:
    """Start the forkserver (Keras preloaded) and a warm spare child ahead of the first job.

    Idempotent. Returns at once unless ``wait``: the preload runs in the background."""
    _POOL.shut = False
    if wait:
        _POOL.ensure_spare()
        _wait_spare_ready(timeout)
    else:
        _POOL.ensure_spare_soon()


def sandbox_shutdown() -> None:
    """Stop the spare child and remove the scratch folders (worker shutdown, tests)."""
    _shutdown_stock()
    _POOL.shutdown()


def _wait_spare_ready(timeout: float = 120.0) -> bool:
    """Wait until the spare has warmed up (benchmarks and tests time jobs from there).
    False on timeout, or when two spares in a row died before they were ready."""
    deadline = time.monotonic() + timeout
    deaths = 0
    while time.monotonic() < deadline:
        with _POOL.lock:
            spare = _POOL.spare
            alive = spare is not None and spare.process.exitcode is None
            if alive and (spare.scratch / child.READY_FILE).exists():
                return True
        if not alive:
            if spare is not None:
                deaths += 1
                if deaths >= 2:
                    return False
            _POOL.ensure_spare()
        time.sleep(0.005)
    return False


# --------------------------------------------------------------------------------------
# Reading what the child left (untrusted)
# --------------------------------------------------------------------------------------

def _read_untrusted(path: Path, max_bytes: int, *, tail: bool = False) -> bytes | None:
    """A regular file's bytes, never through a link, never blocking on a FIFO."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None
        if info.st_size > max_bytes:
            if not tail:
                return None
            os.lseek(fd, info.st_size - max_bytes, os.SEEK_SET)
        chunks, left = [], max_bytes + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        return None if len(data) > max_bytes else data
    finally:
        os.close(fd)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _short_text(value, limit: int = child.MAX_DETAIL_CHARS) -> str | None:
    if not isinstance(value, str):
        return None
    clean = "".join(ch if ch.isprintable() else " " for ch in value)
    return " ".join(clean.split())[:limit]


def _valid_shape(value, *, max_dims: int = 8) -> list | None:
    if not isinstance(value, list) or len(value) > max_dims:
        return None
    if not all(dim is None or (_is_int(dim) and 0 <= dim < 2**31) for dim in value):
        return None
    return value


def _validated_result(raw: bytes) -> dict | None:
    """result.json, or None if it is anything but what a well-behaved child writes."""
    def no_constants(name):
        raise ValueError(name)

    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=no_constants)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("status") not in ("ok", "error"):
        return None
    code = data.get("error_code")
    if data["status"] == "ok" and code is not None:
        return None
    if data["status"] == "error" and code not in ERROR_CODES:
        return None
    params_in = data.get("error_params", {})
    if not isinstance(params_in, dict) or len(params_in) > 8:
        return None
    params = {}
    for key, value in params_in.items():
        if not isinstance(key, str) or len(key) > 32:
            return None
        if value is None or _is_int(value):
            params[key] = value
        elif isinstance(value, str):
            params[key] = _short_text(value)
        elif isinstance(value, list):
            if _valid_shape(value, max_dims=16) is None:
                return None
            params[key] = value
        else:
            return None
    layers_in = data.get("layers", [])
    if not isinstance(layers_in, list) or len(layers_in) > child.MAX_LAYERS_REPORTED:
        return None
    layers = []
    for layer in layers_in:
        if not isinstance(layer, dict) or set(layer) != {"name", "class_name", "output_shape",
                                                         "params"}:
            return None
        name, class_name = _short_text(layer["name"], 200), _short_text(layer["class_name"], 100)
        shape = _valid_shape(layer["output_shape"])
        if name is None or class_name is None or shape is None:
            return None
        if not _is_int(layer["params"]) or not 0 <= layer["params"] < 2**53:
            return None
        layers.append({"name": name, "class_name": class_name, "output_shape": shape,
                       "params": layer["params"]})
    param_count = data.get("param_count", 0)
    if not _is_int(param_count) or not 0 <= param_count < 2**53:
        return None
    isolation_in = data.get("isolation", {})
    if not isinstance(isolation_in, dict) or len(isolation_in) > 24:
        return None
    isolation = {}
    for key, value in isolation_in.items():
        key_text, value_text = _short_text(key, 32), _short_text(value, 200)
        if key_text is None or value_text is None:
            return None
        isolation[key_text] = value_text
    debug = data.get("debug")
    device = data.get("device", "cpu")
    if not isinstance(device, str) or not _DEVICE_NAME.fullmatch(device):
        return None
    fingerprint = _validated_fingerprint(data.get("fingerprint"))
    if fingerprint is False:
        return None
    return {"status": data["status"], "error_code": code, "error_params": params,
            "layers": layers, "param_count": param_count, "isolation": isolation,
            "debug": debug if isinstance(debug, dict) else None, "device": device,
            "fingerprint": fingerprint}


_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")


def _validated_fingerprint(value) -> dict | None | bool:
    """The child's fingerprint of the weights: None (none sent), the fingerprint, or False for
    anything a well-behaved child does not write (the whole result is then refused)."""
    from grader.integrity import SKETCH_DIM

    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"architecture", "weights_digest", "sketch"}:
        return False
    architecture, digest, sketch = value["architecture"], value["weights_digest"], value["sketch"]
    if not all(isinstance(text, str) and _HEX_DIGEST.fullmatch(text) for text in (architecture, digest)):
        return False
    if (not isinstance(sketch, list) or len(sketch) != SKETCH_DIM
            or not all(isinstance(v, float | int) and not isinstance(v, bool) and math.isfinite(v) for v in sketch)):
        return False
    return {"architecture": architecture, "weights_digest": digest, "sketch": [float(v) for v in sketch]}


_DEVICE_NAME = re.compile(r"cpu|gpu:\d{1,2}")


def _reported_device(data: dict | None, plan: sandbox_gpu.DevicePlan) -> str:
    """The device the child says it used: a GPU only when its jail was built for one (a child
    on the CPU cannot make a submission look GPU-graded); ``cpu`` without a valid result."""
    if data is None or plan.mode != "gpu":
        return "cpu"
    return data["device"]


def _read_predictions(path: Path, n: int, k: int) -> tuple[np.ndarray | None, dict]:
    """(predictions, {}) or (None, params of a bad_predictions error)."""
    raw = _read_untrusted(path, n * k * 8 + 4096)
    if raw is None:
        return None, {"reason": "missing", "detail": "no readable predictions.npy"}
    try:
        array = np.load(io.BytesIO(raw), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        return None, {"reason": "unreadable", "detail": _short_text(str(exc), 120)}
    if not isinstance(array, np.ndarray) or array.dtype.kind != "f":
        return None, {"reason": "dtype", "detail": f"dtype {getattr(array, 'dtype', '?')}"}
    if array.shape != (n, k):
        return None, {"reason": "shape",
                      "detail": f"shape {_shape_text(array.shape)}, expected ({n}, {k})"}
    with np.errstate(over="ignore"):
        array = array.astype(np.float32)
    bad = int(array.size - np.count_nonzero(np.isfinite(array)))
    if bad:
        return None, {"reason": "not_finite", "count": bad, "total": int(array.size)}
    return array, {}


# --------------------------------------------------------------------------------------
# The job
# --------------------------------------------------------------------------------------

def _traversable_folder(path: Path) -> None:
    """Create ``path`` (and its missing parents) so that the job's uid can pass through it, under
    the worker's umask 077: 0711, never listable. A folder that exists already is left as it is."""
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir()
            os.chmod(folder, 0o711)


def _write_new(path: Path, write) -> None:
    # O_EXCL: never follow a link planted in a folder that a child owns.
    with open(path, "xb") as handle:
        # The worker's umask is 077 (config.processes): as root, the job's uid must still read
        # its inputs. Its scratch folder (0700, its own) keeps everyone else out.
        os.fchmod(handle.fileno(), 0o644)
        write(handle)


def _check_arguments(model_path: Path, inputs, expected_input_shape, num_classes,
                     max_params) -> tuple[int, ...]:
    if not isinstance(inputs, np.ndarray) or inputs.dtype.kind not in "fiub":
        raise TypeError("inputs must be a numeric numpy array")
    shape = tuple(int(dim) for dim in expected_input_shape)
    if inputs.ndim != len(shape) + 1 or inputs.shape[1:] != shape or len(inputs) == 0:
        raise ValueError(f"inputs of shape {inputs.shape} do not match "
                         f"(N, *{shape}) with N >= 1")
    if not _is_int(num_classes) or num_classes < 1:
        raise ValueError("num_classes must be a positive int")
    if not _is_int(max_params) or max_params < 0:
        raise ValueError("max_params must be a non-negative int")
    if not Path(model_path).is_file():
        raise FileNotFoundError(model_path)
    return shape


def run_model_in_sandbox(
    *, model_path: Path, inputs: np.ndarray, expected_input_shape: tuple[int, ...],
    num_classes: int, max_params: int, limits: SandboxLimits = SandboxLimits(),
    _debug_child_action: str | None = None, _debug_attack: dict | None = None,
) -> SandboxResult:
    """Load ``model_path`` in a fresh sandbox process, check it and predict ``inputs``.

    ``inputs`` reach the model exactly as given (dtype and values: scaling is the exercise's
    business). Student-facing failures come back as ``ok=False`` with ``error_code`` and a
    bilingual ``error``; wrong arguments raise. ``_debug_child_action`` (one of
    ``sandbox_child.DEBUG_ACTIONS``) runs a test hook in the real child and requires
    ``STRIDE_SANDBOX_TEST_HOOKS=1`` in this process's environment.
    """
    started = time.perf_counter()
    _POOL.shut = False
    shape = _check_arguments(model_path, inputs, expected_input_shape, num_classes, max_params)
    hooks = os.environ.get(TEST_HOOKS_ENV) == "1"
    if _debug_child_action is not None and (not hooks or
                                            _debug_child_action not in child.DEBUG_ACTIONS):
        raise ValueError("sandbox test hooks are disabled or unknown")
    if _debug_attack is not None and not hooks:
        raise ValueError("sandbox test hooks are disabled")
    n, k = len(inputs), num_classes
    batch = child.PREDICT_BATCH
    remainder = [n % batch] if n > batch and n % batch else []
    _POOL.warm_up_hint = {"input_shape": list(shape), "classes": k, "batches": [min(n, batch), *remainder]}
    job = {
        "expected_input_shape": list(shape), "num_classes": k, "max_params": max_params,
        "limits": {"cpu_seconds": limits.cpu_seconds, "memory_bytes": limits.memory_bytes,
                   "file_bytes": limits.file_bytes, "open_files": limits.open_files,
                   "processes": limits.processes},
        "debug_action": _debug_child_action,
    }
    if _debug_attack is not None:
        job["attack"] = _debug_attack

    def finish(result: SandboxResult) -> SandboxResult:
        return replace(result, seconds=time.perf_counter() - started)

    def failure(code: str, params: dict | None = None, **extra) -> SandboxResult:
        error = _message(code, params or {}, expected_input_shape=shape, num_classes=k,
                         max_params=max_params, limits=limits)
        return finish(SandboxResult(ok=False, predictions=None, error=error, error_code=code,
                                    layers=extra.get("layers", []),
                                    param_count=extra.get("param_count", 0), seconds=0.0,
                                    isolation=extra.get("isolation", {}),
                                    debug=extra.get("debug") if hooks else None))

    for attempt in range(2):
        spare = _POOL.take()
        try:
            _write_new(spare.scratch / child.INPUTS_FILE,
                       lambda handle: np.save(handle, inputs, allow_pickle=False))
            with open(model_path, "rb") as source:
                _write_new(spare.scratch / child.MODEL_FILE,
                           lambda handle: shutil.copyfileobj(source, handle, 1 << 20))
            try:
                spare.jobs.send_bytes(json.dumps(job).encode())
            except OSError:  # the spare died while waiting: take another one, once
                if attempt == 0:
                    continue
                raise
            spare.jobs.close()
            deadline = time.monotonic() + limits.wall_seconds
            # EOF on ``done``: the child has written its files (or died).
            finished = bool(multiprocessing.connection.wait(
                [spare.done, spare.process.sentinel], limits.wall_seconds))
            data = None
            if finished:
                raw = _read_untrusted(spare.scratch / child.RESULT_FILE, _MAX_RESULT_BYTES)
                data = _validated_result(raw) if raw is not None else None
                if data is None:  # no result: the exit status says why
                    spare.process.join(max(0.0, deadline - time.monotonic()))
                    finished = spare.process.exitcode is not None
            if not finished:
                _stop(spare.process)
            result = _outcome(spare, data, timed_out=not finished, n=n, k=k, limits=limits,
                              failure=failure, finish=finish, hooks=hooks)
            return replace(result, device=_reported_device(data, _POOL.device_plan))
        finally:
            _POOL.retire(spare)
    raise AssertionError("unreachable")


def _outcome(spare: _Spare, data: dict | None, *, timed_out: bool, n: int, k: int,
             limits: SandboxLimits, failure, finish, hooks: bool) -> SandboxResult:
    if timed_out:
        return failure("timeout", {"seconds": limits.wall_seconds})
    if data is not None:
        extra = {"layers": data["layers"], "param_count": data["param_count"],
                 "isolation": data["isolation"], "debug": data["debug"]}
        if data["status"] == "error":
            return failure(data["error_code"], data["error_params"], **extra)
        if hooks and data["status"] == "ok" and "attack" in (data["debug"] or {}):
            # The escape kit's hook ran attacker code instead of a model: no predictions.
            return finish(SandboxResult(ok=True, predictions=None, error=None, error_code=None,
                                        layers=[], param_count=0, seconds=0.0,
                                        isolation=data["isolation"], debug=data["debug"]))
        predictions, problem = _read_predictions(spare.scratch / child.PREDICTIONS_FILE, n, k)
        if predictions is None:
            return failure("bad_predictions", problem, **extra)
        return finish(SandboxResult(ok=True, predictions=predictions, error=None,
                                    error_code=None, layers=data["layers"],
                                    param_count=data["param_count"], seconds=0.0,
                                    isolation=data["isolation"],
                                    debug=data["debug"] if hooks else None,
                                    fingerprint=data["fingerprint"]))
    exitcode = spare.process.exitcode
    if exitcode is not None and 128 < exitcode < 128 + signal.NSIG:
        # The jail's init mirrors a job killed by signal N as 128 + N when it cannot die of that
        # signal itself (SIGKILL, sent to itself, is ignored by a PID namespace's init).
        exitcode = -(exitcode - 128)
    if exitcode == 0:
        return failure("crashed", {"detail": "no valid result"})
    if exitcode == child.EXIT_OUT_OF_MEMORY:
        return failure("out_of_memory")
    if exitcode in (-signal.SIGXCPU,):
        return failure("timeout", {"seconds": limits.cpu_seconds})
    tail = _read_untrusted(spare.scratch / child.LOG_FILE, _MAX_LOG_TAIL, tail=True) or b""
    log.warning("sandbox child %s ended with status %s; log tail: %r",
                spare.process.pid, exitcode, tail[-2000:])
    if _OOM_PATTERNS.search(tail):
        return failure("out_of_memory")
    if exitcode == -signal.SIGXFSZ:
        return failure("crashed", {"detail": "files too large"})
    if exitcode == -signal.SIGKILL:
        return failure("crashed", {"detail": "killed by the system, often for memory"})
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return failure("crashed", {"detail": name})
    return failure("crashed", {"detail": f"exit status {exitcode}"})
