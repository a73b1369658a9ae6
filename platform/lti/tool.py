"""THE one place that names the LTI library under django-lti: ``pylti1p3`` (PyPI ``PyLTI1p3``,
pinned in pyproject.toml beside ``django-lti``). Its maintained fork would be swapped here and
in the pin; nothing else in Stride imports it."""
from __future__ import annotations

from pylti1p3.assignments_grades import AssignmentsGradesService
from pylti1p3.contrib.django import DjangoMessageLaunch, DjangoOIDCLogin
from pylti1p3.contrib.django.launch_data_storage.cache import DjangoCacheDataStorage
from pylti1p3.deep_link_resource import DeepLinkResource
from pylti1p3.exception import LtiException, LtiServiceException, OIDCException
from pylti1p3.grade import Grade
from pylti1p3.lineitem import LineItem
from pylti1p3.names_roles import NamesRolesProvisioningService
from pylti1p3.service_connector import ServiceConnector

__all__ = [
    "AssignmentsGradesService", "DeepLinkResource", "DjangoCacheDataStorage", "DjangoMessageLaunch", "DjangoOIDCLogin",
    "Grade", "LineItem", "LtiException", "LtiServiceException", "NamesRolesProvisioningService", "OIDCException",
    "ServiceConnector",
]
