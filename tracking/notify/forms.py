from django import forms
from django.utils.translation import gettext_lazy as _

from tracking import phones
from tracking.models import Milestone, PhoneChannel
from tracking.notify import subscriptions

TOPIC_CHOICES = [
    (milestone, label)
    for milestone, label in Milestone.choices
    if milestone in subscriptions.TOPICS and milestone != Milestone.LABEL_CREATED
] + [(subscriptions.EXCEPTION, _("Any exception (delay, failed attempt, customs)"))]


class SubscribeForm(forms.Form):
    email = forms.EmailField(
        label=_("E-mail address"),
        max_length=254,
        error_messages={"invalid": _("Enter a valid e-mail address, such as name@example.com.")},
    )
    topics = forms.MultipleChoiceField(
        label=_("Tell me when"),
        choices=TOPIC_CHOICES,
        initial=list(subscriptions.DEFAULT_TOPICS),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Choose at least one of the updates offered.")},
    )


# --- WhatsApp and SMS (tracking/notify/phone_subscriptions.py) ---------------------------------

PHONE_TOPIC_CHOICES = [
    (Milestone.PICKED_UP, _("Picked up")),
    (Milestone.OUT_FOR_DELIVERY, _("Out for delivery")),
    (Milestone.AVAILABLE_FOR_PICKUP, _("Ready for pickup")),
    (Milestone.DELIVERED, _("Delivered")),
    (subscriptions.EXCEPTION, _("Any exception (delay, failed attempt, customs)")),
]
PHONE_ERRORS = {
    "empty": _("Enter a mobile phone number."),
    "unreadable": _("This is not a phone number."),
    "invalid": _("This phone number is not valid; check the digits and the country code."),
    "country": _("Only numbers of Mexico (+52) and the United States or Canada (+1) can get updates."),
    "not_mobile": _("This is not a mobile number; updates go to phones that can receive messages."),
}


class PhoneSubscribeForm(forms.Form):
    phone = forms.CharField(
        label=_("Mobile number"),
        max_length=32,
        help_text=_("Mexico: 10 digits, or +52. United States: +1."),
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
        error_messages={"required": PHONE_ERRORS["empty"]},
    )
    channel = forms.ChoiceField(
        label=_("Send the updates by"),
        choices=[
            (PhoneChannel.WHATSAPP, _("WhatsApp (SMS if the number has no WhatsApp)")),
            (PhoneChannel.SMS, _("SMS")),
        ],
        initial=PhoneChannel.WHATSAPP,
        widget=forms.RadioSelect,
    )
    topics = forms.MultipleChoiceField(
        label=_("Tell me when"),
        choices=PHONE_TOPIC_CHOICES,
        initial=[Milestone.OUT_FOR_DELIVERY, Milestone.DELIVERED, subscriptions.EXCEPTION],
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Choose at least one of the updates offered.")},
    )

    def clean_phone(self):
        try:
            return phones.phone_normalize(self.cleaned_data["phone"])[0]
        except phones.InvalidPhone as exc:
            raise forms.ValidationError(PHONE_ERRORS[exc.reason]) from None


class PhoneCodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code"),
        max_length=12,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
        error_messages={"required": _("Enter the code we sent you.")},
    )
