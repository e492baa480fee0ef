from django.urls import path

from tracking import views_notify

app_name = "notify"

urlpatterns = [
    path("track/<str:number>/notify/", views_notify.subscribe, name="subscribe"),
    path("track/<str:number>/notify/sent/", views_notify.requested, name="requested"),
    path("notify/confirm/<str:token>/", views_notify.confirm, name="confirm"),
    path("notify/unsubscribe/<str:token>/", views_notify.unsubscribe, name="unsubscribe"),
]
