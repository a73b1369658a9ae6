from __future__ import annotations

from django.conf import settings
from django.utils import translation
from django.utils.cache import patch_vary_headers


class LanguageMiddleware:
    """French unless the user picked another language with the switcher.

    Django's LocaleMiddleware would follow the browser's Accept-Language; Stride's course is
    French first, so only the explicit choice (the language cookie) changes it.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.supported = {code for code, _ in settings.LANGUAGES}

    def __call__(self, request):
        lang = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        if lang not in self.supported:
            lang = settings.LANGUAGE_CODE
        translation.activate(lang)
        request.LANGUAGE_CODE = lang
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", lang)
        patch_vary_headers(response, ("Cookie",))
        return response


class RequestSizeLimitMiddleware:
    """Refuse a request body over STRIDE_MAX_REQUEST_BYTES before Django reads it.

    Per-exercise file limits are checked again by the services; this is the hard ceiling
    that keeps a huge upload from filling the disk or the memory.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = int(getattr(settings, "STRIDE_MAX_REQUEST_BYTES", 110 * 2**20))
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit:
            from django.http import JsonResponse

            mb = round(limit / 2**20, 1)
            return JsonResponse({"detail": f"The request is too large: the limit is {mb} MB."}, status=413)
        return self.get_response(request)
