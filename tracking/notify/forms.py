from django import forms
from django.utils.translation import gettext_lazy as _

from tracking.models import Milestone
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
