"""The answers every API operation can give besides its own, documented on every operation by a
drf-spectacular postprocessing hook (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]).

core.api.errors answers each of these the same way wherever it comes from: a field's message
(400), a refusal by a rule (409) or a password already revealed (410) with its reasons, and
DRF's `{"detail": ...}` for the rest. An operation's own description of a status (a 409 with
its refusal, a 202) is kept; only the missing ones are added, and the body of one the view
describes in words only."""

from django.utils.translation import gettext_lazy as _

from core.audit import StrOrPromise

_DETAIL = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
_REFUSAL = {
    "type": "object",
    "properties": {
        "detail": {"type": "string"},
        "reasons": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["detail", "reasons"],
}
# A message per field (a list of messages, or nested for a nested field), and `detail` for a
# message about the whole request.
_FIELD_ERRORS = {"type": "object", "additionalProperties": {}}

COMPONENTS = {
    "ErrorDetail": _DETAIL,
    "RuleRefusal": _REFUSAL,
    "FieldErrors": _FIELD_ERRORS,
}

_ANY_METHOD = {
    "400": ("FieldErrors", _("Invalid input: a message per field, or a detail for the request.")),
    "401": ("ErrorDetail", _("Not signed in: no credentials, or a token that is not valid.")),
    "403": ("ErrorDetail", _("Signed in, but the role may not do this.")),
    "404": ("ErrorDetail", _("No such object (or not one the caller may see), or no such page.")),
    "429": ("ErrorDetail", _("Too many requests: try again after the Retry-After seconds.")),
    "503": ("ErrorDetail", _("A service it depends on (database, broker) is down: try again.")),
}
_CHANGES = {
    "409": ("RuleRefusal", _("A rule refuses the action, for these reasons.")),
    "410": ("RuleRefusal", _("Gone: shown once already (a revealed password), or ended.")),
    "413": ("ErrorDetail", _("The request is larger than the limit.")),
}


def _response(component: str, description: StrOrPromise, *, csv: bool) -> dict:
    content: dict = {"application/json": {"schema": {"$ref": f"#/components/schemas/{component}"}}}
    if csv:
        # A report asked for as CSV (`?format=csv`) answers its errors as CSV too.
        content["text/csv"] = {"schema": {"type": "string"}}
    return {"description": str(description), "content": content}


def document_error_responses(result, generator, request, public):
    """Add the statuses an operation does not yet describe (a postprocessing hook)."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in COMPONENTS.items():
        schemas.setdefault(name, schema)
    for methods in result.get("paths", {}).values():
        for method, operation in methods.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            extra = dict(_ANY_METHOD)
            if method != "get":
                extra.update(_CHANGES)
            responses = operation.setdefault("responses", {})
            csv = any("text/csv" in answer.get("content", {}) for answer in responses.values())
            for status, (component, description) in extra.items():
                if status not in responses:
                    responses[status] = _response(component, description, csv=csv)
                elif "content" not in responses[status]:
                    # Described by the view (its own words) but with no body: add the body.
                    responses[status]["content"] = _response(component, "", csv=csv)["content"]
    return result
