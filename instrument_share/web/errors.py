"""Errors as HTML pages or JSON `{"error", "message", "fields"}`, by request; never a stack trace."""

import logging

from flask import Flask, jsonify, make_response, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from ..core.errors import DomainError
from ..db import db
from ..extensions import login_manager
from .actions import refusal_status

log = logging.getLogger(__name__)

CODES = {400: "bad_request", 401: "not_authenticated", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
         409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type", 422: "validation_failed",
         429: "rate_limited", 500: "internal_error", 503: "unavailable"}


def wants_json() -> bool:
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def messages() -> dict[int, str]:
    return {400: _("The request could not be understood."), 401: _("Please sign in."),
            403: _("You are not allowed to do this."), 404: _("Not found."),
            405: _("This method is not allowed here."), 409: _("This conflicts with the current state."),
            413: _("The upload is too large."), 422: _("Some values are invalid."),
            429: _("Too many requests; try again later."), 500: _("Something went wrong on our side."),
            503: _("The service is temporarily unavailable; try again shortly.")}


def error_response(status: int, code: str, message: str, fields: dict | None = None, **extra):
    db.rollback()
    if wants_json():
        body = {"error": code, "message": message, "fields": fields or {}} | extra
        return jsonify(body), status
    page = status if status in (400, 401, 403, 404, 409, 500, 503) else 400 if status < 500 else 500
    return render_template("errors/error.html", status=status, code=code, message=message, fields=fields or {},
                           page=page), status


def init_app(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError):  # every API refusal, and a page's refusal no view shows itself
        return error_response(refusal_status(exc), exc.code, exc.message, exc.fields, **exc.extra)

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        return error_response(400, "csrf_failed", _("The form expired or was not sent from this site; "
                                                     "reload the page and try again."))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        status = exc.code or 500
        message = messages().get(status, exc.description or "")
        return error_response(status, CODES.get(status, "error"), message)

    @app.errorhandler(OperationalError)
    def database_unavailable(exc: OperationalError):
        # One line per refused request: an outage must not flood the log with tracebacks and bound parameters.
        log.error("database unavailable on %s %s: %s", request.method, request.path, exc.orig)
        # Answer without the database: the signed-in user would be loaded from it (by the language choice, the
        # page's menu and the headers) and fail again, turning the 503 into a 500. The page is an anonymous one.
        login_manager._update_request_context_with_user(None)
        response = make_response(error_response(503, "unavailable", messages()[503]))
        response.headers["Cache-Control"] = "no-store"  # nobody's page; and an outage's answer is never kept
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", messages()[500])
