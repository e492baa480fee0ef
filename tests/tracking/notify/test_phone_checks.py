"""`check --deploy` warns when WhatsApp sends but its webhook could not be verified."""

from tracking.notify.checks import whatsapp_config_check


def test_it_warns_when_whatsapp_sends_without_the_webhook_secrets(settings):
    settings.PHOENIX_WHATSAPP_TOKEN = "EAA-token"
    settings.PHOENIX_WHATSAPP_PHONE_NUMBER_ID = "1065"
    settings.PHOENIX_WHATSAPP_APP_SECRET = ""
    settings.PHOENIX_WHATSAPP_VERIFY_TOKEN = "verify"
    [warning] = whatsapp_config_check(None)
    assert warning.id == "tracking.W002" and "PHOENIX_WHATSAPP_APP_SECRET" in warning.msg
    settings.PHOENIX_WHATSAPP_APP_SECRET = "secret"
    assert whatsapp_config_check(None) == []


def test_it_says_nothing_when_whatsapp_is_off(settings):
    settings.PHOENIX_WHATSAPP_TOKEN = ""
    settings.PHOENIX_WHATSAPP_APP_SECRET = ""
    assert whatsapp_config_check(None) == []
