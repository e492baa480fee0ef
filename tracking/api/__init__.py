"""The partner API: tracking JSON, shipment creation, bulk scan events, proof-of-delivery files.

URLs (namespace ``api``, under ``/api/``): ``v1/tracking/<number>``, ``v1/tracking?numbers=``,
``v1/shipments`` (POST), ``v1/events`` (POST), ``v1/proofs/<id>``, ``v1/webhooks...`` (the
partner's own webhook endpoints, ``webhooks``), ``schema/`` and ``docs/``.
Permissions: ``Authorization: Token <key>`` (``auth``, keys in ``tokens``); reads without a token
get the public projection only; writes need a token, and a partner sees personal data and
proofs only of the shipments it owns. Throttled per token and per client address. Every error
has one JSON shape (``errors``). Docs: docs/api.md.
"""
