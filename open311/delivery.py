"""Building each agency's adapter from the configuration, and the ticket it is handed."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.base import Adapter, Contact, Ticket, UpdateTicket
from adapters.registry import create_adapter

from .catalog import Catalog, ConfigError
from .models import AppUpdate, Delivery, ServiceRequest


def build_adapters(catalog: Catalog) -> dict[str, Adapter]:
    """One adapter per agency; a bad adapter name or setting stops the gateway at start-up.

    load_catalog has checked every settings_schema already; what is left to fail here is
    an adapter that checks its own settings, or one whose constructor finds more."""
    built: dict[str, Adapter] = {}
    for index, agency in enumerate(catalog.agencies.values()):
        try:
            built[agency.id] = create_adapter(agency.adapter, agency.settings)
        except (ImportError, LookupError, ValueError, TypeError) as exc:
            for adapter in built.values():
                adapter.close()
            raise ConfigError(
                f"{catalog.source}: the configuration is not valid:\n"
                f"  agencies[{index}].settings: adapter {agency.adapter!r}: {exc}"
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


def update_ticket_for(session: Session, delivery: Delivery) -> UpdateTicket:
    """The app's update as the report's destination gets it, with that destination's own
    id for the report (the update is only claimed once the report was delivered there)."""
    update = session.get(AppUpdate, delivery.app_update_id)
    assert update is not None  # the outbox row is deleted with its update
    request = delivery.request
    backend_id = session.scalar(
        select(Delivery.backend_id).where(
            Delivery.request_id == request.id,
            Delivery.destination == delivery.destination,
            Delivery.app_update_id.is_(None),
        )
    )
    return UpdateTicket(
        request_id=request.public_id or str(request.id),
        backend_id=backend_id,
        update_id=update.public_id,
        idempotency_key=delivery.idempotency_key,
        destination=delivery.destination,
        jurisdiction_id=request.jurisdiction_id,
        updated_datetime=update.updated_datetime,
        status=update.status,
        detailed_status=update.detailed_status,
        description=update.description,
        media_url=update.media_url,
    )
