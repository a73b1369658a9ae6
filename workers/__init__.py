"""Stride's Celery app: ``celery -A workers worker -Q default,gpu``."""
from .celery import app

__all__ = ["app"]
