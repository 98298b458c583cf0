"""Building each agency's adapter from the configuration, and the ticket it is handed."""

from __future__ import annotations

from adapters.base import Adapter, Contact, Ticket
from adapters.registry import create_adapter

from .catalog import Catalog, ConfigError
from .models import Delivery, ServiceRequest


def build_adapters(catalog: Catalog) -> dict[str, Adapter]:
    """One adapter per agency; a bad adapter name or setting stops the gateway at start-up."""
    built: dict[str, Adapter] = {}
    for index, agency in enumerate(catalog.agencies.values()):
        try:
            built[agency.id] = create_adapter(agency.adapter, agency.settings)
        except (ImportError, LookupError, ValueError, TypeError) as exc:
            for adapter in built.values():
                adapter.close()
            raise ConfigError(
                f"{catalog.source}: agencies[{index}] ({agency.id}): "
                f"adapter {agency.adapter!r}: {exc}"
            ) from exc
    return built


def ticket_for(request: ServiceRequest, delivery: Delivery) -> Ticket:
    contact = request.contact
    return Ticket(
        request_id=request.public_id or str(request.id),
        idempotency_key=delivery.idempotency_key,
        destination=delivery.destination,
        jurisdiction_id=request.jurisdiction_id,
        service_code=request.service_code,
        service_name=request.service_name,
        requested_datetime=request.requested_datetime,
        description=request.description,
        lat=request.lat,
        long=request.long,
        address_string=request.address,
        address_id=request.address_id,
        zipcode=request.zipcode,
        attributes=dict(request.attributes or {}),
        media_urls=tuple(request.media_urls or ()),
        contact=contact.as_contact() if contact is not None else Contact(),
        primary=delivery.primary,
    )
