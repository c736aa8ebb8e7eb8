"""Error answers outside DRF's views (unknown URLs, crashes): JSON under /api/, the console's pages elsewhere."""

from django.http import JsonResponse
from django.views import defaults as django_defaults

_API_PREFIX = "/api/"


def _json_or_page(request, status_code: int, detail: str, template: str, exception=None):
    if request.path.startswith(_API_PREFIX):
        return JsonResponse({"detail": detail}, status=status_code)
    if status_code == 500:
        return django_defaults.server_error(request, template_name=template)
    handler = {400: django_defaults.bad_request, 403: django_defaults.permission_denied}.get(
        status_code, django_defaults.page_not_found
    )
    return handler(request, exception, template_name=template)


def bad_request(request, exception=None):
    return _json_or_page(request, 400, "Bad request.", "400.html", exception)


def permission_denied(request, exception=None):
    return _json_or_page(request, 403, "You do not have permission to perform this action.", "403.html", exception)


def page_not_found(request, exception=None):
    return _json_or_page(request, 404, "Not found.", "404.html", exception)


def server_error(request):
    return _json_or_page(
        request, 500, "Internal server error: the incident is logged with this request's id.", "500.html"
    )
