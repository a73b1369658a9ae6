"""The exercises' part of API v1: one router that holds the subpackages' routers."""
from ninja import Router

from .engine.api import router as engine_router
from .lab.api import router as lab_router
from .submissions.api import router as submissions_router

router = Router()
router.add_router("/", engine_router)
router.add_router("/", submissions_router)
router.add_router("/", lab_router)
