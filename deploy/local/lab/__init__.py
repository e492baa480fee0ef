"""What the local lab scripts share: the throw-away servers, child processes, load and reports.

- ``servers``: the MariaDB writer + replica of deploy/local/cluster.sh and root SQL on any node;
- ``processes``: free ports, the app's environment, manage.py, gunicorn, CPU time of processes;
- ``load``: HTTP requests, a cookie client, an HTML form parser, wrk and its figures;
- ``report``: progress lines, named sections of docs markdown files, the machine description.

The scripts (deploy/local/*.py) run by path and put the repository root on sys.path first, so
that this package is ``deploy.local.lab`` in every process, the test suite's included.
"""

from pathlib import Path

LOCAL = Path(__file__).resolve().parents[1]  # deploy/local: the shell scripts
REPO = LOCAL.parents[1]
