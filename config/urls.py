from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from config import ops
from core.health import health_view
from core.metrics import metrics_view

urlpatterns = [
    path("", include("core.urls")),
    path("", include("portal.urls")),
    # Before the inventory: its "<asset_tag>/" would read "stocktakes" as a tag.
    path("terminals/", include("compliance.urls")),
    path("terminals/", include("terminals.urls")),
    path("credentials/", include("credentials.urls")),
    path("lending/", include("lending.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("config.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view loads its start-up script from a URL (no inline script under the CSP);
    # Swagger UI still writes inline styles, which this one page allows.
    path(
        "api/docs/",
        csp_update({"style-src": ["'unsafe-inline'"]})(
            SpectacularSwaggerSplitView.as_view(url_name="api-schema")
        ),
        name="api-docs",
    ),
    # For load balancers and Prometheus (no sign-in; see core.health and core.metrics).
    path("health/", health_view(ops.HEALTH_CHECKS), name="health"),
    path("metrics", metrics_view(ops.METRIC_COLLECTORS), name="metrics"),
]

# The admin speaks the reader's language too (its own pages are translated by Django).
admin.site.site_header = gettext_lazy("NW-setting terminal management")
admin.site.site_title = gettext_lazy("NW-setting terminal management")
admin.site.index_title = gettext_lazy("Administration")
