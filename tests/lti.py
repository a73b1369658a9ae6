"""The LTI test platform (tests/lti_platform.py) as a separate process, and a browser-like HTTP
client that goes through an LMS launch."""
from __future__ import annotations

import contextlib
import json
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
ISSUER_CLIENT = "stride-client"
DEPLOYMENT = "deployment-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Platform:
    base: str
    proc: subprocess.Popen

    @property
    def issuer(self) -> str:
        return self.base

    def state(self) -> dict:
        return requests.get(f"{self.base}/_state", timeout=10).json()

    def fail_scores(self, n: int) -> None:
        """The next ``n`` score posts get a 503, as from an LMS that is down."""
        requests.post(f"{self.base}/_fail", json={"scores": n}, timeout=10).raise_for_status()

    def set_roster(self, context: str, members: list[dict]) -> None:
        requests.post(f"{self.base}/_roster", json={"context": context, "members": members}, timeout=10).raise_for_status()

    def register_args(self, course: str | None = "cnn-diffusion") -> list[str]:
        args = ["--issuer", self.issuer, "--client-id", ISSUER_CLIENT, "--deployment-id", DEPLOYMENT,
                "--auth-url", f"{self.base}/authorize", "--token-url", f"{self.base}/token", "--jwks-url", f"{self.base}/jwks"]
        return args + (["--course", course] if course else [])


@contextlib.contextmanager
def lti_platform(tool_base: str, tmp: Path):
    """Start the platform, configured for the tool at ``tool_base``; stopped on exit."""
    port = free_port()
    tool = tool_base.rstrip("/")
    config = {"port": port, "issuer": f"http://127.0.0.1:{port}", "client_id": ISSUER_CLIENT, "deployment_id": DEPLOYMENT,
              "tool": {"login": f"{tool}/lti/login/", "launch": f"{tool}/lti/launch/", "jwks": f"{tool}/lti/jwks/"}}
    path = tmp / "platform.json"
    path.write_text(json.dumps(config))
    log = open(tmp / "platform.log", "wb")
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "lti_platform.py"), str(path)],
                            stdout=subprocess.PIPE, stderr=log, cwd=ROOT)
    try:
        line = proc.stdout.readline().decode()
        if not line.startswith("ready"):
            raise RuntimeError(f"the LTI platform did not start: {line!r} {(tmp / 'platform.log').read_text()}")
        yield Platform(base=f"http://127.0.0.1:{port}", proc=proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


class _Form(HTMLParser):
    def __init__(self):
        super().__init__()
        self.action, self.fields = None, {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and self.action is None:
            self.action = a.get("action")
        if tag == "input" and a.get("name") and a.get("type") in ("hidden", None):
            self.fields[a["name"]] = a.get("value", "")


def parse_form(page: str) -> tuple[str, dict]:
    parser = _Form()
    parser.feed(page)
    return parser.action, parser.fields


def launch(client: requests.Session, platform: Platform, **params) -> tuple[requests.Response, dict]:
    """A user clicks the link in the LMS: the platform's login initiation, the tool's OIDC login
    (as its cookie check page continues once cookies work: ``lti1p3_new_window``), the
    platform's authorization, and the id_token posted to the tool. Returns the tool's answer to
    the launch (not followed) and the form that was posted."""
    r = client.get(f"{platform.base}/start", params=params, allow_redirects=False, timeout=30)
    assert r.status_code == 302, r.text
    login = r.headers["Location"]
    r = client.get(login, allow_redirects=False, timeout=30)
    assert r.status_code == 200 and "lti1p3_new_window" in r.text, r.text[:500]  # the cookie check page
    r = client.get(login + "&lti1p3_new_window=1", allow_redirects=False, timeout=30)
    assert r.status_code == 302, r.text[:500]
    r = client.get(r.headers["Location"], timeout=30)
    assert r.status_code == 200, r.text
    action, fields = parse_form(r.text)
    return client.post(action, data=fields, allow_redirects=False, timeout=30), {"action": action, **fields}


def wait_for(predicate, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def error_text(page: str) -> str:
    m = re.search(r'id="lti-error"[^>]*>(.*?)</p>', page, re.S)
    return m.group(1).strip() if m else ""
