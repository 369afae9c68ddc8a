"""Step 4, validation: openapi-spec-validator findings as warnings, never fetching, under a
time limit, much faster than the plain validator (``validate``)."""

from __future__ import annotations

import functools
import inspect
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .limits import (
    MAX_FINDING_CHARS,
    MAX_FINDINGS,
)
from .model import (
    Finding,
    SpecError,
    _truncate,
)
from .pointers import _pointer
from .versions import spec_family


class _ValidationTimeout(Exception):
    pass


def _exception_text(exc: BaseException) -> str:
    """Short text for an unexpected exception. referencing's errors embed the whole document
    in ``str()``; their ``ref`` says what failed."""
    ref = getattr(exc, "ref", None)
    if isinstance(ref, str):
        return f"{type(exc).__name__}: {ref}"
    cause = exc.__cause__ or exc.__context__
    if cause is not None and isinstance(getattr(cause, "ref", None), str):
        return f"{type(exc).__name__}: {cause.ref}"  # type: ignore[attr-defined]
    return f"{type(exc).__name__}: {_truncate(str(exc), MAX_FINDING_CHARS)}"


class _IdSet(set):  # type: ignore[type-arg]
    """openapi-spec-validator keeps visited schema ids in lists (O(n^2)); same API, O(1)."""

    def append(self, item: Any) -> None:
        self.add(item)


_build_lock = threading.Lock()
_meta_validators: dict[tuple[int, int], tuple[Any, Any, Any]] = {}


def _crawled(cls: Any, schema: Any, format_checker: Any) -> Any:
    """A jsonschema validator for ``schema`` whose registry is crawled once.

    jsonschema re-crawls an uncrawled registry on every failed ``$dynamicRef`` anchor lookup
    (once per subschema of OpenAPI 3.1); building the validator once with a crawled registry
    makes 3.1 validation ~35% faster. No retrieval function: nothing remote is ever fetched.
    """
    from jsonschema_specifications import REGISTRY as JSONSCHEMA_REGISTRY
    from openapi_schema_validator._specifications import REGISTRY as OAS_REGISTRY
    from referencing import Resource
    from referencing.jsonschema import DRAFT202012

    resource = Resource.from_contents(schema, default_specification=DRAFT202012)
    uri = resource.id() or ""
    registry = JSONSCHEMA_REGISTRY.combine(OAS_REGISTRY).with_resource(uri, resource).crawl()
    return cls(schema, format_checker=format_checker, _resolver=registry.resolver(base_uri=uri))


def _schema_checker(validator_cls: Any, format_checker: Any) -> Callable[[Any], None]:
    """Same as ``validator_cls.check_schema`` (openapi-schema-validator's
    ``check_openapi_schema``) but with a cached, crawled meta-schema validator."""
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import validator_for

    key = (id(validator_cls), id(format_checker))
    hit = _meta_validators.get(key)
    if hit is None:
        meta_cls = validator_for(validator_cls.META_SCHEMA, default=validator_cls)
        meta = _crawled(meta_cls, validator_cls.META_SCHEMA, format_checker)
        with _build_lock:
            hit = _meta_validators.setdefault(key, (validator_cls, format_checker, meta))
    meta_validator = hit[2]

    def check(schema: Any) -> None:
        for error in meta_validator.iter_errors(schema):
            raise SchemaError.create_from(error)

    return check


