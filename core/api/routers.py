"""The API's router: DRF's default one, with `.csv` as the only format suffix.

A suffix passes `format` to the view's method; the reports take it (`report.csv`), but the
other actions do not, so `/terminals.json` answered 500. Every other suffix now finds no route
(404), and a `.csv` on a view without a CSV renderer is refused by content negotiation (404)."""

from rest_framework.routers import DefaultRouter
from rest_framework.urlpatterns import format_suffix_patterns


class ApiRouter(DefaultRouter):
    include_format_suffixes = False

    def get_urls(self):
        return format_suffix_patterns(super().get_urls(), allowed=["csv"])
