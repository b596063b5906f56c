from django.urls import path

from terminals import stocktake_views, views

app_name = "terminals"

# Fixed paths come before "<asset_tag>/" so that they are never read as a tag.
urlpatterns = [
    path("", views.terminal_list, name="list"),
    path("export/", views.terminal_export, name="export"),
    path("new/", views.terminal_create, name="create"),
    path("labels/", views.terminal_labels, name="labels"),
    path("locations/", views.location_tree, name="locations"),
    path("cards/", views.card_list, name="cards"),
    path("cards/<str:card_number>/", views.card_detail, name="card_detail"),
    path("import/", views.csv_import, name="import"),
    path("stocktakes/", stocktake_views.stocktake_list, name="stocktake_list"),
    path("stocktakes/new/", stocktake_views.stocktake_open, name="stocktake_open"),
    path("stocktakes/<int:pk>/", stocktake_views.stocktake_detail, name="stocktake_detail"),
    path("stocktakes/<int:pk>/scan/", stocktake_views.stocktake_scan, name="stocktake_scan"),
    path("stocktakes/<int:pk>/undo/", stocktake_views.stocktake_undo, name="stocktake_undo"),
    path("stocktakes/<int:pk>/close/", stocktake_views.stocktake_close, name="stocktake_close"),
    path("stocktakes/<int:pk>/report/", stocktake_views.stocktake_report, name="stocktake_report"),
    path(
        "stocktakes/<int:pk>/report.csv",
        stocktake_views.stocktake_report_csv,
        name="stocktake_report_csv",
    ),
    path("discrepancies/", stocktake_views.discrepancy_list, name="discrepancy_list"),
    path("discrepancies/checks/", stocktake_views.policy_checks_run, name="policy_checks_run"),
    path(
        "discrepancies/<int:pk>/",
        stocktake_views.discrepancy_detail,
        name="discrepancy_detail",
    ),
    path(
        "discrepancies/<int:pk>/assign/",
        stocktake_views.discrepancy_assign,
        name="discrepancy_assign",
    ),
    path(
        "discrepancies/<int:pk>/resolve/",
        stocktake_views.discrepancy_resolve,
        name="discrepancy_resolve",
    ),
    path(
        "discrepancies/<int:pk>/evidence/",
        stocktake_views.evidence_upload,
        name="evidence_upload",
    ),
    path("evidence/<int:pk>/", stocktake_views.evidence_download, name="evidence_download"),
    path("<str:asset_tag>/", views.terminal_detail, name="detail"),
    path("<str:asset_tag>/edit/", views.terminal_edit, name="edit"),
    path("<str:asset_tag>/move/", views.terminal_move, name="move"),
    path("<str:asset_tag>/status/", views.terminal_status, name="status"),
]
