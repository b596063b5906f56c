from django.contrib.auth import views as auth_views
from django.urls import path

from core import views

urlpatterns = [
    path("login/", views.SignInView.as_view(), name="login"),
    path("login/second-factor/", views.second_factor, name="second-factor"),
    path("login/second-factor/enrol/", views.second_factor_enrol, name="second-factor-enrol"),
    path("account/tokens/", views.api_tokens, name="api-tokens"),
    path("account/tokens/<int:pk>/revoke/", views.api_token_revoke, name="api-token-revoke"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("audit/", views.audit_trail, name="audit_trail"),
]
