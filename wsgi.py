"""WSGI entry point for gunicorn: `gunicorn wsgi:app`."""

import gc

from instrument_share import create_app

app = create_app()
# The ~150,000 objects made at start (modules, models, the URL map, schemas) live as long as the process, yet every
# full garbage collection would traverse them: a 70 ms pause on a small machine, paid by whichever request set it
# off. Frozen, collections leave them out (and forked workers keep sharing their pages).
gc.freeze()
