"""InstrumentShare: the Nanjing science-and-technology resource sharing platform."""

from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(config: dict | None = None) -> Flask:
    """Build the application; `config` overrides settings read from the environment (tests)."""
    from . import models  # noqa: F401  every table is registered before anything touches the metadata
    from .api import register_api
    from .bookings import lifecycle  # noqa: F401  listens for instruments becoming unavailable
    from .cli import register_cli
    from .config import load_config
    from .db import db
    from .vouchers import listeners as voucher_listeners
    from .web import register_web

    app = Flask(__name__, instance_relative_config=True, template_folder=str(PROJECT_ROOT / "templates"))
    app.config.update(load_config(Path(app.instance_path), config))
    if app.config["PROXY_FIX_X_FOR"]:
        # Client addresses feed the audit log and rate limits, so trust exactly the configured proxy hops.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["PROXY_FIX_X_FOR"], x_proto=1)
    db.init_app(app)
    voucher_listeners.register()  # clawback on refunds, year totals, fraud signals at submission
    register_web(app)
    register_api(app)
    register_cli(app)
    return app
