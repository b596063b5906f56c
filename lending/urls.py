from django.urls import path

from lending import views

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
]
