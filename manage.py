#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "phoenix.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.db.utils import OperationalError

    try:
        from django.core.management import execute_from_command_line
    except ImportError as exc:
        raise ImportError("Django is not installed: run `make run` or `pip install -r requirements.txt`.") from exc
    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        # Configuration mistakes get one clear line, not a traceback.
        sys.stderr.write(f"Configuration error: {exc}\n")
        sys.exit(2)
    except OperationalError as exc:
        if exc.args and exc.args[0] in (2002, 2003, 2005, 2006, 2013, 1045, 1049):
            # Unreachable or refusing database: say which setting to check, not a traceback.
            sys.stderr.write(f"Database error: {exc.args[-1]}. Check DATABASE_URL / DATABASE_READER_URL.\n")
            sys.exit(2)
        raise


if __name__ == "__main__":
    main()
