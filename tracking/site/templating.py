"""The public pages' templates: Jinja2 through Django's own backend, strings and URLs made once.

The public pages (home, results, detail, not found, too many) are rendered from
tracking/jinja2/tracking/ by the ``jinja2`` entry of TEMPLATES; the staff admin, the notify
pages and the e-mails stay on Django templates. A rendered page cost some 9 M instructions
through Django's template language, most of them spent on things that are the same for every
visitor of a language: about 45 translations and six URL reversals (docs/performance.md).
Here each is computed once per process and language. Each language (and script prefix) has
its own overlay of the backend's environment whose loader writes ``{{ _("literal") }}``,
``{{ url("name") }}`` and ``{{ static("path") }}`` into the template source as text before it is
compiled (``_WrittenIn``), so that those cost nothing per page; what remains in a template:

- ``_`` in a template is the ``Catalog`` of the active language: ``_("Track")`` is
  ``{% translate "Track" %}``, ``_.block(msgid, name=value)`` is ``{% blocktranslate %}``
  (the values escaped, the text not, as Django does), ``_.count(singular, plural, n)`` is
  ``{% blocktranslate count counter=n %}``, ``_.context(context, msgid)`` is
  ``{% translate msgid context context %}``.
- ``url(name)`` reverses a URL without arguments once per script prefix; ``detail_url(number)``
  fills the detail page's pattern.
- ``static(path)`` asks the storage (the manifest in production) once per path.

Autoescape is on (markupsafe); the page is then written in Django's spelling of the two
entities that differ (``&#x27;`` and ``&quot;`` for markupsafe's ``&#39;`` and ``&#34;``, the
same characters), so the pages are byte for byte what the Django templates wrote
(tests/tracking/site/test_templates_jinja.py renders both).
"""

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.template.backends.jinja2 import Template as Jinja2Template
from django.template.defaultfilters import floatformat, join, timesince_filter
from django.templatetags.static import static as django_static
from django.urls import get_script_prefix, reverse
from django.utils import formats, translation
from django.utils.html import conditional_escape
from jinja2 import BaseLoader, Environment
from markupsafe import Markup

from tracking.site.lookup import clock

# Which engine renders the public pages: "jinja2"; "django" renders the Django templates these
# replaced (tracking/templates/tracking/), kept while the two are compared.
ENGINE = "jinja2"


# markupsafe (Jinja2's autoescape) writes a quote and an apostrophe as &#34; and &#39;, where
# Django writes &quot; and &#x27;: the same characters. A page is written out in Django's
# spelling, so that the Jinja2 pages are byte for byte the Django templates' pages.
_DJANGO_SPELLING = (("&#34;", "&quot;"), ("&#39;", "&#x27;"))


def _django_spelling(page: str) -> str:
    for markupsafe, django in _DJANGO_SPELLING:
        page = page.replace(markupsafe, django)
    return page


class Catalog:
    """One language's translations for the public templates, each looked up once per process."""

    def __init__(self, language: str):
        self.language = language
        self._done: dict = {}

    def _once(self, key, make):
        try:
            return self._done[key]
        except KeyError:
            with translation.override(self.language):
                value = self._done[key] = make()
            return value

    def __call__(self, message: str) -> Markup:
        """``{% translate "message" %}``: the translation (of a literal, so not escaped, as in Django)."""
        return self._once(message, lambda: Markup(translation.gettext(message)))  # noqa: S704 (our catalog)

    def context(self, context: str, message: str) -> str:
        """``{% translate message context context %}``, unescaped (used as a date format)."""
        return self._once((context, message), lambda: translation.pgettext(context, message))

    def block(self, message: str, **values) -> Markup:
        """``{% blocktranslate with name=value %}``: the text as translated, the values escaped."""
        text = self._once(("block", message), lambda: translation.gettext(message))
        escaped = {name: conditional_escape(value) for name, value in values.items()}
        return Markup(text % escaped)  # noqa: S704 (our catalog, the values escaped)

    def count(self, singular: str, plural: str, counter: int, **values) -> Markup:
        """``{% blocktranslate count counter=n %}``: as ``block``, in the plural form of ``counter``."""
        text = self._once((singular, plural, counter), lambda: translation.ngettext(singular, plural, counter))
        escaped = {name: conditional_escape(value) for name, value in values.items()}
        return Markup(text % {"counter": formats.localize(counter), **escaped})  # noqa: S704 (as block)


_catalogs: dict[str, Catalog] = {}
_languages: dict[str, list[dict]] = {}
_urls: dict[tuple, str] = {}
_statics: dict[str, str] = {}
_environments: dict[tuple, Environment] = {}


@receiver(setting_changed)
def _forget(**kwargs) -> None:
    """Settings changed (tests): URLs, static paths and translations are made again."""
    for memo in (_catalogs, _languages, _urls, _statics, _by_day, _environments):
        memo.clear()


def catalog(language: str) -> Catalog:
    try:
        return _catalogs[language]
    except KeyError:
        return _catalogs.setdefault(language, Catalog(language))


def languages(current: str) -> list[dict]:
    """The language switch's buttons (``{% get_language_info_list %}``), once per language."""
    try:
        return _languages[current]
    except KeyError:
        buttons = []
        for code, _name in settings.LANGUAGES:
            info = translation.get_language_info(code)
            local = info["name_local"]
            buttons.append({"code": code, "name": local[:1].upper() + local[1:], "pressed": code == current})
        return _languages.setdefault(current, buttons)


