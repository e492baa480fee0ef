"""Public GET pages run a lean middleware chain: one rule, decided per middleware in settings.

The public tracking pages (PHOENIX_PUBLIC_GET_PATHS, GET and HEAD) read no session, know no
user, show no messages, change nothing for the audit history and have no login form: the
session, authentication, messages, simple_history and django-axes middleware cost some
250 k instructions a page for nothing (docs/performance.md). PHOENIX_PUBLIC_GET_MIDDLEWARE
says, for every MIDDLEWARE entry, whether public GETs ``run`` or ``skip`` it. A MIDDLEWARE
entry without a decision fails the system check ``phoenix.E001`` and stops the WSGI handler
from starting, so that nothing loses a protection silently.

``PublicGetWSGIHandler`` (phoenix/wsgi.py, what gunicorn serves) builds two chains from
Django's own ``load_middleware``: every middleware, and the ``run`` ones; each request goes
through one of them. A skipped middleware may not hook into the view (process_view,
process_template_response, process_exception): those hooks run for every request.
"""

import re

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest

RUN, SKIP = "run", "skip"
SAFE_METHODS = ("GET", "HEAD")


def problems(middleware: list[str], decisions: dict[str, str]) -> list[str]:
    """Return what is wrong with ``decisions`` for ``middleware`` (nothing when each has one)."""
    found = [f"{path} has no decision for public GET pages" for path in middleware if path not in decisions]
    found += [
        f"{path}: {how!r} is neither 'run' nor 'skip'" for path, how in decisions.items() if how not in (RUN, SKIP)
    ]
    return found


def lean_middleware() -> list[str]:
    """Return the MIDDLEWARE entries public GET pages run; raise when one has no decision."""
    decisions = settings.PHOENIX_PUBLIC_GET_MIDDLEWARE
    if found := problems(settings.MIDDLEWARE, decisions):
        raise ImproperlyConfigured("PHOENIX_PUBLIC_GET_MIDDLEWARE: " + "; ".join(found))
    return [path for path in settings.MIDDLEWARE if decisions[path] == RUN]


def check_public_get_middleware(app_configs, **kwargs) -> list[checks.CheckMessage]:
    return [
        checks.Error(
            f"PHOENIX_PUBLIC_GET_MIDDLEWARE: {problem}.",
            hint="Say in phoenix/settings.py whether public GET pages 'run' or 'skip' it (phoenix/publicget.py).",
            id="phoenix.E001",
        )
        for problem in problems(settings.MIDDLEWARE, settings.PHOENIX_PUBLIC_GET_MIDDLEWARE)
    ]


def is_public_get(request: HttpRequest) -> bool:
    return request.method in SAFE_METHODS and _paths().match(request.path_info) is not None


_compiled: dict[str, re.Pattern] = {}


def _paths() -> re.Pattern:
    pattern = settings.PHOENIX_PUBLIC_GET_PATHS
    try:
        return _compiled[pattern]
    except KeyError:
        return _compiled.setdefault(pattern, re.compile(pattern))


def _hooks(handler) -> list[list[str]]:
    return [
        [f"{method.__self__.__class__.__module__}.{method.__self__.__class__.__qualname__}" for method in hooks]
        for hooks in (handler._view_middleware, handler._template_response_middleware, handler._exception_middleware)
    ]


class PublicGetWSGIHandler(WSGIHandler):
    """Django's WSGI handler with the lean chain for public GET pages (see the module)."""

    def load_middleware(self, is_async=False):
        full = settings.MIDDLEWARE
        settings.MIDDLEWARE = lean_middleware()
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full
        lean_chain, lean_hooks = self._middleware_chain, _hooks(self)
        super().load_middleware(is_async)
        if lean_hooks != _hooks(self):
            raise ImproperlyConfigured(
                "a middleware that public GET pages skip hooks into the view (process_view, "
                "process_template_response or process_exception); it cannot be skipped"
            )
        full_chain = self._middleware_chain

        def chain(request):
            return (lean_chain if is_public_get(request) else full_chain)(request)

        self._middleware_chain = chain
