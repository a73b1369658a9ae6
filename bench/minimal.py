"""The fair baseline of the instant answer (issue #17): the least a correct answer must do.

``minimal_answer`` is a plain Django view that lives only here, mounted by ``bench.urls`` under
``bench.settings`` (never in the product's URLs: ``config.urls`` does not know it). Through the
same middleware as the product, it does what recording an answer cannot avoid:

1. authenticate the Bearer token: one indexed query (``accounts_apitoken.digest`` is unique);
2. in one transaction, lock the student's row (``SELECT ... FOR UPDATE`` on their enrolment in
   the exercise's course, joined in the same query: the row the product's answer locks too),
   number the attempt (``COUNT(*)`` of theirs at that exercise, under the lock) and insert it in
   the real ``exercises_attempt`` table.

No access check, no variant, no grading, no policy, no feedback: the answer is stored as sent,
scored 0. Every figure of the product's answer is then read against this one as well as against
the bare JSON view (``GET /healthz``), side by side in the same run.
"""
from __future__ import annotations

import json

from django.db import transaction
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts.models import ApiToken, token_digest
from courses.models import Enrollment
from exercises.models import Attempt

MINIMAL_URL = "bench/minimal-answer/{exercise_id}"


@csrf_exempt  # a Bearer token, never a session: there is no cookie to forge
@require_POST
def minimal_answer(request, exercise_id: int):
    header = request.META.get("HTTP_AUTHORIZATION", "")
    raw = header[7:] if header.startswith("Bearer ") else ""
    user_id = (ApiToken.objects.filter(digest=token_digest(raw), revoked_at__isnull=True, user__is_active=True)
               .values_list("user_id", flat=True).first()) if raw else None
    if user_id is None:
        return JsonResponse({"detail": "Authentication required: send a Bearer token."}, status=401)
    try:
        answer = json.loads(request.body)["answer"]
    except (ValueError, KeyError, TypeError):
        return JsonResponse({"detail": "The body must be JSON with an 'answer'."}, status=400)
    with transaction.atomic():
        enrolled = (Enrollment.objects.select_for_update(of=("self",))
                    .filter(user_id=user_id, course__exercises__id=exercise_id).values_list("pk", flat=True).first())
        if enrolled is None:
            return JsonResponse({"detail": "Not found."}, status=404)
        number = Attempt.objects.filter(exercise_id=exercise_id, user_id=user_id).count() + 1
        attempt = Attempt.objects.create(exercise_id=exercise_id, user_id=user_id, number=number, answer=answer,
                                         raw_score=0.0, score=0.0)
    return JsonResponse({"attempt_id": attempt.pk, "number": number})
