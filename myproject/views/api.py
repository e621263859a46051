"""The JSON sync API."""
from pyramid.view import view_config

from ..resources import Site


@view_config(context=Site, request_method="GET", renderer="json")
def service_description(context, request):
    """Describe the service and where its parts are."""
    return {
        "service": "myproject",
        "description": "Generational-set data sync server",
        "users": request.resource_url(context, "users"),
    }
