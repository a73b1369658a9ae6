"""The escape kit's attacks: attacker code run inside the real sandbox child, after every
isolation step, where a parser exploit (HDF5, Keras) would run. Each is the source of one
function ``attack(targets) -> {"escaped": bool, "detail": str}``; ``targets`` are the worker's
pid and the paths of its secrets (see driver.py). The child runs them only through the test
hook (``STRIDE_SANDBOX_TEST_HOOKS=1`` in the worker). The negative control runs the same source
in a plain subprocess, without the jail, where each of them must succeed."""

COMMON = '''
import ctypes, errno, os, socket, stat, time
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

def denied(fn):
    try:
        value = fn()
    except OSError as exc:
        return True, f"{type(exc).__name__}: {exc.strerror or exc}"
    return False, repr(value)[:200]

def result(outcomes):
    escaped = [name for name, (ok, _) in outcomes.items() if not ok]
    return {"escaped": bool(escaped),
            "detail": "; ".join(f"{n}: {d}" for n, (_, d) in outcomes.items())[:1500]}

def read(path):
    with open(path, "rb") as handle:
        return handle.read(4096)
'''

ATTACKS = {
    "read_environ": '''
def attack(t):
    outcomes = {}
    for pid in (t["worker_pid"], 1, os.getppid()):
        outcomes[f"/proc/{pid}/environ"] = denied(
            lambda pid=pid: (_ for _ in ()).throw(PermissionError(13, "no secret"))
            if t["secret"].encode() not in read(f"/proc/{pid}/environ") else "SECRET")
    leaked = []
    try:
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if t["secret"].encode() in read(f"/proc/{entry}/environ"):
                        leaked.append(entry)
                except OSError:
                    pass
    except OSError as exc:
        leaked = []
    outcomes["scan"] = (not leaked, f"leaked in {leaked}")
    return result(outcomes)
''',
    "read_secret_files": '''
def attack(t):
    # What a worker reads its secrets from (compose's /run/secrets/NAME, through X_FILE), and the
    # worker's own environment block, where a secret passed as a variable would be.
    def has_secret(path):
        data = read(path)
        if t["secret"].encode() in data:
            return "SECRET"
        raise PermissionError(13, "read, but no secret in it")
    outcomes = {path: denied(lambda path=path: has_secret(path)) for path in t["secret_files"]}
    outcomes["secrets dir"] = denied(lambda: os.listdir(t["secrets_dir"]))
    outcomes["worker environ"] = denied(lambda: has_secret(f"/proc/{t['worker_pid']}/environ"))
    return result(outcomes)
''',
    "read_database": '''
def attack(t):
    return result({"db": denied(lambda: read(t["db"])),
                   "var": denied(lambda: os.listdir(t["var"]))})
''',
    "read_media": '''
def attack(t):
    return result({"media": denied(lambda: os.listdir(t["media"]))})
''',
    "read_other_upload": '''
def attack(t):
    return result({"upload": denied(lambda: read(t["other_upload"])),
                   "scratch_root": denied(lambda: os.listdir(os.path.dirname(os.getcwd())))})
''',
    "read_hidden_set": '''
def attack(t):
    return result({"hidden": denied(lambda: read(t["hidden"]))})
''',
    "read_source": '''
def attack(t):
    return result({"source": denied(lambda: read(t["source"])),
                   "project": denied(lambda: os.listdir(t["project"]))})
''',
    "tcp_socket": '''
def attack(t):
    def connect(port):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(2)
        s.connect(("127.0.0.1", port))
        return "connected"
    return result({f"tcp {p}": denied(lambda p=p: connect(p)) for p in t["tcp_ports"]})
''',
    "udp_socket": '''
def attack(t):
    def send():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        return s.sendto(b"x", ("127.0.0.1", t["udp_port"]))
    return result({"udp": denied(send)})
''',
    "unix_socket": '''
def attack(t):
    def connect(address):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(address)
        return "connected"
    def pair():
        return socket.socketpair()
    return result({"path": denied(lambda: connect(t["unix_path"])),
                   "abstract": denied(lambda: connect(t["unix_abstract"])),
                   "socketpair": denied(pair)})
''',
    "inherited_descriptor": '''
def attack(t):
    found = []
    for fd in range(3, 1024):
        try:
            info = os.fstat(fd)
        except OSError:
            continue
        if stat.S_ISSOCK(info.st_mode):
            found.append(f"socket fd {fd}")
        elif stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                target = "?"
            if not target.startswith(os.getcwd()):
                found.append(f"fd {fd} -> {target}")
    return result({"fds": (not found, str(found))})
''',
    "pidfd_getfd": '''
def attack(t):
    def steal():
        pidfd = libc.syscall(434, t["worker_pid"], 0)
        if pidfd < 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
        for fd in range(3, 64):
            got = libc.syscall(438, pidfd, fd, 0)
            if got >= 0:
                return f"stole fd {fd}"
        raise OSError(ctypes.get_errno(), "pidfd_getfd " + os.strerror(ctypes.get_errno()))
    return result({"pidfd_getfd": denied(steal)})
''',
    "ptrace": '''
def attack(t):
    def attach(request):
        if libc.ptrace(request, t["worker_pid"], 0, 0) != 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
        return "attached"
    def vm_read():
        class IoVec(ctypes.Structure):
            _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
        buf = ctypes.create_string_buffer(16)
        local = IoVec(ctypes.cast(buf, ctypes.c_void_p), 16)
        remote = IoVec(0x400000, 16)
        n = libc.process_vm_readv(t["worker_pid"], ctypes.byref(local), 1,
                                  ctypes.byref(remote), 1, 0)
        if n < 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
        return n
    return result({"PTRACE_ATTACH": denied(lambda: attach(16)),
                   "PTRACE_SEIZE": denied(lambda: attach(0x4206)),
                   "process_vm_readv": denied(vm_read),
                   "kill": denied(lambda: os.kill(t["worker_pid"], 0)),
                   "mem": denied(lambda: read(f"/proc/{t['worker_pid']}/mem"))})
''',
    "write_outside": '''
def attack(t):
    def write(path):
        with open(path, "wb") as handle:
            handle.write(b"escaped")
        return "written"
    return result({path: denied(lambda path=path: write(path)) for path in t["outside"]})
''',
    "leave_a_process": '''
def attack(t):
    pid = os.fork()
    if pid == 0:
        if os.fork() == 0:
            os.setsid()
            libc.prctl(15, t["orphan_name"].encode(), 0, 0, 0)  # PR_SET_NAME
            time.sleep(120)
        os._exit(0)
    os.waitpid(pid, 0)
    return {"escaped": False, "detail": "double-forked a sleeper; the driver looks for it"}
''',
    "fill_disk": '''
def attack(t):
    chunk = b"x" * (1 << 20)
    error = "none"
    try:
        with open("filler", "wb") as handle:
            for _ in range(t["file_limit_mib"] * 2):
                handle.write(chunk)
                handle.flush()
    except OSError as exc:
        error = f"{type(exc).__name__}: {exc.strerror}"
    size = os.path.getsize("filler")
    return {"escaped": size > t["file_limit_mib"] << 20, "detail": f"{size} bytes; {error}"}
''',
    "claim_a_score": '''
def attack(t):
    import json
    with open("result.json", "w") as handle:
        json.dump({"status": "ok", "error_code": None, "score": 1.0, "accuracy": 1.0,
                   "grade": 100, "layers": [], "param_count": 0}, handle)
    os._exit(0)
''',
}
