from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

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
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

# The admin speaks the reader's language too (its own pages are translated by Django).
admin.site.site_header = gettext_lazy("NW-setting terminal management")
admin.site.site_title = gettext_lazy("NW-setting terminal management")
admin.site.index_title = gettext_lazy("Administration")
