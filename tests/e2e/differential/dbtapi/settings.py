"""Settings for the stand-in: no database, no sessions, nothing but routing and the echo.

Where Django offers a choice, the more lenient one is taken, so that the stand-in reads a request at
least as loosely as the real API might: the edge has to hold against the loosest reading."""

SECRET_KEY = "differential-suite-not-a-secret"
DEBUG = False
# Any Host: the account a host names is checked by the edge, and the view reports what it saw.
ALLOWED_HOSTS = ["*"]
# A server behind a proxy commonly trusts X-Forwarded-Host; the edge must make that safe.
USE_X_FORWARDED_HOST = True
ROOT_URLCONF = "dbtapi.urls"
# staticfiles and the template engine: the browsable API (`.api`) renders an HTML page.
INSTALLED_APPS = ["django.contrib.staticfiles", "rest_framework"]
STATIC_URL = "/static/"
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]
# No CommonMiddleware: APPEND_SLASH would answer with redirects instead of running views.
MIDDLEWARE = ["dbtapi.views.SeenMiddleware"]
DATABASES = {}
USE_TZ = True
REST_FRAMEWORK = {
    # The browsable API is what makes DRF serve `.api` suffixes, as well as `.json`.
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    # The edge authenticates; the stand-in trusts the identity headers it is handed.
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
}
LOGGING = {"version": 1, "disable_existing_loggers": True}
