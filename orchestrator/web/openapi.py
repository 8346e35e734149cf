"""The JSON API's route registry and its OpenAPI 3.1 document.

Handlers declare their method, path, summary, scope and pydantic body model with ``@api.route``;
the same declaration mounts the route under ``/api/v1`` and describes it in
``/api/v1/openapi.json``, so the document cannot drift from what is served.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from orchestrator.errors import DomainError, InvalidInput, NotFound
from orchestrator.i18n import gettext, lazy_gettext

__all__ = ["API_PREFIX", "Api", "api", "parse_body", "path_id"]

API_PREFIX = "/api/v1"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
M = TypeVar("M", bound=BaseModel)


@dataclasses.dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    tag: str
    scope: str | None
    body: type[BaseModel] | None
    response: type[BaseModel] | None
    handler: Handler
    content_type: str = "application/json"


class Api:
    def __init__(self) -> None:
        self.operations: list[Operation] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        tag: str,
        scope: str | None = "read",
        body: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None,
        content_type: str = "application/json",
    ) -> Callable[[Handler], Handler]:
        def decorate(handler: Handler) -> Handler:
            self.operations.append(
                Operation(method.upper(), path, summary, tag, scope, body, response, handler, content_type)
            )
            return handler

        return decorate

    def mount(self, app: web.Application) -> None:
        for op in self.operations:
            app.router.add_route(op.method, API_PREFIX + op.path, op.handler)
        app.router.add_get(API_PREFIX + "/openapi.json", self._serve_document)

    async def _serve_document(self, request: web.Request) -> web.Response:
        return web.json_response(self.document())

    def document(self) -> dict[str, Any]:
        paths: dict[str, dict[str, Any]] = {}
        schemas: dict[str, Any] = {
            "Error": {
                "type": "object",
                "properties": {
                    "error": {
                        "type": "object",
                        "properties": {
                            "code": {"type": "string"},
                            "message": {"type": "string"},
                            "field": {"type": "string"},
                            "details": {"type": "array", "items": {"type": "object"}},
                        },
                        "required": ["code", "message"],
                    }
                },
            }
        }

        def ref(model: type[BaseModel]) -> dict[str, str]:
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, sub in schema.pop("$defs", {}).items():
                schemas[name] = sub
            schemas[model.__name__] = schema
            return {"$ref": f"#/components/schemas/{model.__name__}"}

        for op in self.operations:
            params = [
                {"name": name, "in": "path", "required": True, "schema": {"type": "integer"}}
                for name in re.findall(r"{(\w+)}", op.path)
            ]
            operation: dict[str, Any] = {
                "summary": op.summary,
                "tags": [op.tag],
                "operationId": op.handler.__name__,
                "parameters": params,
                "responses": {
                    "200": {
                        "description": "OK",
                        "content": {
                            op.content_type: {"schema": ref(op.response)} if op.response else {"schema": {}}
                        },
                    },
                    "401": {"description": "Not authenticated", "content": _error_content()},
                    "404": {"description": "Not found (or not yours)", "content": _error_content()},
                    "422": {"description": "Invalid input", "content": _error_content()},
                },
            }
            if op.scope:
                operation["security"] = [{"bearer": [op.scope]}, {"cookie": []}]
                operation["x-required-scope"] = op.scope
            if op.body is not None:
                operation["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": ref(op.body)}},
                }
            paths.setdefault(API_PREFIX + op.path, {})[op.method.lower()] = operation
        return {
            "openapi": "3.1.0",
            "info": {
                "title": "Rucksack Orchestrator API",
                "version": "1",
                "description": "Everything a coordinator does in the pages, for automation. "
                "Authenticate with `Authorization: Bearer rst_...` (see `rucksack token create`).",
            },
            "paths": paths,
            "components": {
                "schemas": schemas,
                "securitySchemes": {
                    "bearer": {"type": "http", "scheme": "bearer"},
                    "cookie": {"type": "apiKey", "in": "cookie", "name": "rs_login"},
                },
            },
        }


def _error_content() -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}


# The largest id a database INTEGER column holds.
_MAX_ID = 2_147_483_647


def path_id(request: web.Request, name: str) -> int:
    """An id from an API path; anything that cannot be an id is simply not found (API paths carry
    no pattern of their own)."""
    raw = request.match_info[name]
    if not raw.isascii() or not raw.isdigit() or len(raw) > 10 or not 1 <= int(raw) <= _MAX_ID:
        raise NotFound(gettext("no record with %(name)s %(value)s") % {"name": name, "value": repr(raw[:20])})
    return int(raw)


async def parse_body(request: web.Request, model: type[M]) -> M:
    """The JSON body validated against ``model``; a clear 400/422 naming every problem otherwise."""
    raw = await request.read()
    try:
        data = json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError) as e:
        raise DomainError(gettext("the body is not valid JSON: %(error)s") % {"error": e}) from None
    if not isinstance(data, dict):
        raise DomainError(gettext("the body must be a JSON object"))
    try:
        return model.model_validate(data)
    except ValidationError as e:
        details = [
            {
                "field": ".".join(str(p) for p in err["loc"]) or "(body)",
                "type": err["type"],
                "message": _validation_message(err["type"], err.get("ctx") or {}, err["msg"]),
            }
            for err in e.errors(include_url=False, include_input=False)
        ]
        first = details[0]
        raise InvalidInput(
            f"{first['field']}: {first['message']}", field=first["field"], details=details
        ) from None


# pydantic's own messages are English; the API answers in its user's language (design: errors in
# the staff member's language), so the common kinds of mistake are worded here: per pydantic error
# type, the message and the context value it names (if any). ``type`` in each detail stays
# pydantic's stable code for programs; a kind not listed keeps pydantic's words.
_WHOLE_NUMBER = lazy_gettext("must be a whole number")
_NUMBER = lazy_gettext("must be a number")
_BOOLEAN = lazy_gettext("must be true or false")
_OBJECT = lazy_gettext("must be a JSON object")
_ONE_OF = lazy_gettext("must be one of %(choices)s")
_VALIDATION_MESSAGES: dict[str, tuple[str, str | None]] = {
    "missing": (lazy_gettext("is required"), None),
    "extra_forbidden": (lazy_gettext("is not a field of this request"), None),
    "int_type": (_WHOLE_NUMBER, None),
    "int_parsing": (_WHOLE_NUMBER, None),
    "int_from_float": (_WHOLE_NUMBER, None),
    "float_type": (_NUMBER, None),
    "float_parsing": (_NUMBER, None),
    "bool_type": (_BOOLEAN, None),
    "bool_parsing": (_BOOLEAN, None),
    "string_type": (lazy_gettext("must be text"), None),
    "list_type": (lazy_gettext("must be a list"), None),
    "dict_type": (_OBJECT, None),
    "model_type": (_OBJECT, None),
    "string_too_short": (lazy_gettext("must have at least %(n)s characters"), "min_length"),
    "string_too_long": (lazy_gettext("must have at most %(n)s characters"), "max_length"),
    "too_short": (lazy_gettext("must have at least %(n)s items"), "min_length"),
    "too_long": (lazy_gettext("must have at most %(n)s items"), "max_length"),
    "greater_than_equal": (lazy_gettext("must be at least %(n)s"), "ge"),
    "greater_than": (lazy_gettext("must be more than %(n)s"), "gt"),
    "less_than_equal": (lazy_gettext("must be at most %(n)s"), "le"),
    "less_than": (lazy_gettext("must be less than %(n)s"), "lt"),
    "literal_error": (_ONE_OF, "expected"),
    "enum": (_ONE_OF, "expected"),
}


def _validation_message(kind: str, ctx: dict[str, Any], fallback: str) -> str:
    if kind in _VALIDATION_MESSAGES:
        message, named = _VALIDATION_MESSAGES[kind]
        if named is None:
            return gettext(message)
        if named in ctx:
            # A bound is "n" in the messages, the allowed values "choices".
            return gettext(message) % {"n": ctx[named], "choices": ctx[named]}
        return fallback  # a context pydantic did not give: its own words are still right
    if kind.startswith("datetime") or kind == "timezone_aware":
        return gettext("must be a date and time with its time zone (ISO 8601)")
    if kind.startswith("date"):
        return gettext("must be a date (YYYY-MM-DD)")
    return fallback


api = Api()
