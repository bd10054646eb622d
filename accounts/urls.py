from django.urls import path

from accounts.views import UserMeView

urlpatterns = [
    path("users/me", UserMeView.as_view(), name="users-me"),
]
