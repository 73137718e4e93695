"""Views that say what they saw, and a middleware that says it for every response.

Each view reads its ids the way a Django/DRF view does — `int()` on the captured string — so the
account it reports is the account the real API would act on. The echo goes in the `X-Django-Seen`
response header (JSON, ASCII), on every response the application writes, views or not: a 404 or a
405 still shows which identity headers reached the application."""

from __future__ import annotations

import json

from django.http import JsonResponse
from django.urls import reverse
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

# The policy's host prefixes (examples/policy.json): how the API reads an account from its host.
HOST_PREFIXES = {"ab123": 70471823510118, "gn456": 9007199254740993}
# The identity headers the edge sets, and the forwarded-host headers it must not let through, by
# their WSGI environ keys. Every key that starts with one of these is reported.
ENVIRON_PREFIXES = ("HTTP_X_DBT_", "HTTP_X_TOKENGATE_", "HTTP_X_FORWARDED_HOST", "HTTP_FORWARDED")


def _host(request) -> tuple[str | None, int | None]:
    """The host as Django reads it (X-Forwarded-Host first: settings say so), and the account a
    lenient server reads from it: its first non-empty label."""
    try:
        host = request.get_host()
    except Exception as e:  # DisallowedHost and kin: Django answers 400 itself
        return f"!{type(e).__name__}", None
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host
    label = next((l for l in name.split(".") if l), "").lower()
    return host, HOST_PREFIXES.get(label)


def seen(request) -> dict:
    host, host_account = _host(request)
    match = getattr(request, "resolver_match", None)
    return {
        "method": request.method,
        "host": host,
        "host_account": host_account,
        "environ": {k: v for k, v in request.META.items() if k.startswith(ENVIRON_PREFIXES)},
        "resolved": match.view_name if match else None,
    }


class SeenMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        doc = seen(request)
        doc["ran"] = getattr(request, "_echo", None)
        doc["status"] = response.status_code
        response["X-Upstream"] = "django"
        response["X-Django-Seen"] = json.dumps(doc, ensure_ascii=True)
        return response


def _ran(request, view: str, kwargs: dict, canonical_kwargs: dict) -> dict:
    """Marks `view` as run and says what it acted on; `canonical_kwargs` are the ids as numbers."""
    request = getattr(request, "_request", request)  # DRF wraps the Django request
    request._echo = {
        "view": view,
        "kwargs": kwargs,
        "account": canonical_kwargs.get("account_id", canonical_kwargs.get("pk") if view.endswith("account-detail") else None),
        # The same view at its plain address: no suffix, ids as the numbers the view read.
        "canonical": reverse(view, kwargs={k: str(v) for k, v in canonical_kwargs.items()}),
    }
    return request._echo


def _ids(kwargs: dict, *names: str) -> dict:
    """`int()` over the named kwargs, as a view reads them; ValueError propagates (a 404 here)."""
    out = dict(kwargs)
    out.pop("format", None)
    for n in names:
        if n in out:
            out[n] = int(out[n])
    return out


class Echo:
    """A DRF view or viewset mixin: answers with what `_ran` says, or 404 when an id is no int."""

    def echo(self, name: str, *ids: str):
        raw = {k: v for k, v in self.kwargs.items() if k != "format"}
        try:
            numbers = _ids(self.kwargs, *ids)
        except ValueError:
            return Response({"detail": "not found"}, status=404)
        return Response(_ran(self.request, name, raw, numbers))


# --- the DefaultRouter views (lookups are DRF's lenient `[^/.]+`) ---------------------------------


class AccountViewSet(Echo, viewsets.ViewSet):
    """`/api/v<N>/accounts/`: the retired cross-account list, and one account."""

    version = "v2"

    def list(self, request, **kw):
        return self.echo(f"{self.version}-account-list", "pk")

    def retrieve(self, request, **kw):
        return self.echo(f"{self.version}-account-detail", "pk")


class V3AccountViewSet(AccountViewSet):
    version = "v3"


class JobViewSet(Echo, viewsets.ViewSet):
    """`/api/v2/accounts/<id>/jobs/`, one job, and its `run` action (POST only)."""

    def list(self, request, **kw):
        return self.echo("job-list", "account_id")

    def create(self, request, **kw):
        return self.echo("job-list", "account_id")

    def retrieve(self, request, **kw):
        return self.echo("job-detail", "account_id", "pk")

    @action(detail=True, methods=["post"])
    def run(self, request, **kw):
        return self.echo("job-run", "account_id", "pk")


class ProjectViewSet(Echo, viewsets.ViewSet):
    """`/api/v3/accounts/<id>/projects/` with every method a project takes."""

    def list(self, request, **kw):
        return self.echo("project-list", "account_id")

    def create(self, request, **kw):
        return self.echo("project-list", "account_id")

    def retrieve(self, request, **kw):
        return self.echo("project-detail", "account_id", "pk")

    def partial_update(self, request, **kw):
        return self.echo("project-detail", "account_id", "pk")

    def destroy(self, request, **kw):
        return self.echo("project-detail", "account_id", "pk")


# --- plain DRF views behind `<int:…>` converters and `\d+` regexes --------------------------------


class UserList(Echo, APIView):
    """`<int:account_id>`: ASCII digits only, Django's own converter."""

    def get(self, request, **kw):
        return self.echo("user-list", "account_id")


class RunList(Echo, APIView):
    """`(?P<account_id>\\d+)`: Python's `\\d` is every Unicode decimal digit."""

    def get(self, request, **kw):
        return self.echo("run-list", "account_id")


class RunDetail(Echo, APIView):
    def get(self, request, **kw):
        return self.echo("run-detail", "account_id", "run_id")


class RunArtifact(Echo, APIView):
    def get(self, request, **kw):
        return self.echo("run-artifact", "account_id", "run_id")


class Graphql(Echo, APIView):
    """The metadata API: no account in the path, the host names it."""

    def get(self, request, **kw):
        return self.echo("graphql")

    def post(self, request, **kw):
        return self.echo("graphql")


def health(request, **kw):
    """The public route (`auth: none`): plain Django."""
    kw.pop("format", None)
    return JsonResponse(_ran(request, "health", kw, {}))
