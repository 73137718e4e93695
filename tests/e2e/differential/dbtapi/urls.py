"""The URL shapes of the dbt API: DefaultRouters (lenient lookups, format suffixes), `<int:…>`
converters and `\\d+` regexes, every one also reachable with a format suffix as DRF offers it."""

from django.urls import include, path, re_path
from rest_framework.routers import DefaultRouter
from rest_framework.urlpatterns import format_suffix_patterns

from . import views

v2 = DefaultRouter()
v2.register(r"accounts", views.AccountViewSet, basename="v2-account")
v2.register(r"accounts/(?P<account_id>[^/.]+)/jobs", views.JobViewSet, basename="job")

v3 = DefaultRouter()
v3.register(r"accounts", views.V3AccountViewSet, basename="v3-account")
v3.register(r"accounts/(?P<account_id>[^/.]+)/projects", views.ProjectViewSet, basename="project")

plain = format_suffix_patterns([
    path("api/v2/accounts/<int:account_id>/users/", views.UserList.as_view(), name="user-list"),
    re_path(r"^api/v2/accounts/(?P<account_id>\d+)/runs/$", views.RunList.as_view(), name="run-list"),
    re_path(r"^api/v2/accounts/(?P<account_id>\d+)/runs/(?P<run_id>\d+)/$", views.RunDetail.as_view(), name="run-detail"),
    re_path(r"^api/v2/accounts/(?P<account_id>\d+)/runs/(?P<run_id>\d+)/artifacts/manifest$",
            views.RunArtifact.as_view(), name="run-artifact"),
    path("api/graphql", views.Graphql.as_view(), name="graphql"),
    path("health", views.health, name="health"),
])

urlpatterns = plain + [
    path("api/v2/", include(v2.urls)),
    path("api/v3/", include(v3.urls)),
]
