"""A real LTI 1.3 platform (an LMS's side) for the tests: ``lti1p3platform`` (PyPI) behind a small
WSGI app, run as a separate process on loopback.

    python tests/lti_platform.py CONFIG.json   # prints "ready <port>" once it listens

CONFIG: {"port", "issuer", "client_id", "deployment_id", "tool": {"login", "launch", "jwks"}}.
Nobody here wrote the protocol's platform side: the OIDC login redirect, the signed id_token and
its claims (AGS, NRPS, deep linking), the token endpoint that checks Stride's signed assertion,
the deep linking response's validation and the AGS/NRPS services are lti1p3platform's. This file
only stores what they need in memory and lets a test read it back (``/_state``).

Test knobs on ``/start``: ``tamper=aud`` (another client id), ``exp`` (expired), ``sig`` (signed
with a key that is not the platform's, under the platform's key id).
"""
from __future__ import annotations

import html
import itertools
import json
import sys
import threading
import typing as t
import uuid
from socketserver import ThreadingMixIn
from urllib.parse import parse_qsl
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from jwcrypto.jwk import JWK
from lti1p3platform.ltiplatform import LTI1P3PlatformConfAbstract
from lti1p3platform.membership import Context
from lti1p3platform.message_launch import LTIAdvantageMessageLaunchAbstract
from lti1p3platform.oidc_login import OIDCLoginAbstract
from lti1p3platform.registration import Registration
from lti1p3platform.request import Request
from lti1p3platform.service_connector import AssignmentsGradesService, NamesRoleProvisioningService

ROLE = "http://purl.imsglobal.org/vocab/lis/v2/membership#{}"


def _pem_pair() -> tuple[str, str]:
    key = JWK.generate(kty="RSA", size=2048)
    return key.export_to_pem(private_key=True, password=None).decode(), key.export_to_pem().decode()


class State:
    def __init__(self, config: dict):
        self.config = config
        self.base = f"http://127.0.0.1:{config['port']}"
        self.private, self.public = _pem_pair()
        self.evil_private, _ = _pem_pair()
        self.lock = threading.Lock()
        self.pending: dict[str, dict] = {}  # lti_message_hint → the launch to build
        self.launches: list[dict] = []  # every form posted to the tool: {action, id_token, state}
        self.lineitems: dict[str, dict] = {}  # id → line item (with "context")
        self.scores: dict[str, dict[str, dict]] = {}  # line item id → user → last score
        self.links: dict[str, dict] = {}  # resource link id → {"custom", "lineitem"}
        self.deep_links: list[dict] = []
        self.members: dict[str, list[dict]] = {}  # context id → NRPS members
        self.ids = itertools.count(1)
        self.fail_scores = 0  # the next N score posts answer 503 (an LMS that is down for a while)


class PlatformConf(LTI1P3PlatformConfAbstract):
    def init_platform_config(self, **kwargs: t.Any) -> None:
        self.state: State = kwargs["state"]

    def get_registration_by_params(self, **kwargs: t.Any) -> Registration:
        c, s = self.state.config, self.state
        return (Registration().set_iss(c["issuer"]).set_client_id(c["client_id"]).set_deployment_id(c["deployment_id"])
                .set_oidc_login_url(c["tool"]["login"]).set_launch_url(c["tool"]["launch"])
                .set_deeplink_launch_url(c["tool"]["launch"]).set_tool_key_set_url(c["tool"]["jwks"])
                .set_platform_private_key(s.private).set_platform_public_key(s.public))


class WsgiRequest(Request):
    def build_metadata(self, environ: dict) -> dict:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        content_type = environ.get("CONTENT_TYPE", "")
        form = dict(parse_qsl(body.decode())) if "form-urlencoded" in content_type else {}
        data = json.loads(body) if body and "json" in content_type else None
        headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}
        return {"method": environ["REQUEST_METHOD"], "form_data": form, "get_data": dict(parse_qsl(environ.get("QUERY_STRING", ""))),
                "headers": headers, "content_type": content_type, "path": environ.get("PATH_INFO", ""), "json": data}


