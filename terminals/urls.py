from django.urls import path, register_converter

from core.identifiers import IdentifierConverter
from terminals import views

app_name = "terminals"

# Asset tags and card numbers: any text but a slash, and one stored with a slash still reverses.
register_converter(IdentifierConverter, "identifier")

# Fixed paths come before "<asset_tag>/" so that they are never read as a tag.
urlpatterns = [
    path("", views.terminal_list, name="list"),
    path("export/", views.terminal_export, name="export"),
    path("new/", views.terminal_create, name="create"),
    path("labels/", views.terminal_labels, name="labels"),
    path("locations/", views.location_tree, name="locations"),
    path("locations/new/", views.location_create, name="location_create"),
    path("locations/<slug:code>/edit/", views.location_edit, name="location_edit"),
    path("cards/", views.card_list, name="cards"),
    path("cards/new/", views.card_create, name="card_create"),
    path("cards/<identifier:card_number>/", views.card_detail, name="card_detail"),
    path("cards/<identifier:card_number>/edit/", views.card_edit, name="card_edit"),
    path("cards/<identifier:card_number>/status/", views.card_status, name="card_status"),
    path("import/", views.csv_import, name="import"),
    path("<identifier:asset_tag>/", views.terminal_detail, name="detail"),
    path("<identifier:asset_tag>/edit/", views.terminal_edit, name="edit"),
    path("<identifier:asset_tag>/move/", views.terminal_move, name="move"),
    path("<identifier:asset_tag>/status/", views.terminal_status, name="status"),
]
