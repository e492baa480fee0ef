from django.urls import path

from tracking.site import views

app_name = "tracking"

urlpatterns = [
    path("", views.home, name="home"),
    path("track/", views.track, name="track"),
    path("track/<str:number>/", views.detail, name="detail"),
]
