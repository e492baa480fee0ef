"""The Django secret key's rotation (application.yaml's SecretKeyRotationFunction) on moto's Secrets Manager.

The rotation function's own code, read from the template, runs its four steps the way Secrets
Manager calls them, against moto's server on loopback; deploy/phoenix_env.py then writes the
environment an instance gets, and the settings read it: what was signed or sealed under an
earlier key still opens.
"""

import json
import subprocess
import sys
import uuid

from django.core import signing
from django.test import override_settings

from tests.deploy.cfn import load
from tests.deploy.conftest import REPO
from tests.deploy.test_phoenix_env import _run, _source_env, phoenix_env
from tracking import sealing


def _rotation_handler():
    code = load("application")["Resources"]["SecretKeyRotationFunction"]["Properties"]["Code"]["ZipFile"]
    namespace: dict = {}
    exec(compile(code, "application.yaml:SecretKeyRotationFunction", "exec"), namespace)  # noqa: S102 - our template
    return namespace["handler"]


def _create_like_the_template(secrets) -> str:
    """AppSecret: GenerateSecretString with DJANGO_SECRET_KEY in the template's JSON."""
    spec = load("application")["Resources"]["AppSecret"]["Properties"]["GenerateSecretString"]
    value = json.loads(spec["SecretStringTemplate"])
    value[spec["GenerateStringKey"]] = secrets.get_random_password(
        PasswordLength=spec["PasswordLength"], ExcludePunctuation=spec["ExcludePunctuation"]
    )["RandomPassword"]
    return secrets.create_secret(Name="phoenix/prod/app", SecretString=json.dumps(value))["ARN"]


def _rotate(handler, secrets, arn: str) -> None:
    token = str(uuid.uuid4())
    for step in ("createSecret", "setSecret", "testSecret", "finishSecret"):
        handler({"SecretId": arn, "ClientRequestToken": token, "Step": step}, None, client=secrets)


def _current(secrets, arn: str) -> dict:
    return json.loads(secrets.get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")["SecretString"])


def test_rotation_keeps_every_earlier_key_as_a_fallback(aws, moto_endpoint, subprocess_env, tmp_path):
    secrets = aws.client("secretsmanager")
    arn = _create_like_the_template(secrets)
    handler = _rotation_handler()
    first = _current(secrets, arn)["DJANGO_SECRET_KEY"]
    with override_settings(SECRET_KEY=first, SECRET_KEY_FALLBACKS=[]):
        signed = signing.dumps({"session": "customer"})
        sealed = sealing.seal("subscriber@example.com")

    _rotate(handler, secrets, arn)
    _rotate(handler, secrets, arn)

    value = _current(secrets, arn)
    second, earliest = value["DJANGO_SECRET_KEY_FALLBACKS"].split(",")
    assert earliest == first and len({value["DJANGO_SECRET_KEY"], second, first}) == 3
    assert len(value["DJANGO_SECRET_KEY"]) == 64

    # What an instance writes on its next refresh, and what the settings make of it.
    aws.client("ssm").put_parameter(Name="/phoenix/prod/DJANGO_ALLOWED_HOSTS", Value="x.example", Type="String")
    database = secrets.create_secret(Name="db", SecretString=json.dumps({"username": "u", "password": "p"}))
    env = {**_source_env(moto_endpoint, subprocess_env, database["ARN"]), "PHOENIX_APP_SECRET_ID": arn}
    assert _run(env, tmp_path / "env").returncode == 0
    written = phoenix_env.read_env_file(tmp_path / "env")
    settings_env = {**subprocess_env, **{k: written[k] for k in ("DJANGO_SECRET_KEY", "DJANGO_SECRET_KEY_FALLBACKS")}}
    script = "from django.conf import settings; import json; print(json.dumps([settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS]))"
    seen = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); " + script],
        env={**settings_env, "DJANGO_SETTINGS_MODULE": "phoenix.settings"},
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    key, fallbacks = json.loads(seen)
    assert key == value["DJANGO_SECRET_KEY"] and fallbacks == [second, first]

    with override_settings(SECRET_KEY=key, SECRET_KEY_FALLBACKS=fallbacks):
        assert signing.loads(signed) == {"session": "customer"}
        assert sealing.unseal(sealed) == "subscriber@example.com"
        assert sealing.unseal(sealing.seal("new")) == "new"
    with override_settings(SECRET_KEY=key, SECRET_KEY_FALLBACKS=[second]):
        try:
            sealing.unseal(sealed)
        except ValueError:
            pass  # dropping the earliest key would lose what was sealed under it
        else:
            raise AssertionError("a value sealed under a dropped key must not open")


def test_a_repeated_step_does_not_rotate_twice(aws):
    secrets = aws.client("secretsmanager")
    arn = _create_like_the_template(secrets)
    handler = _rotation_handler()
    token = str(uuid.uuid4())
    handler({"SecretId": arn, "ClientRequestToken": token, "Step": "createSecret"}, None, client=secrets)
    pending = secrets.get_secret_value(SecretId=arn, VersionId=token, VersionStage="AWSPENDING")["SecretString"]
    handler({"SecretId": arn, "ClientRequestToken": token, "Step": "createSecret"}, None, client=secrets)
    again = secrets.get_secret_value(SecretId=arn, VersionId=token, VersionStage="AWSPENDING")["SecretString"]
    assert again == pending
    handler({"SecretId": arn, "ClientRequestToken": token, "Step": "finishSecret"}, None, client=secrets)
    handler({"SecretId": arn, "ClientRequestToken": token, "Step": "finishSecret"}, None, client=secrets)
    assert _current(secrets, arn) == json.loads(pending)
