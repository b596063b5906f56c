from django.urls import path

from compliance import access_log_views, audit_report_views, views

app_name = "compliance"

# Mounted under /terminals/ ahead of the inventory's own URLs, where these pages have always
# been: people's bookmarks and printed QR codes keep working.
urlpatterns = [
    path("stocktakes/", views.stocktake_list, name="stocktake_list"),
    path("stocktakes/new/", views.stocktake_open, name="stocktake_open"),
    path("stocktakes/<int:pk>/", views.stocktake_detail, name="stocktake_detail"),
    path("stocktakes/<int:pk>/scan/", views.stocktake_scan, name="stocktake_scan"),
    path("stocktakes/<int:pk>/undo/", views.stocktake_undo, name="stocktake_undo"),
    path("stocktakes/<int:pk>/close/", views.stocktake_close, name="stocktake_close"),
    path("stocktakes/<int:pk>/report/", views.stocktake_report, name="stocktake_report"),
    path("stocktakes/<int:pk>/report.csv", views.stocktake_report_csv, name="stocktake_report_csv"),
    path("discrepancies/", views.discrepancy_list, name="discrepancy_list"),
    path("discrepancies/checks/", views.policy_checks_run, name="policy_checks_run"),
    path("discrepancies/<int:pk>/", views.discrepancy_detail, name="discrepancy_detail"),
    path("discrepancies/<int:pk>/assign/", views.discrepancy_assign, name="discrepancy_assign"),
    path("discrepancies/<int:pk>/resolve/", views.discrepancy_resolve, name="discrepancy_resolve"),
    path("discrepancies/<int:pk>/evidence/", views.evidence_upload, name="evidence_upload"),
    path("evidence/<int:pk>/", views.evidence_download, name="evidence_download"),
    path("access-logs/", access_log_views.access_log_list, name="access_log_list"),
    path("access-logs/<int:pk>/", access_log_views.access_log_detail, name="access_log_detail"),
    path(
        "access-logs/mappings/<slug:code>/",
        access_log_views.access_log_mapping,
        name="access_log_mapping",
    ),
    path("sign-ins/", access_log_views.sign_in_list_page, name="sign_in_list"),
    path("audit-reports/", audit_report_views.audit_report_list, name="audit_report_list"),
    path(
        "audit-reports/<int:pk>/",
        audit_report_views.audit_report_detail,
        name="audit_report_detail",
    ),
    path(
        "audit-reports/<int:pk>/print/",
        audit_report_views.audit_report_print,
        name="audit_report_print",
    ),
    path(
        "audit-reports/<int:pk>/csv/<slug:section>/",
        audit_report_views.audit_report_csv,
        name="audit_report_csv",
    ),
]
