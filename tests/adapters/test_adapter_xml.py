from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
import requests
import responses
from lxml import etree

from adapters.base import PermanentFailure, Reference, TemporaryFailure
from adapters.settings import SettingsError
from adapters.xml_endpoint import XmlAdapter

from .conftest import keys_named

SINCE = datetime(2024, 5, 2, tzinfo=UTC)
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
WO = "urn:example:workorders"
REMOTE = "https://legacy.example.gov/soap/WorkOrders.asmx"

TEMPLATE = """<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
  <soap:Body>
    <CreateWorkOrder xmlns="urn:example:workorders">
      <ExternalId>$request_id</ExternalId>
      <Category code="$service_code">$service_name</Category>
      <Description>$description</Description>
      <Location lat="$lat" lon="$long">$address_string</Location>
      <Depth>$attribute_DEPTH</Depth>
      <Lanes>$attribute_LANES</Lanes>
      <Attributes>$attributes_xml</Attributes>
      <Photo>$media_url</Photo>
      <Reporter email="$email">$first_name $last_name</Reporter>
      <Submitted>$requested_datetime</Submitted>
      <Price>$$0</Price>
    </CreateWorkOrder>
  </soap:Body>
</soap:Envelope>"""

CREATED = f"""<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="{SOAP}"><soap:Body>
  <CreateWorkOrderResponse xmlns="{WO}"><WorkOrderId> 88412 </WorkOrderId></CreateWorkOrderResponse>
</soap:Body></soap:Envelope>"""

FAULT = f"""<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="{SOAP}"><soap:Body><soap:Fault>
  <faultcode>soap:Server</faultcode><faultstring>{{text}}</faultstring>
</soap:Fault></soap:Body></soap:Envelope>"""

NAMESPACES = {"soap": SOAP, "wo": WO}


def settings_for(url: str, **extra) -> dict:
    settings = {
        "url": url,
        "headers": {"SOAPAction": '"urn:example:workorders/CreateWorkOrder"'},
        "template": TEMPLATE,
        "namespaces": NAMESPACES,
        "id_xpath": "//wo:WorkOrderId/text()",
        "fault_xpath": "//soap:Fault/faultstring",
        "retryable_faults": ["database is locked", "try again"],
    }
    settings.update(extra)
    return settings


def parse_received(body: bytes) -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.fromstring(body, parser)


def test_submit_soap_envelope(backend, make_ticket) -> None:
    backend.on("POST", "/soap", body=CREATED)
    adapter = XmlAdapter(settings_for(backend.url("/soap")))
    receipt = adapter.submit(make_ticket())

    assert receipt.backend_id == "88412"
    (seen,) = backend.received
    assert seen.headers["SOAPAction"] == '"urn:example:workorders/CreateWorkOrder"'
    assert seen.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert seen.headers["Idempotency-Key"] == "NHV-2024-000123:nhv-public-works"
    root = parse_received(seen.body)
    order = root.find(f".//{{{WO}}}CreateWorkOrder")
    assert order is not None

    def text(tag: str) -> str | None:
        return order.findtext(f"{{{WO}}}{tag}")

    assert text("ExternalId") == "NHV-2024-000123"
    assert text("Description") == "Deep pothole in the right lane"
    assert order.find(f"{{{WO}}}Category").get("code") == "POTHOLE"
    location = order.find(f"{{{WO}}}Location")
    assert (location.get("lat"), location.get("lon")) == ("41.3083", "-72.9279")
    assert text("Depth") == "deep"
    assert text("Lanes") == "left, right"
    attributes = [
        (a.get("code"), a.text) for a in order.find(f"{{{WO}}}Attributes").iter("{*}attribute")
    ]
    assert attributes == [("DEPTH", "deep"), ("LANES", "left"), ("LANES", "right")]
    assert text("Photo") == "https://media.example.org/p/1.jpg"
    assert text("Reporter") == "Jane Doe"
    assert text("Submitted") == "2024-05-01T12:30:15Z"
    assert text("Price") == "$0"


