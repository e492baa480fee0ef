"""WSGI entry point for gunicorn (deploy/gunicorn.conf.py).

Django's handler with a lean middleware chain for public GET pages (phoenix/publicget.py).
After start-up, everything the app imported and built is moved out of the garbage collector's
reach (gc.freeze): the collector otherwise walks those objects again and again while requests
allocate, and gunicorn's forked workers keep sharing their pages.
"""

import gc
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "phoenix.settings")
django.setup(set_prefix=False)

from phoenix.publicget import PublicGetWSGIHandler  # noqa: E402 (needs the settings)

application = PublicGetWSGIHandler()
gc.freeze()
