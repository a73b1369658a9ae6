import sys

from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.defaults import server_error as django_server_error


@never_cache
def healthz(request):
    """Liveness for load balancers and compose; also the bare-JSON baseline of bench/."""
    return JsonResponse({"status": "ok"})


def server_error(request, template_name="500.html"):
    """Django's 500, except for a database that is unavailable for a moment: a 503 + Retry-After.

    Django calls this while it handles the exception, so ``sys.exc_info()`` still holds it; this
    catches the errors raised outside a view (middleware), which ``process_exception`` never sees.
    """
    from .middleware import _database_errors, _drop_connections, database_unavailable_response

    if isinstance(sys.exc_info()[1], _database_errors()):
        _drop_connections()
        return database_unavailable_response(request)
    return django_server_error(request, template_name)