def test_hostile_text_arrives_intact_and_the_body_still_parses(backend, make_ticket) -> None:
    backend.on("POST", "/soap", body=CREATED)
    description = 'Broken <b>sign</b> & "post" ]]> it\'s </Description><Injected/>'
    address = 'Elm & "Oak" <corner>'
    adapter = XmlAdapter(settings_for(backend.url("/soap")))
    adapter.submit(
        make_ticket(
            description=description + "\x00\x1b",  # XML 1.0 cannot carry these at all
            address_string=address,
            attributes={"DEPTH": "<deep>", "X&Y": 'a"b'},
        )
    )
    root = parse_received(backend.received[0].body)
    order = root.find(f".//{{{WO}}}CreateWorkOrder")
    assert order.findtext(f"{{{WO}}}Description") == description
    assert order.find(f"{{{WO}}}Location").text == address
    assert order.findtext(f"{{{WO}}}Depth") == "<deep>"
    assert root.find(".//{*}Injected") is None
    codes = {a.get("code"): a.text for a in root.iter("{*}attribute")}
    assert codes == {"DEPTH": "<deep>", "X&Y": 'a"b'}


def test_bearer_auth_and_put(backend, make_ticket) -> None:
    backend.on("PUT", "/soap", body="<r><id>7</id></r>")
    adapter = XmlAdapter(
        {
            "url": backend.url("/soap"),
            "method": "PUT",
            "auth": {"type": "bearer", "token": "xyz"},
            "template": "<order><id>$request_id</id></order>",
            "id_xpath": "/r/id",
        }
    )
    assert adapter.submit(make_ticket()).backend_id == "7"
    assert backend.received[0].headers["Authorization"] == "Bearer xyz"


# --- faults and failures ----------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 500])
def test_fault_is_permanent(backend, make_ticket, status: int) -> None:
    backend.on("POST", "/soap", status=status, body=FAULT.format(text="Unknown category POTHOLE"))
    with pytest.raises(PermanentFailure, match="Unknown category POTHOLE"):
        XmlAdapter(settings_for(backend.url("/soap"))).submit(make_ticket())


def test_retryable_fault_is_temporary(backend, make_ticket) -> None:
    backend.on("POST", "/soap", status=500, body=FAULT.format(text="The Database is locked"))
    with pytest.raises(TemporaryFailure, match="Database is locked"):
        XmlAdapter(settings_for(backend.url("/soap"))).submit(make_ticket())


@pytest.mark.parametrize(
    ("answer", "expected", "retry_after"),
    [
        (
            {"status": 503, "body": "<html>down</html>", "headers": {"Retry-After": "60"}},
            TemporaryFailure,
            60.0,
        ),
        # A 503 carrying a fault is still infrastructure trouble.
        ({"status": 503, "body": FAULT.format(text="Service Unavailable")}, TemporaryFailure, None),
        ({"status": 429, "headers": {"Retry-After": "5"}}, TemporaryFailure, 5.0),
        ({"status": 500, "body": "Internal error"}, TemporaryFailure, None),
        ({"status": 400, "body": "<html>bad request</html>"}, PermanentFailure, None),
        ({"status": 404, "body": "not here"}, PermanentFailure, None),
        ({"status": 200, "body": "OK"}, TemporaryFailure, None),
        ({"status": 200, "body": "<ok/>"}, TemporaryFailure, None),
        ({"status": 200, "body": "<unclosed>"}, TemporaryFailure, None),
        ({"body": requests.exceptions.ConnectTimeout("connect")}, TemporaryFailure, None),
        ({"body": requests.exceptions.ReadTimeout("read")}, TemporaryFailure, None),
    ],
)
@responses.activate
def test_failure_classification(answer, expected, retry_after, make_ticket) -> None:
    responses.post(REMOTE, **answer)
    with pytest.raises(expected) as info:
        XmlAdapter(settings_for(REMOTE)).submit(make_ticket())
    assert info.value.retry_after == retry_after


def test_refused_connection(closed_port, make_ticket) -> None:
    adapter = XmlAdapter(settings_for(f"http://127.0.0.1:{closed_port}/soap"))
    with pytest.raises(TemporaryFailure):
        adapter.submit(make_ticket())


# --- hostile answers --------------------------------------------------------------------

