"""WSGI entry point for gunicorn: `gunicorn wsgi:app`."""

from instrument_share import create_app

app = create_app()
