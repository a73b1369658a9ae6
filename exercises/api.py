"""The exercises' part of API v1: one router that holds the subpackages' routers, and the
device budget that model submissions and generations share."""
from __future__ import annotations

from ninja import Router, Schema

from courses.selectors import course_get_for_user

from .engine.api import ErrorOut
from .engine.api import router as engine_router
from .jobs import device_budget_for
from .lab.api import router as lab_router
from .submissions.api import router as submissions_router

router = Router()
router.add_router("/", engine_router)
router.add_router("/", submissions_router)
router.add_router("/", lab_router)


class DeviceBudgetOut(Schema):
    device_seconds_per_day: int
    used: float
    left: float | None
    queued: int
    estimated_wait_seconds: float


@router.get("/courses/{slug}/device-budget", response={200: DeviceBudgetOut, 404: ErrorOut}, tags=["jobs"],
            summary="Your worker time left today in a course (gradings and generations) and the estimated wait")
def device_budget(request, slug: str):
    """``device_seconds_per_day`` 0 means no limit (then ``left`` is null). A submission or a
    generation asked for once ``left`` is 0 is refused with 429 until older work leaves the
    24-hour window."""
    course, _role = course_get_for_user(user=request.user, slug=slug)
    budget = device_budget_for(user=request.user, course=course)
    return {"device_seconds_per_day": budget.limit, "used": budget.used, "left": budget.left, "queued": budget.queued,
            "estimated_wait_seconds": budget.estimated_wait_seconds}
