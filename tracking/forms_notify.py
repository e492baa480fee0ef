from django import forms
from django.utils.translation import gettext_lazy as _

from tracking import notifications
from tracking.models import Milestone

TOPIC_CHOICES = [
    (milestone, label)
    for milestone, label in Milestone.choices
    if milestone in notifications.TOPICS and milestone != Milestone.LABEL_CREATED
] + [(notifications.EXCEPTION, _("Any exception (delay, failed attempt, customs)"))]


class SubscribeForm(forms.Form):
    email = forms.EmailField(
        label=_("E-mail address"),
        max_length=254,
        error_messages={"invalid": _("Enter a valid e-mail address, such as name@example.com.")},
    )
    topics = forms.MultipleChoiceField(
        label=_("Tell me when"),
        choices=TOPIC_CHOICES,
        initial=list(notifications.DEFAULT_TOPICS),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Choose at least one of the updates offered.")},
    )
