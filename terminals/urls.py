app_name = "terminals"
urlpatterns: list = []
