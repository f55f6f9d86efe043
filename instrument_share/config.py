"""Settings read from environment variables; every one is documented in docs/settings.md."""

import os
import secrets
from pathlib import Path


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


def _secret_key(instance_path: Path) -> str:
    """Return SECRET_KEY from the environment, or one generated once and kept in the instance folder.

    Several gunicorn workers must share the key, so it is written atomically and re-read by losers of the race.
    """
    from_env = os.environ.get("SECRET_KEY")
    if from_env:
        return from_env
    key_file = instance_path / "secret_key"
    if not key_file.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        candidate = secrets.token_hex(32)
        try:
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(candidate)
    return key_file.read_text().strip()


def load_config(instance_path: Path, overrides: dict | None = None) -> dict:
    """Build the configuration from the environment; `overrides` (tests) win and may bring their own key."""
    overrides = overrides or {}
    default_db = f"sqlite:///{instance_path / 'instrument_share.sqlite3'}"
    secure_cookies = _bool("SESSION_COOKIE_SECURE", True)
    return {
        "SECRET_KEY": overrides.get("SECRET_KEY") or _secret_key(instance_path),
        "DATABASE_URL": os.environ.get("DATABASE_URL", default_db),
        "DATABASE_POOL_SIZE": _int("DATABASE_POOL_SIZE", 5),
        "SQLITE_BUSY_TIMEOUT_MS": _int("SQLITE_BUSY_TIMEOUT_MS", 10000),
        "TIMEZONE": os.environ.get("TIMEZONE", "Asia/Shanghai"),
        "BASE_URL": os.environ.get("BASE_URL", "http://127.0.0.1:5000"),
        # Sessions (ASVS 3.3, MLPS 8.1.4.1 b).
        "SESSION_COOKIE_SECURE": secure_cookies,
        "SESSION_COOKIE_NAME": "__Host-session" if secure_cookies else "session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "IDLE_TIMEOUT_MINUTES": _int("IDLE_TIMEOUT_MINUTES", 30),
        "SESSION_LIFETIME_HOURS": _int("SESSION_LIFETIME_HOURS", 12),
        # Login lockout, counted in the database so it holds across workers and servers: per (account, source
        # address) at LOCKOUT_THRESHOLD, the whole account only at LOCKOUT_ACCOUNT_THRESHOLD (accounts/lockout.py).
        "LOCKOUT_THRESHOLD": _int("LOCKOUT_THRESHOLD", 5),
        "LOCKOUT_ACCOUNT_THRESHOLD": _int("LOCKOUT_ACCOUNT_THRESHOLD", 50),
        "LOCKOUT_WINDOW_MINUTES": _int("LOCKOUT_WINDOW_MINUTES", 15),
        "LOCKOUT_DURATION_MINUTES": _int("LOCKOUT_DURATION_MINUTES", 30),
        "PASSWORD_MIN_LENGTH": _int("PASSWORD_MIN_LENGTH", 10),
        "API_TOKEN_DAYS": _int("API_TOKEN_DAYS", 90),
        # Mail: without MAIL_SERVER the outbox writes mail to the log (development).
        "MAIL_SERVER": os.environ.get("MAIL_SERVER", ""),
        "MAIL_PORT": _int("MAIL_PORT", 587),
        "MAIL_USERNAME": os.environ.get("MAIL_USERNAME", ""),
        "MAIL_PASSWORD": os.environ.get("MAIL_PASSWORD", ""),
        "MAIL_USE_TLS": _bool("MAIL_USE_TLS", True),
        "MAIL_USE_SSL": _bool("MAIL_USE_SSL", False),
        "MAIL_SENDER": os.environ.get("MAIL_SENDER", "noreply@instrument-share.nanjing.example"),
        "MAIL_MAX_ATTEMPTS": _int("MAIL_MAX_ATTEMPTS", 8),
        # Uploaded files are kept in the database so that every app server sees them.
        "MAX_UPLOAD_BYTES": _int("MAX_UPLOAD_BYTES", 10 * 1024 * 1024),
        "MAX_CONTENT_LENGTH": _int("MAX_UPLOAD_BYTES", 10 * 1024 * 1024) + 1024 * 1024,
        "SCHEDULER_LEASE_SECONDS": _int("SCHEDULER_LEASE_SECONDS", 300),
        # City-wide dashboard figures: the scheduler recomputes its stored snapshot this often.
        "STATISTICS_SNAPSHOT_SECONDS": _int("STATISTICS_SNAPSHOT_SECONDS", 300),
        # Public statistics (city and district level, for anyone but the commission) never show a figure built from
        # fewer provider units than this (reporting/disclosure.py).
        "PUBLIC_STATS_MIN_UNITS": _int("PUBLIC_STATS_MIN_UNITS", 3),
        # Catalogue: 500,000 yuan makes a "large" instrument (provinces use lower values, so it is a setting).
        "LARGE_INSTRUMENT_THRESHOLD_FEN": _int("LARGE_INSTRUMENT_THRESHOLD_FEN", 50_000_000),
        "DEFENCE_APPROVAL_DAYS": _int("DEFENCE_APPROVAL_DAYS", 365),
        "DEFENCE_EXPIRY_WARNING_DAYS": _int("DEFENCE_EXPIRY_WARNING_DAYS", 30),
        # Vouchers: claims above this subsidy need two different auditors; notice period; how long a returned claim
        # keeps its reservation before the scheduled job withdraws it.
        "VOUCHER_TWO_AUDITOR_THRESHOLD_FEN": _int("VOUCHER_TWO_AUDITOR_THRESHOLD_FEN", 10_000_000),
        "VOUCHER_NOTICE_DAYS": _int("VOUCHER_NOTICE_DAYS", 7),
        "VOUCHER_RETURNED_KEEP_DAYS": _int("VOUCHER_RETURNED_KEEP_DAYS", 30),
        # Catalogue import: rows of one file (blank rows count), what an XLSX may unpack to, and the size from which
        # an import runs as a background job of the scheduler instead of in the web request.
        "IMPORT_MAX_ROWS": _int("IMPORT_MAX_ROWS", 20000),
        "IMPORT_MAX_UNZIPPED_BYTES": _int("IMPORT_MAX_UNZIPPED_BYTES", 50 * 1024 * 1024),
        "IMPORT_INLINE_MAX_ROWS": _int("IMPORT_INLINE_MAX_ROWS", 300),
        # Bookings. An Idempotency-Key claimed by a request that never answered (its worker killed, the database
        # gone) is taken over by a retry after this long: keep it above gunicorn's worker timeout (30 s by default),
        # so a request still running is never doubled.
        "IDEMPOTENCY_IN_FLIGHT_SECONDS": _int("IDEMPOTENCY_IN_FLIGHT_SECONDS", 60),
        "AUTO_REJECT_HOURS": _int("AUTO_REJECT_HOURS", 48),
        "NO_SHOW_AFTER_MINUTES": _int("NO_SHOW_AFTER_MINUTES", 60),
        "VIOLATIONS_ALLOWED": _int("VIOLATIONS_ALLOWED", 3),
        "VIOLATION_BLOCK_DAYS": _int("VIOLATION_BLOCK_DAYS", 90),
        # Revenue ledger: larger adjustments need a second operator; disputes are open this many days.
        "ADJUSTMENT_APPROVAL_THRESHOLD_FEN": _int("ADJUSTMENT_APPROVAL_THRESHOLD_FEN", 100_000),
        "DISPUTE_DAYS": _int("DISPUTE_DAYS", 15),
        "BABEL_DEFAULT_LOCALE": "zh",
        "BABEL_DEFAULT_TIMEZONE": os.environ.get("TIMEZONE", "Asia/Shanghai"),
        "LANGUAGES": ["zh", "en"],
        "WTF_CSRF_TIME_LIMIT": None,
        "PROXY_FIX_X_FOR": _int("PROXY_FIX_X_FOR", 0),
    } | overrides