class OIDCLogin(OIDCLoginAbstract):
    def set_lti_message_hint(self, **kwargs: t.Any) -> None:
        self._lti_message_hint = kwargs["hint"]

    def get_redirect(self, url: str) -> tuple[str, list, bytes]:
        return "302 Found", [("Location", url)], b""


class MessageLaunch(LTIAdvantageMessageLaunchAbstract):
    def render_launch_form(self, launch_data: dict, **kwargs: t.Any) -> str:
        return _form(launch_data["launch_url"], {"id_token": launch_data["id_token"], "state": launch_data["state"]})


def _form(action: str, fields: dict) -> str:
    inputs = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in fields.items())
    return (f'<!doctype html><html><body><form id="lti" method="post" action="{html.escape(action)}">{inputs}'
            '<button type="submit">Continue</button></form><script>document.getElementById("lti").submit()</script>'
            "</body></html>")


class Ags(AssignmentsGradesService):
    def __init__(self, request, conf, state: State, context_id: str):
        super().__init__(request, conf, f"{state.base}/contexts/{context_id}/lineitems")
        self.state, self.context_id = state, context_id

    def find_lineitems(self, page=1, limit=None, line_item_id=None, resource_link_id=None, resource_id=None, tag=None, **kw):
        items = [{k: v for k, v in item.items() if k != "context"} for item in self.state.lineitems.values()
                 if item["context"] == self.context_id and (not resource_id or item.get("resourceId") == resource_id)]
        return {"content": items, "has_next": False, "next": None}

    def find_lineitem(self, line_item_id):
        from lti1p3platform.exceptions import LineItemNotFoundException

        item = self.state.lineitems.get(line_item_id)
        if item is None:
            raise LineItemNotFoundException()
        return {k: v for k, v in item.items() if k != "context"}

    def create_lineitem(self, creation_data):
        return _lineitem_create(self.state, self.context_id, dict(creation_data))

    def update_lineitem(self, update_data):
        self.state.lineitems[update_data["id"]].update(update_data)
        return self.find_lineitem(update_data["id"])

    def delete_lineitem(self, line_item_id):
        self.state.lineitems.pop(line_item_id, None)

    def update_score(self, line_item_id, score):
        from lti1p3platform.exceptions import LineItemNotFoundException
        from lti1p3platform.score import UpdateScoreStatus

        if line_item_id not in self.state.lineitems:
            raise LineItemNotFoundException()
        with self.state.lock:
            self.state.scores.setdefault(line_item_id, {})[score["userId"]] = score
        return UpdateScoreStatus.SUCCESS

    def get_results(self, line_item_id, page=1, limit=None, user_id=None, **kw):
        scores = self.state.scores.get(line_item_id, {})
        return {"content": [{"userId": u, "resultScore": s["scoreGiven"], "resultMaximum": s["scoreMaximum"]}
                            for u, s in scores.items()], "has_next": False, "next": None}


def _lineitem_create(state: State, context_id: str, data: dict) -> dict:
    item_id = f"{state.base}/lineitems/{next(state.ids)}"
    data.update(id=item_id)
    state.lineitems[item_id] = {**data, "context": context_id}
    return data


class Nrps(NamesRoleProvisioningService):
    def __init__(self, request, conf, state: State, context_id: str):
        super().__init__(request, conf, f"{state.base}/contexts/{context_id}/memberships")
        self.state, self.context_id = state, context_id

    def get_member_data_page(self, page=1, limit=None, role=None, since=None, **kw):
        return {"content": [dict(m) for m in self.state.members.get(self.context_id, [])], "has_next": False, "next": None}

    def get_context_by_id(self):
        return Context(id=self.context_id, label=self.context_id, title=f"LMS course {self.context_id}")


def _json(status: str, data, media: str = "application/json"):
    return status, [("Content-Type", media)], json.dumps(data).encode()


