"""Pages of a session that an LMS launched may be shown inside that LMS's iframe.

Stride answers ``X-Frame-Options: DENY`` everywhere. After an LTI launch, the session holds the
LMS's origins (``views.SESSION_FRAME``): its pages then answer a CSP ``frame-ancestors`` of those
origins instead, and nobody else may frame them. Over HTTPS the session and CSRF cookies are
re-issued ``SameSite=None; Secure`` so that the browser sends them inside the LMS's iframe
(a cross-site frame); over plain HTTP a browser refuses such cookies, and the launch page's
"open in a new tab" link is the way out.
"""
from __future__ import annotations

from django.conf import settings

SESSION_FRAME = "stride_lti_frame_ancestors"


class LtiFrameMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        session = getattr(request, "session", None)
        ancestors = session.get(SESSION_FRAME) if session is not None else None
        if not ancestors:
            return response
        response.headers.pop("X-Frame-Options", None)
        response["Content-Security-Policy"] = "frame-ancestors 'self' " + " ".join(ancestors)
        if request.is_secure():
            for name in (settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME):
                if name in response.cookies:
                    response.cookies[name]["samesite"] = "None"
                    response.cookies[name]["secure"] = True
        return response
