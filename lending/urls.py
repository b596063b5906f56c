from django.urls import path

from lending import arrangement_views, supervision_views, views

app_name = "lending"
urlpatterns = [
    path("declarations/", views.declaration_list, name="declarations"),
    path("declarations/new/", views.declaration_create, name="declaration-create"),
    path("declarations/<int:pk>/", views.declaration_detail, name="declaration"),
    path("declarations/<int:pk>/lift/", views.declaration_lift, name="declaration-lift"),
    path("declarations/<int:pk>/close/", views.declaration_close, name="declaration-close"),
    path("declarations/<int:pk>/report/", views.declaration_report, name="declaration-report"),
    path(
        "declarations/<int:pk>/report.csv",
        views.declaration_report_csv,
        name="declaration-report-csv",
    ),
    path("arrangements/", arrangement_views.arrangement_list, name="arrangements"),
    path("arrangements/new/", arrangement_views.arrangement_create, name="arrangement-create"),
    path("arrangements/<int:pk>/", arrangement_views.arrangement_detail, name="arrangement"),
    path(
        "arrangements/<int:pk>/approve/",
        arrangement_views.arrangement_approve,
        name="arrangement-approve",
    ),
    path(
        "arrangements/<int:pk>/reject/",
        arrangement_views.arrangement_reject,
        name="arrangement-reject",
    ),
    path(
        "arrangements/<int:pk>/extend/",
        arrangement_views.arrangement_extend,
        name="arrangement-extend",
    ),
    path(
        "arrangements/<int:pk>/extensions/<int:extension_pk>/approve/",
        arrangement_views.extension_approve,
        name="arrangement-extension-approve",
    ),
    path(
        "arrangements/<int:pk>/extensions/<int:extension_pk>/reject/",
        arrangement_views.extension_reject,
        name="arrangement-extension-reject",
    ),
    path("requests/", views.request_list, name="requests"),
    path("requests/new/", views.request_create, name="request-create"),
    path("requests/queue/", views.request_queue, name="request-queue"),
    path("requests/<int:pk>/", views.request_detail, name="request"),
    path("requests/<int:pk>/approve/", views.request_approve, name="request-approve"),
    path("requests/<int:pk>/reject/", views.request_reject, name="request-reject"),
    path("requests/<int:pk>/cancel/", views.request_cancel, name="request-cancel"),
    path("loans/", views.loan_list, name="loans"),
    path("loans/<int:pk>/", views.loan_detail, name="loan"),
    path("loans/<int:pk>/credentials/", views.loan_credentials, name="loan-credentials"),
    path("loans/<int:pk>/revoke/", views.loan_revoke, name="loan-revoke"),
    path("loans/<int:pk>/lost/", views.loan_lost, name="loan-lost"),
    path("loans/<int:pk>/approve-reveal/", views.loan_approve_reveal, name="loan-approve-reveal"),
    path("loans/<int:pk>/return/", views.loan_return, name="return"),
    path("checkout/", views.checkout, name="checkout"),
    path("returns/", views.return_scan, name="returns"),
    path("contractors/", views.contractor_list, name="contractors"),
    path("contractors/new/", views.contractor_create, name="contractor-create"),
    path(
        "contractors/<slug:code>/users/new/",
        views.contractor_user_create,
        name="contractor-user-create",
    ),
    # Contractor supervision (委託先の監督).
    path("supervision/", supervision_views.supervision_list, name="supervisions"),
    path("supervision/<slug:code>/", supervision_views.supervision_detail, name="supervision"),
    path(
        "supervision/<slug:code>/reports/new/",
        supervision_views.report_create,
        name="supervision-report-create",
    ),
    path(
        "supervision/<slug:code>/audits/new/",
        supervision_views.audit_create,
        name="supervision-audit-create",
    ),
    path(
        "supervision/<slug:code>/trainings/new/",
        supervision_views.training_create,
        name="supervision-training-create",
    ),
    path(
        "supervision/<slug:code>/exceptions/new/",
        supervision_views.exception_create,
        name="supervision-exception-create",
    ),
    path(
        "supervision/reports/<int:pk>/review/",
        supervision_views.report_review,
        name="supervision-report-review",
    ),
    path(
        "supervision/reports/<int:pk>/file/",
        supervision_views.report_file,
        name="supervision-report-file",
    ),
    path(
        "supervision/audits/<int:pk>/follow-up/",
        supervision_views.audit_follow_up,
        name="supervision-audit-follow-up",
    ),
    path(
        "supervision/trainings/<int:pk>/undertaking/",
        supervision_views.training_undertaking,
        name="supervision-training-undertaking",
    ),
]