def _wrap(resp) -> tuple[str, list, bytes]:
    """lti1p3platform's Response as WSGI."""
    codes = {200: "200 OK", 201: "201 Created", 204: "204 No Content", 401: "401 Unauthorized", 403: "403 Forbidden",
             404: "404 Not Found", 405: "405 Method Not Allowed"}
    status = codes.get(resp.code, f"{resp.code} Status")
    if 200 <= resp.code < 300:
        data = resp.result["content"] if isinstance(resp.result, dict) and "content" in resp.result else resp.result
        return status, [("Content-Type", resp.media_type)], (json.dumps(data).encode() if data is not None else b"")
    return _json(status, {"error": resp.message})


def make_app(state: State):
    conf = PlatformConf(state=state)
    conf.get_registration()

    def app(environ, start_response):
        try:
            status, headers, body = route(environ)
        except Exception as exc:  # noqa: BLE001 (a test reads the reason here or in the tool's error)
            status, headers, body = _json("500 Internal Server Error", {"error": repr(exc)})
        start_response(status, headers)
        return [body.encode() if isinstance(body, str) else body]

    def route(environ):
        request = WsgiRequest(environ)
        path, method = request.path, request.method
        if path == "/jwks":
            return _json("200 OK", conf.get_jwks())
        if path == "/frame":  # the LMS's course page, with the tool's link in an iframe
            src = html.escape(f"/start?{environ.get('QUERY_STRING', '')}")
            page = (f'<!doctype html><html lang="en"><head><title>LMS</title></head><body><h1>LMS course</h1>'
                    f'<iframe id="lms-frame" title="Stride" src="{src}" width="1100" height="700"></iframe></body></html>')
            return "200 OK", [("Content-Type", "text/html; charset=utf-8")], page.encode()
        if path == "/start":
            return start(request)
        if path == "/authorize":
            return authorize(request)
        if path == "/token" and method == "POST":
            return _json("200 OK", conf.get_access_token(request.form_data))
        if path == "/deep_link_return" and method == "POST":
            return deep_link_return(request)
        if path.startswith("/contexts/") and path.endswith("/lineitems"):
            ctx = path.split("/")[2]
            service = Ags(request, conf, state, ctx)
            func = service.handle_create_lineitem if method == "POST" else service.handle_get_lineitems
            return _wrap(service.handle_resp(func))
        if path.startswith("/contexts/") and path.endswith("/memberships"):
            service = Nrps(request, conf, state, path.split("/")[2])
            return _wrap(service.handle_resp(service.handle_get_members))
        if path.startswith("/lineitems/"):
            parts = path.split("/")
            item_id = f"{state.base}/lineitems/{parts[2]}"
            item = state.lineitems.get(item_id)
            service = Ags(request, conf, state, item["context"] if item else "none")
            if len(parts) == 4 and parts[3] == "scores":
                with state.lock:
                    if state.fail_scores > 0:
                        state.fail_scores -= 1
                        return _json("503 Service Unavailable", {"error": "the LMS is down"})
                return _wrap(service.handle_resp(service.handle_update_score, line_item_id=item_id))
            if len(parts) == 4 and parts[3] == "results":
                return _wrap(service.handle_resp(service.handle_get_results, line_item_id=item_id))
            return _wrap(service.handle_resp(service.handle_get_lineitem, line_item_id=item_id))
        if path == "/_state":
            return _json("200 OK", {"lineitems": state.lineitems, "scores": state.scores, "deep_links": state.deep_links,
                                    "links": state.links, "launches": state.launches})
        if path == "/_fail" and method == "POST":
            state.fail_scores = int(request.json["scores"])
            return _json("200 OK", {"ok": True})
        if path == "/_roster" and method == "POST":
            data = request.json
            state.members[data["context"]] = data["members"]
            return _json("200 OK", {"ok": True})
        return _json("404 Not Found", {"error": f"no route {path}"})

    def start(request):
        """The LMS page that starts a launch: the user clicks a link (or opens the content picker)."""
        q = request.get_data
        hint = uuid.uuid4().hex
        link = q.get("link", "link-1")
        stored = state.links.get(link, {})
        custom = {**stored.get("custom", {}), **json.loads(q.get("custom", "{}"))}
        state.pending[hint] = {"user": q["user"], "role": q.get("role", "Learner"), "name": q.get("name", ""),
                               "context": q.get("context", "course-1"), "link": link, "custom": custom,
                               "message": q.get("message", "resource"), "tamper": q.get("tamper", ""),
                               "lineitem": stored.get("lineitem")}
        login = OIDCLogin(request, conf)
        login.set_lti_message_hint(hint=hint)
        return login.initiate_login(q["user"])

    def authorize(request):
        """The OIDC authorization endpoint: the tool sends the browser here, the platform answers
        with the signed id_token posted back to the tool."""
        q = request.get_data or request.form_data
        pending = state.pending.get(q.get("lti_message_hint", ""))
        if pending is None or q.get("login_hint") != pending["user"]:
            return _json("400 Bad Request", {"error": "unknown login"})
        launch = MessageLaunch(request, conf)
        launch._registration = conf.get_registration()
        launch.validate_preflight_response(q)
        launch.set_user_data(pending["user"], [ROLE.format(pending["role"])], full_name=pending["name"] or None,
                             email_address=f"{pending['user']}@lms.example")
        launch.set_launch_context_claim(pending["context"], context_title=f"LMS course {pending['context']}",
                                        context_label=pending["context"])
        launch.set_resource_link_claim(pending["link"], title=pending["link"])
        if pending["custom"]:
            launch.set_custom_parameters_claim(pending["custom"])
        launch.set_launch_presentation_claim(document_target="iframe")
        ctx = pending["context"]
        launch.set_ags(f"{state.base}/contexts/{ctx}/lineitems", lineitem_url=pending["lineitem"])
        launch.set_nrps(f"{state.base}/contexts/{ctx}/memberships")
        if pending["message"] == "deeplink":
            launch.set_dl(f"{state.base}/deep_link_return", title="Stride", extra_data={"context": ctx})
        message, form_state = launch.get_launch_data()
        if pending["message"] == "deeplink":
            message["https://purl.imsglobal.org/spec/lti/claim/message_type"] = "LtiDeepLinkingRequest"
            message.update(launch._deep_linking_launch_data)
        key, expiration = state.private, 300
        if pending["tamper"] == "aud":
            message["aud"] = message["azp"] = "someone-else"
        elif pending["tamper"] == "exp":
            expiration = -120
        elif pending["tamper"] == "sig":
            key = state.evil_private
        kid = launch._registration.get_kid()
        id_token = Registration.encode_and_sign(message, key, {"kid": kid}, expiration=expiration)
        state.launches.append({"action": q["redirect_uri"], "id_token": id_token, "state": form_state})
        return "200 OK", [("Content-Type", "text/html; charset=utf-8")], _form(
            q["redirect_uri"], {"id_token": id_token, "state": form_state})

    def deep_link_return(request):
        items = conf.validate_deeplinking_resp(request.form_data)
        jwt_body = conf.tool_validate_and_decode(request.form_data["JWT"])
        settings = jwt_body.get("https://purl.imsglobal.org/spec/lti-dl/claim/data") or {}
        ctx = settings.get("context", "course-1") if isinstance(settings, dict) else "course-1"
        for item in items:
            link = f"link-{next(state.ids)}"
            entry = {"custom": item.get("custom", {}), "lineitem": None, "title": item.get("title")}
            if item.get("lineItem"):
                created = _lineitem_create(state, ctx, {**item["lineItem"], "resourceLinkId": link})
                entry["lineitem"] = created["id"]
            state.links[link] = entry
            state.deep_links.append({**item, "link": link})
        return "200 OK", [("Content-Type", "text/html")], b"<p id='done'>Content placed.</p>"

    return app


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def main(path: str) -> None:
    config = json.loads(open(path).read())
    state = State(config)
    server = make_server("127.0.0.1", config["port"], make_app(state), server_class=_Server, handler_class=_Quiet)
    print("ready", server.server_port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1])
