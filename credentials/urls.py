from django.urls import path

from credentials import views

app_name = "credentials"
urlpatterns = [
    path("rotations/", views.rotation_queue, name="rotations"),
    path("rotations/force/", views.rotation_force, name="force"),
    path("rotations/<int:pk>/manual/", views.manual_rotation, name="manual"),
    path("target-systems/", views.target_system_list, name="targets"),
    path("terminals/<path:asset_tag>/accounts/new/", views.account_create, name="account-create"),
]