def url(name: str) -> str:
    """``{% url name %}`` for a URL without arguments, reversed once per script prefix."""
    key = (name, get_script_prefix())
    try:
        return _urls[key]
    except KeyError:
        return _urls.setdefault(key, reverse(name))


_NUMBER = "QP000000000000"  # a placeholder in the reversed pattern; numbers are [A-Z0-9]


def _with_number(name: str, number: str) -> str:
    key = (name, get_script_prefix())
    try:
        pattern = _urls[key]
    except KeyError:
        pattern = _urls.setdefault(key, reverse(name, args=[_NUMBER]))
    if number.isalnum() and number.isascii():
        return pattern.replace(_NUMBER, number)
    return reverse(name, args=[number])


def detail_url(number: str) -> str:
    return _with_number("tracking:detail", number)


def subscribe_url(number: str) -> str:
    return _with_number("notify:subscribe", number)


def static(path: str) -> str:
    try:
        return _statics[path]
    except KeyError:
        return _statics.setdefault(path, django_static(path))


def local(moment: datetime, zone: str) -> datetime:
    """``moment`` in ``zone`` (what {% timezone zone %} does to a date filter's value)."""
    return moment.astimezone(ZoneInfo(zone))


# Format characters of Django's ``date`` filter that read only the calendar day.
_DAY_ONLY = frozenset("dDjlNwzFmMnyYbESLtW")
_by_day: dict[tuple, str] = {}


def _day_only(format_string: str) -> bool:
    escaped = False
    for char in format_string:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char.isalpha() and char not in _DAY_ONLY:
            return False
    return True


def date(moment: datetime | None, format_string: str) -> str:
    """Django's ``date`` filter on a value already in its local zone.

    A format of the day alone ("l, F j", "j M") is written once per language and day: a
    25-number lookup writes a hundred dates, each some 20 k instructions through dateformat.
    """
    if moment is None:
        return ""
    if format_string == "c":
        return moment.isoformat()  # what dateformat writes for "c"
    key = (translation.get_language(), format_string, moment.date())
    try:
        return _by_day[key]
    except KeyError:
        text = formats.date_format(moment, format_string)
        if _day_only(format_string) and len(_by_day) < 10_000:
            _by_day[key] = text
        return text


def time(moment: datetime | None) -> str:
    """Django's ``time`` filter (TIME_FORMAT) on a value already in its local zone."""
    if moment is None:
        return ""
    return clock(moment, formats.get_format("TIME_FORMAT"))


def page_context(request: HttpRequest) -> dict:
    """What every public page's template gets besides its own context (a context processor)."""
    language = translation.get_language() or settings.LANGUAGE_CODE
    return {"_": catalog(language), "LANGUAGE_CODE": language, "languages": languages(language)}


def environment(**options) -> Environment:
    """The Jinja2 environment of the public pages (TEMPLATES, ``jinja2`` entry)."""
    options.setdefault("keep_trailing_newline", True)  # as Django includes a file's last newline
    options.pop("autoescape", None)  # always on
    env = Environment(autoescape=True, **options)
    env.globals.update(url=url, detail_url=detail_url, subscribe_url=subscribe_url, static=static)
    env.filters.update(
        join=lambda value, glue: join(value, glue, autoescape=True),
        floatformat=floatformat,
        timesince=timesince_filter,
        local=local,
        date=date,
        time=time,
    )
    return env


# What is the same on every page of a language, in the templates' own spelling.
_TRANSLATE = re.compile(r'\{\{ _\("([^"\\]*)"\) \}\}')
_URL = re.compile(r'\{\{ url\("([^"\\]*)"\) \}\}')
_STATIC = re.compile(r'\{\{ static\("([^"\\]*)"\) \}\}')


def _text(value: str) -> str:
    """``value`` as literal template text (inside {% raw %} if it holds template syntax)."""
    return "{% raw %}" + value + "{% endraw %}" if "{" in value else value


class _WrittenIn(BaseLoader):
    """The base loader's templates with ``{{ _("literal") }}``, ``{{ url("name") }}`` and
    ``{{ static("path") }}`` written in as text, for one language and script prefix: each is
    then computed once per process instead of once per page (a call in a template is some
    10 k instructions)."""

    def __init__(self, loader: BaseLoader, language: str):
        self.loader = loader
        self.language = language

    def get_source(self, environment, template):
        source, filename, uptodate = self.loader.get_source(environment, template)
        with translation.override(self.language):
            source = _TRANSLATE.sub(lambda m: _text(translation.gettext(m.group(1))), source)
            source = _URL.sub(lambda m: _text(conditional_escape(url(m.group(1)))), source)
            source = _STATIC.sub(lambda m: _text(conditional_escape(static(m.group(1)))), source)
        return source, filename, uptodate


def _environment(language: str) -> Environment:
    backend = engines["jinja2"]
    key = (language, get_script_prefix(), id(backend.env))
    try:
        return _environments[key]
    except KeyError:
        env = backend.env.overlay(loader=_WrittenIn(backend.env.loader, language))
        return _environments.setdefault(key, env)


def render(request: HttpRequest, name: str, context: dict, status: int = 200) -> HttpResponse:
    """Render the public page ``name`` (e.g. "tracking/detail.html") as django.shortcuts.render does."""
    if ENGINE != "jinja2":
        return HttpResponse(engines[ENGINE].get_template(name).render(context, request), status=status)
    language = translation.get_language() or settings.LANGUAGE_CODE
    template = Jinja2Template(_environment(language).get_template(name), engines["jinja2"])
    return HttpResponse(_django_spelling(template.render(context, request)), status=status)
