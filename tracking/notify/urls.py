from django.urls import path

from tracking.notify import views

app_name = "notify"

urlpatterns = [
    path("track/<str:number>/notify/", views.subscribe, name="subscribe"),
    path("track/<str:number>/notify/sent/", views.requested, name="requested"),
    path("track/<str:number>/notify/phone/", views.phone_subscribe, name="phone-subscribe"),
    path("track/<str:number>/notify/phone/code/", views.phone_code, name="phone-code"),
    path("notify/confirm/<str:token>/", views.confirm, name="confirm"),
    path("notify/unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("notify/whatsapp/webhook/", views.whatsapp_webhook, name="whatsapp-webhook"),
    path("notify/sms/events/<str:token>/", views.sms_events, name="sms-events"),
]