def _locating(cls: type) -> type:
    """Subclass a keyword validator so that errors remember where (in the spec) they were
    found, and so that a deadline can stop validation between schemas."""

    def __call__(self: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:  # noqa: N807
        deadline = getattr(self.registry, "_switchboard_deadline", None)
        if deadline is not None and time.monotonic() > deadline:
            raise _ValidationTimeout
        location = None
        for arg in args:
            parts = getattr(arg, "parts", None)
            if isinstance(parts, tuple):
                location = parts
                break
        for error in cls.__call__(self, *args, **kwargs):
            if location is not None and getattr(error, "_switchboard_location", None) is None:
                error._switchboard_location = location
            yield error

    return type(f"Locating{cls.__name__}", (cls,), {"__call__": __call__})


def _fast_schema_keyword(cls: type) -> type:
    def __init__(self: Any, registry: Any) -> None:  # noqa: N807
        cls.__init__(self, registry)
        self.visited_schema_ids = _IdSet()
        self.meta_checked_schema_ids = _IdSet()
        self._switchboard_meta_results: dict[str, Any] = {}

    def validate_schema_meta(self: Any, schema: Any, schema_value: Any) -> Any:
        # Specs repeat identical schemas a lot (OpenAI: 2004 checks, 1309 distinct); the
        # meta-schema check only depends on the content, so check each distinct one once.
        try:
            key = json.dumps(schema_value, sort_keys=True)
        except (TypeError, ValueError):
            return cls._validate_schema_meta(self, schema, schema_value)
        if key not in self._switchboard_meta_results:
            result = cls._validate_schema_meta(self, schema, schema_value)
            self._switchboard_meta_results[key] = result
        return self._switchboard_meta_results[key]

    namespace: dict[str, Any] = {"__init__": __init__}
    if hasattr(cls, "_validate_schema_meta"):
        namespace["_validate_schema_meta"] = validate_schema_meta
    if hasattr(cls, "_get_validator_class_for_dialect"):  # 3.1

        def checker31(self: Any, schema: Any, schema_value: Any) -> Callable[[Any], None]:
            dialect_id = self._get_schema_dialect_id(schema, schema_value)
            validator_cls = self._get_validator_class_for_dialect(dialect_id)
            if validator_cls is None:
                raise ValueError(f"Unknown JSON Schema dialect: {dialect_id!r}")
            return _schema_checker(validator_cls, self.schema_validator_format_checker)

        namespace["_get_schema_checker"] = checker31
    elif hasattr(cls, "schema_validator_cls"):  # 3.0 / 2.0

        def checker30(self: Any, schema: Any, schema_value: Any) -> Callable[[Any], None]:
            validator_cls = self.schema_validator_cls
            return _schema_checker(validator_cls, validator_cls.FORMAT_CHECKER)

        namespace["_get_schema_checker"] = checker30
    return type(f"Fast{cls.__name__}", (cls,), namespace)


@functools.lru_cache(maxsize=8)
def _spec_validator_class(family: str, fast: bool = True) -> type:
    from openapi_spec_validator.validation import (
        OpenAPIV2SpecValidator,
        OpenAPIV30SpecValidator,
        OpenAPIV31SpecValidator,
    )

    base: Any = {
        "2.0": OpenAPIV2SpecValidator,
        "3.0": OpenAPIV30SpecValidator,
        "3.1": OpenAPIV31SpecValidator,
    }[family]
    keywords = dict(base.keyword_validators)
    namespace: dict[str, Any] = {}
    if fast:
        keywords["schema"] = _fast_schema_keyword(keywords["schema"])
        root = base.schema_validator  # a lazy proxy of a jsonschema validator instance
        namespace["schema_validator"] = _crawled(root.__class__, root.schema, None)
    namespace["keyword_validators"] = {name: _locating(k) for name, k in keywords.items()}
    return type(f"Switchboard{base.__name__}", (base,), namespace)


class _NoFetchHandlers(dict):  # type: ignore[type-arg]
    """Resolver handlers for jsonschema-path that claim every URI scheme and refuse it.

    jsonschema-path falls back to ``requests.get``/``urlopen`` (http, https, *file*) for any
    scheme missing from its handlers, so ``handlers={}`` would still fetch; this does not."""

    def __contains__(self, key: object) -> bool:
        return True

    def __getitem__(self, key: Any) -> Callable[[str], Any]:
        return _refuse_fetch


def _refuse_fetch(uri: str) -> Any:
    raise SpecError(
        f"The validator tried to fetch {_truncate(uri, 120)}; fetching is disabled.",
        "external_ref",
    )


def _error_path(error: Any) -> str:
    location = getattr(error, "_switchboard_location", None) or ()
    try:
        relative = tuple(error.absolute_path)
    except Exception:
        relative = ()
    return _pointer((*location, *relative))


def validate(
    doc: Mapping[str, Any],
    *,
    max_findings: int = MAX_FINDINGS,
    timeout: float | None = None,
) -> list[Finding]:
    """Validate a checked document (``check_document``/``parse_spec`` first: only internal
    refs) with openapi-spec-validator and return up to ``max_findings`` warnings.

    Never raises. Nothing is fetched: the document is passed as a dict and the resolver's
    handlers refuse every URL scheme (``file:`` included). ``timeout`` is checked between
    schemas, not inside the first whole-document schema pass, so the worker should still run
    this under a hard time limit.

    This is what prance's ``BaseParser(backend="openapi-spec-validator")`` does internally
    (``openapi_spec_validator.validate(spec)``), minus its problems: that stops at the first
    error, resolves refs with fetching handlers, and caches every validated spec forever."""
    findings: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    started = time.monotonic()
    try:
        family, _version = spec_family(doc)
        from jsonschema_path import SchemaPath

        try:
            cls = _spec_validator_class(family, True)
        except Exception:  # openapi-spec-validator internals changed: plain, slower path
            cls = _spec_validator_class(family, False)
        path = SchemaPath.from_dict(doc, handlers=_NoFetchHandlers(), resolved_cache_maxsize=1024)
        validator = cls(path)
        if timeout is not None:
            validator.keyword_validators_registry._switchboard_deadline = started + timeout
        # Unwrapped: the public iter_errors is an lru_cache on the instance (it would keep
        # every validated spec alive) and stops at nothing.
        iter_errors = inspect.unwrap(cls.iter_errors)
        for error in iter_errors(validator):
            message = _truncate(getattr(error, "message", None) or str(error), MAX_FINDING_CHARS)
            where = _error_path(error)
            if (message, where) in seen:
                continue
            seen.add((message, where))
            findings.append(Finding(message=message, path=where))
            if len(findings) >= max_findings:
                findings.append(
                    Finding(
                        message=f"Stopped after {max_findings} findings.",
                        code="truncated",
                    )
                )
                break
            if timeout is not None and time.monotonic() - started > timeout:
                raise _ValidationTimeout
    except _ValidationTimeout:
        findings.append(
            Finding(
                message=f"Validation stopped after {timeout:g} s; the spec was not fully checked.",
                code="timeout",
            )
        )
    except SpecError as exc:
        findings.append(Finding(message=exc.message, code=exc.code))
    except RecursionError:
        findings.append(
            Finding(message="Validation stopped: the spec is nested too deeply.", code="error")
        )
    except Exception as exc:
        findings.append(
            Finding(
                message=_truncate(f"Validation stopped: {_exception_text(exc)}", MAX_FINDING_CHARS),
                code="error",
            )
        )
    return findings
