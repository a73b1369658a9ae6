from __future__ import annotations

from ninja import Router, Schema

from .selectors import course_list_for_user

router = Router(tags=["catalogue"])


class CourseOut(Schema):
    slug: str
    title: str


@router.get("/courses", response=list[CourseOut], summary="The courses you study in or teach")
def courses_list(request):
    return [{"slug": c.slug, "title": c.title} for c in course_list_for_user(user=request.user)]