XXE = """<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<r><WorkOrderId>&x;</WorkOrderId><Note>&x;</Note></r>"""


def test_xxe_answer_does_not_leak_files(backend, make_ticket) -> None:
    backend.on("POST", "/soap", body=XXE)
    adapter = XmlAdapter(
        settings_for(backend.url("/soap"), id_xpath="string(//WorkOrderId)", fault_xpath=None)
    )
    with pytest.raises((TemporaryFailure, PermanentFailure)) as info:
        adapter.submit(make_ticket())
    assert "root:" not in str(info.value)
    assert "/bin/" not in str(info.value)


def test_billion_laughs_fails_fast(backend, make_ticket) -> None:
    entities = ['<!ENTITY lol0 "lol">']
    for level in range(1, 10):
        entities.append(f'<!ENTITY lol{level} "{f"&lol{level - 1};" * 10}">')
    bomb = f'<?xml version="1.0"?><!DOCTYPE r [{"".join(entities)}]><r><id>&lol9;</id></r>'
    backend.on("POST", "/soap", body=bomb)
    adapter = XmlAdapter(settings_for(backend.url("/soap"), id_xpath="//id", fault_xpath=None))
    started = time.monotonic()
    with pytest.raises((TemporaryFailure, PermanentFailure)):
        adapter.submit(make_ticket())
    assert time.monotonic() - started < 5


# --- status -----------------------------------------------------------------------------

STATUS_ANSWER = """<?xml version="1.0"?>
<soap:Envelope xmlns:soap="{soap}"><soap:Body>
  <GetStatusResponse xmlns="{wo}">
    <Status>{status}</Status><Modified>{modified}</Modified><Remarks>{notes}</Remarks>
  </GetStatusResponse>
</soap:Body></soap:Envelope>"""


def status_answer(status: str, modified: str, notes: str = "") -> str:
    return STATUS_ANSWER.format(soap=SOAP, wo=WO, status=status, modified=modified, notes=notes)


def test_status_by_soap_call(backend) -> None:
    table = {
        "88412": status_answer("COMPLETE", "2024-05-03T10:00:00Z", "Filled &amp; rolled"),
        "88413": status_answer("ASSIGNED", "2024-05-01T10:00:00Z"),
        "88414": status_answer("WAITING_PARTS", "2024-05-04T10:00:00Z"),
    }

    def answer(received):
        root = parse_received(received.body)
        wanted = root.findtext(".//{urn:example:workorders}WorkOrderId")
        return 200, table[wanted]

    backend.on("POST", "/soap/status", answer)
    adapter = XmlAdapter(
        settings_for(
            backend.url("/soap"),
            status={
                "url": backend.url("/soap/status"),
                "template": (
                    f'<soap:Envelope xmlns:soap="{SOAP}"><soap:Body>'
                    f'<GetStatus xmlns="{WO}"><WorkOrderId>$backend_id</WorkOrderId></GetStatus>'
                    "</soap:Body></soap:Envelope>"
                ),
                "headers": {"SOAPAction": '"urn:example:workorders/GetStatus"'},
                "status_xpath": "//wo:Status",
                "updated_xpath": "//wo:Modified/text()",
                "notes_xpath": "//wo:Remarks",
                "value_map": {"COMPLETE": "closed", "ASSIGNED": "open", "CANCELLED": "closed"},
            },
        )
    )
    assert adapter.needs_references is True
    refs = [Reference(backend_id=i) for i in ("88412", "88413", "88414")]
    updates = {u.backend_id: u for u in adapter.fetch_updates(SINCE, refs)}

    assert set(updates) == {"88412", "88414"}
    assert updates["88412"].status == "closed"
    assert updates["88412"].detailed_status == "COMPLETE"
    assert updates["88412"].status_notes == "Filled & rolled"
    assert updates["88412"].updated_datetime == datetime(2024, 5, 3, 10, tzinfo=UTC)
    assert updates["88414"].status == "open"
    assert updates["88414"].detailed_status == "WAITING_PARTS"
    for seen in backend.received:
        assert seen.headers["SOAPAction"] == '"urn:example:workorders/GetStatus"'
        assert "Idempotency-Key" not in seen.headers


