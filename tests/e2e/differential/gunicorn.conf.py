"""gunicorn at its most permissive: the stand-in must read requests at least as loosely as any
WSGI server the real API might run behind, so every lenient switch that changes what reaches the
application is on. The edge (Envoy with tokengate) has to hold against this reading."""

workers = 2
worker_class = "sync"
# Headers with underscores reach the application as HTTP_X_DBT_ACCOUNT_ID, like their dashed
# spelling (gunicorn's default drops them; older servers and other WSGI servers do not).
header_map = "dangerous"
# Methods in any case reach Django, which upper-cases them (gunicorn refuses them by default).
permit_unconventional_http_method = True
accesslog = None
errorlog = "-"
loglevel = "warning"
timeout = 30
