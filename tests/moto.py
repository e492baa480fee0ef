"""moto's AWS API server on loopback for the tests: a real HTTP endpoint, not mocked calls."""

from deploy.local.lab.servers import moto_server

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}

__all__ = ["CREDENTIALS", "moto_server"]
