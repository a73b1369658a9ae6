from django.http import JsonResponse
from django.views.decorators.cache import never_cache


@never_cache
def healthz(request):
    """Liveness for load balancers and compose; also the bare-JSON baseline of bench/."""
    return JsonResponse({"status": "ok"})