def test_status_by_get(backend) -> None:
    backend.on("GET", "/orders/A 1", body="<order><state>Closed</state></order>")
    backend.on("GET", "/orders/gone", status=404, body="<error/>")
    adapter = XmlAdapter(
        {
            "url": backend.url("/soap"),
            "template": "<o>$request_id</o>",
            "id_xpath": "//id",
            "status": {
                "url": backend.url("/orders/{backend_id}"),
                "status_xpath": "/order/state",
                "detailed_status": False,
            },
        }
    )
    (update,) = adapter.fetch_updates(
        SINCE, [Reference(backend_id="A 1"), Reference(backend_id="gone")]
    )
    assert update.status == "closed"
    assert update.detailed_status is None
    assert update.updated_datetime >= SINCE
    assert backend.received[0].raw_path == "/orders/A%201"


def test_status_fault_and_outage(backend) -> None:
    backend.on("GET", "/orders/1", status=500, body=FAULT.format(text="no such order"))
    backend.on("GET", "/orders/2", status=503, body="down")
    adapter = XmlAdapter(
        settings_for(
            backend.url("/soap"),
            status={"url": backend.url("/orders/{backend_id}"), "status_xpath": "//wo:Status"},
        )
    )
    with pytest.raises(PermanentFailure, match="no such order"):
        adapter.fetch_updates(SINCE, [Reference(backend_id="1")])
    with pytest.raises(TemporaryFailure):
        adapter.fetch_updates(SINCE, [Reference(backend_id="2")])


def test_without_status_url_there_are_no_updates(backend) -> None:
    adapter = XmlAdapter(settings_for(backend.url("/soap")))
    assert adapter.needs_references is False
    assert adapter.fetch_updates(SINCE, [Reference(backend_id="1")]) == []
    assert backend.received == []


# --- settings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ({"template": None}, "template"),
        ({"template": "<a>$descripton</a>"}, "template"),
        ({"template": "<a>$</a>"}, "template"),
        ({"id_xpath": None}, "id_xpath"),
        ({"id_xpath": "//["}, "id_xpath"),
        ({"id_xpath": "//nope:Id"}, "id_xpath"),
        ({"fault_xpath": "//soap:Fault[", "id_xpath": "//x"}, "fault_xpath"),
        ({"retryable_faults": ["(unclosed"]}, "retryable_faults[0]"),
        ({"status": {"status_xpath": "//s"}}, "status.url"),
        ({"status": {"url": "https://x.org/{backend_id}"}}, "status.status_xpath"),
        ({"status": {"url": "https://x.org/s", "status_xpath": "//s"}}, "status.url"),
        ({"status": {"url": "https://x.org/{id}", "status_xpath": "//s"}}, "status.url"),
        (
            {
                "status": {
                    "url": "https://x.org/s",
                    "template": "<a>$request_id</a>",
                    "status_xpath": "//s",
                }
            },
            "status.template",
        ),
        (
            {"status": {"url": "https://x.org/{backend_id}", "status_xpath": "//s["}},
            "status.status_xpath",
        ),
        (
            {"status": {"url": "https://x.org/{b}", "status_xpath": "//s", "value_map": []}},
            "status.value_map",
        ),
        # The flat keys of before the status: block are refused, naming the new place.
        ({"status_url": "https://x.org/{backend_id}"}, "status_url"),
        ({"value_map": {"DONE": "closed"}}, "value_map"),
        ({"url": "soap://x"}, "url"),
        ({"soap_action": "x"}, "soap_action"),
    ],
)
def test_bad_settings_name_the_key(extra, key) -> None:
    settings = {**settings_for(REMOTE), **extra}
    settings = {k: v for k, v in settings.items() if v is not None}
    with pytest.raises(SettingsError) as info:
        XmlAdapter(settings)
    assert key in keys_named(info.value)


def test_a_flat_status_key_names_its_place_in_the_block() -> None:
    with pytest.raises(SettingsError) as info:
        XmlAdapter({**settings_for(REMOTE), "status_xpath": "//s"})
    assert info.value.lines == [
        "status_xpath: Moved: write status.status_xpath (the status: block)."
    ]
