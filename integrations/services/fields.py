"""Validation of an integration's own fields: slug (and a suggestion), name, description,
base URL and the selected operations (the plan's cap)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.utils.text import slugify

from workspaces.models import Workspace
from workspaces.validation import check_name

from .. import egress
from ..models import WorkspaceIntegration
from .base import IntegrationError, max_operations

MAX_NAME = 100
MAX_DESCRIPTION = 2000
SLUG_MAX = 60
SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,58}[a-z0-9])?$")  # 1..SLUG_MAX characters


def suggest_slug(workspace: Workspace, title: str) -> str:
    base = slugify(title)[:SLUG_MAX].strip("-") or "api"
    taken = set(WorkspaceIntegration.objects.filter(workspace=workspace,
                                                    slug__startswith=base[:40])
                .values_list("slug", flat=True))
    slug, n = base, 2
    while slug in taken:
        suffix = f"-{n}"
        slug = base[:SLUG_MAX - len(suffix)].strip("-") + suffix
        n += 1
    return slug


def _clean_slug(workspace: Workspace, slug: str, exclude_pk: int | None = None) -> str:
    slug = (slug or "").strip()
    if not slug:
        raise IntegrationError("Enter a slug.", "required", "slug")
    if len(slug) > SLUG_MAX or not SLUG_RE.match(slug):
        raise IntegrationError(
            f"Use lower-case letters, digits and hyphens (up to {SLUG_MAX}), starting and "
            "ending with a letter or digit, e.g. my-api.", "invalid_slug", "slug")
    qs = WorkspaceIntegration.objects.filter(workspace=workspace, slug=slug)
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    if qs.exists():
        raise IntegrationError(f"An integration with the slug “{slug}” already exists in this "
                               "workspace.", "duplicate_slug", "slug")
    return slug


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise IntegrationError("Enter a name.", "required", "name")
    if len(name) > MAX_NAME:
        raise IntegrationError(f"Keep the name to {MAX_NAME} characters.", "invalid", "name")
    check_name(name, what="An integration name", error=IntegrationError)
    return name


def _clean_description(description: str) -> str:
    description = (description or "").strip()
    if len(description) > MAX_DESCRIPTION:
        raise IntegrationError(f"Keep the description to {MAX_DESCRIPTION} characters.",
                               "invalid", "description")
    return description


def clean_base_url(url: str) -> str:
    """The base URL as stored: http(s), a public-looking address (no DNS), no trailing '/'."""
    url = (url or "").strip()
    if not url:
        raise IntegrationError("Enter the base URL of the API.", "required", "base_url")
    if len(url) > 2000:
        raise IntegrationError("Keep the base URL under 2,000 characters.", "invalid_url",
                               "base_url")
    if "://" not in url:
        raise IntegrationError("Enter a full URL starting with https:// (the spec's server is "
                               "relative).", "invalid_url", "base_url")
    if "?" in url or "#" in url:
        raise IntegrationError("The base URL can't have a query string or fragment.",
                               "invalid_url", "base_url")
    try:
        egress.check_url_shape(url)
    except egress.EgressError as exc:
        raise IntegrationError(f"This base URL can't be used: {exc.reason}.", "invalid_url",
                               "base_url")
    return url.rstrip("/")


def clean_operation_keys(workspace: Workspace, keys: Iterable[str],
                         available: Iterable[str]) -> list[str]:
    wanted = list(dict.fromkeys(k.strip() for k in keys if k and k.strip()))
    limit = max_operations(workspace)
    if not wanted:
        raise IntegrationError("Select at least one operation.", "no_operations", "operations")
    if len(wanted) > limit:
        raise IntegrationError(f"Select at most {limit} operations ({len(wanted)} selected).",
                               "too_many_operations", "operations")
    known = set(available)
    missing = [k for k in wanted if k not in known]
    if missing:
        shown = ", ".join(missing[:3])
        raise IntegrationError(f"Not an operation of this spec: {shown}.", "unknown_operation",
                               "operations")
    return wanted
