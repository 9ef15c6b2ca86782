"""Dependency aliases shared by the routers."""

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader

from churnops.serving.service import Service

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="The admin key (CHURNOPS_API_KEY).")


async def get_service(request: Request) -> Service:
    """Async, so FastAPI calls it on the loop: a plain function would cost every request a trip to the thread pool."""
    service: Service = request.app.state.service
    return service


ServiceDep = Annotated[Service, Depends(get_service)]


def require_admin(service: ServiceDep, api_key: Annotated[str | None, Security(api_key_header)]) -> None:
    """Constant-time key check; admin is off entirely when no key is configured."""
    configured = service.settings.api.key
    if configured is None:
        raise HTTPException(403, "Admin endpoints are disabled: set CHURNOPS_API_KEY on the service to enable them.")
    if api_key is None or not hmac.compare_digest(api_key.encode(), configured.get_secret_value().encode()):
        raise HTTPException(401, "Missing or wrong API key: send the admin key in the X-API-Key header.", headers={"WWW-Authenticate": "APIKey"})


AdminDep = Depends(require_admin)
