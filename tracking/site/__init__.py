"""The public tracking site: what customers see in a browser, in Spanish and English.

URLs (namespace ``tracking``): ``/`` the lookup form, ``/track/?numbers=`` up to 25 numbers,
``/track/<number>/`` one shipment (a POST of ``postal_code`` unlocks the recipient's details).
Permissions: none; anyone may look. What stands between a visitor and personal data is the
destination postal code, and the per-client lookup budget (``tracking.budget``) against enumeration, and the per-shipment
lockout of the unlock (``unlock``).
Pages are cached by browsers and by ``pagecache`` and carry no cookie or CSRF token.
Docs: docs/site.md.
"""
