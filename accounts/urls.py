from django.urls import path

from accounts.views import UserExportView, UserMeView

urlpatterns = [
    path("users/me", UserMeView.as_view(), name="users-me"),
    path("users/me/export", UserExportView.as_view(), name="users-me-export"),
]
