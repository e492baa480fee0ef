"""The database cutover: a short write freeze and the proof that a copied database is whole.

``maintenance``: the switch (``manage.py maintenance on|off|status``) and the middleware that
answers writes with 503 while it is on; reads keep working. ``verify``: the table-by-table
comparator behind ``manage.py verify_migration``. No URLs of its own. Permissions: the commands
are for operators on an instance; staff may log in but not write during a freeze.
Docs: docs/cutover.md.
"""
