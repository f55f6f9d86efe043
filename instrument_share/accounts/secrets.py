"""Password hashing and policy, random tokens and TOTP (RFC 6238) helpers."""

import hashlib
import secrets
from functools import cache
from importlib import resources

import pyotp
from flask import current_app
from flask_babel import gettext as _
from werkzeug.security import check_password_hash, generate_password_hash

from ..core.errors import ValidationFailed

# Compared against when the username is unknown, so a miss costs the same time as a wrong password.
_DUMMY_HASH_CACHE: dict[str, str] = {}


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=current_app.config.get("PASSWORD_HASH_METHOD", "scrypt"))


def password_matches(stored_hash: str | None, password: str) -> bool:
    if not stored_hash:
        method = current_app.config.get("PASSWORD_HASH_METHOD", "scrypt")
        stored_hash = _DUMMY_HASH_CACHE.setdefault(method, generate_password_hash("x", method=method))
        check_password_hash(stored_hash, password)
        return False
    return check_password_hash(stored_hash, password)


@cache
def _common_passwords() -> frozenset[str]:
    text = resources.files("instrument_share").joinpath("data/common_passwords.txt").read_text()
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip())


def check_password_policy(password: str, *, username: str = "", field: str = "password") -> None:
    """ASVS 6.2: a minimum length, long passphrases allowed, no composition rules, no common passwords."""
    minimum = current_app.config["PASSWORD_MIN_LENGTH"]
    problem = None
    if len(password) < minimum:
        problem = _("at least %(n)d characters", n=minimum)
    elif len(password) > 256:
        problem = _("at most 256 characters")
    elif password.lower() in _common_passwords() or (username and password.lower() == username.lower()):
        problem = _("too common or equal to the user name; choose another")
    if problem:
        raise ValidationFailed(_("The password is not acceptable: %(problem)s.", problem=problem),
                               code="weak_password", fields={field: problem})


def new_token(prefix: str = "") -> tuple[str, str]:
    """Return (secret shown once, SHA-256 hex kept in the database)."""
    secret = prefix + secrets.token_urlsafe(32)
    return secret, token_hash(secret)


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(secret: str, username: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name="InstrumentShare Nanjing")


def totp_step(secret: str, code: str, *, last_step: int | None, at) -> int | None:
    """Return the time step a code belongs to (±1 step of drift), or None; a step already used is refused."""
    code = (code or "").strip().replace(" ", "")
    if not (len(code) == 6 and code.isascii() and code.isdigit()):  # isdigit alone takes ² and ١٢٣
        return None
    totp = pyotp.TOTP(secret)
    now_step = int(at.timestamp()) // totp.interval
    for step in (now_step, now_step - 1, now_step + 1):
        if (last_step is None or step > last_step) and secrets.compare_digest(totp.generate_otp(step), code):
            return step
    return None
