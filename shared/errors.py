"""Validation errors as a clear 422: field path and message, without echoing the input back."""

from __future__ import annotations

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


def describe(errors: list[dict[str, object]]) -> list[dict[str, object]]:
    described = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]  # type: ignore[attr-defined]
        message = str(err.get("msg", "ogiltigt värde / invalid value"))
        if err.get("type") == "json_invalid":
            message = "Ogiltig JSON / malformed JSON"
        described.append({"loc": loc, "field": ".".join(loc), "msg": message, "type": err.get("type")})
    return described


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(
        {"detail": describe(list(exc.errors()))}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
