from tests.helpers import parse, post_request


def test_post_then_get(client, submit_key, fmt):
    r = post_request(client, fmt, submit_key, description="A deep one")
    assert r.status_code == 200, r.data
    created = parse(r, fmt)
    rid = created[0]["service_request_id"]
    r = client.get(f"/open311/v2/requests/{rid}.{fmt}")
    assert r.status_code == 200, r.data
    assert parse(r, fmt)[0]["description"] == "A deep one"
