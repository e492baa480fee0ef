"""The deployment rehearsed on this machine: docs/deploy.md's stacks created on a moto server.

- ``templates``: the plan (stacks, regions, parameters as the docs give them), the templates
  read with their short-form tags, conditions and ``Fn::Sub`` resolved where the inputs are known;
- ``shim``: the resources moto cannot model, replaced by stand-ins whose ids and attributes are
  faked, so that the templates themselves are never edited for moto;
- ``cloud``: moto in server mode on loopback, the stacks created with boto3, exports and imports
  checked;
- ``report``: docs/rehearsal.md.

Run it with ``make rehearse`` (``python -m deploy.rehearse``).
"""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = REPO / "deploy" / "cloudformation"
ACCOUNT = "123456789012"  # moto's default account: the ARNs the shim fakes name it too
