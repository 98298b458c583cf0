"""Photos sent as files with POST requests, in both formats: accepted by content only,
cleaned of what locates or identifies the reporter, reduced for listings, served back at
the gateway; private reports' photos only to their agency's staff."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.conftest import make_key
from tests.helpers import HOUSING_PROPERTY, NEW_HAVEN_GREEN, errors, parse

GPS_IFD = 0x8825
MAKE, MODEL, ORIENTATION = 0x010F, 0x0110, 0x0112


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> dict[str, Any]:
    return {
        "DATABASE_URL": db_url,
        "TESTING": True,
        "MEDIA_FOLDER": str(tmp_path / "media"),
        "MEDIA_MAX_BYTES": 300_000,
        "MEDIA_MAX_FILES": 2,
    }


def camera_jpeg(width: int = 800, height: int = 600, orientation: int = 1) -> bytes:
    """A JPEG as a phone writes it: EXIF with GPS position, make, model and orientation."""
    image = Image.new("RGB", (width, height), (200, 30, 30))
    image.paste((20, 20, 200), (0, 0, width // 2, height // 2))  # blue top-left quarter
    exif = Image.Exif()
    exif[MAKE] = "PhoneMaker"
    exif[MODEL] = "SecretPhone 12"
    exif[ORIENTATION] = orientation
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (41.0, 18.0, 30.0), 3: "W", 4: (72.0, 55.0, 40.0)})
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=90)
    return out.getvalue()


def post(
    client: Any, fmt: str, key: str, files: list[tuple[str, bytes, str]], **fields: Any
) -> Any:
    data: dict[str, Any] = {
        "api_key": key,
        "service_code": "POTHOLE",
        "lat": str(NEW_HAVEN_GREEN[0]),
        "long": str(NEW_HAVEN_GREEN[1]),
        **fields,
    }
    for name, content, filename in files:
        data.setdefault(name, []).append((io.BytesIO(content), filename, "image/jpeg"))
    return client.post(f"/open311/v2/requests.{fmt}", data=data, content_type="multipart/form-data")


def created_id(response: Any, fmt: str) -> str:
    assert response.status_code == 200, response.data
    return parse(response, fmt)[0]["service_request_id"]


def media_urls(client: Any, number: str) -> list[str]:
    body = client.get(f"/open311/v2/requests/{number}.json?extensions=true").get_json()
    return body[0]["extended_attributes"]["media_urls"]


def local(url: str) -> str:
    assert url.startswith("http://localhost/media/"), url
    return url.removeprefix("http://localhost")


def test_a_photo_is_stored_without_location_or_device_and_served_back(
    client: Any, submit_key: str, fmt: str
) -> None:
    original = camera_jpeg()
    assert b"SecretPhone" in original and b"PhoneMaker" in original
    number = created_id(post(client, fmt, submit_key, [("media", original, "IMG_0001.jpg")]), fmt)
    body = client.get(f"/open311/v2/requests/{number}.{fmt}")
    url = parse(body, fmt)[0]["media_url"]
    served = client.get(local(url))
    assert served.status_code == 200 and served.content_type == "image/jpeg"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    for secret in (b"SecretPhone", b"PhoneMaker", b"Exif"):
        assert secret not in served.data, secret
    photo = Image.open(io.BytesIO(served.data))
    assert photo.format == "JPEG" and photo.size == (800, 600)
    assert not photo.getexif() and "exif" not in photo.info
    small = Image.open(io.BytesIO(client.get(local(url) + "?size=small").data))
    assert max(small.size) == 640 and small.size == (640, 480)


def test_the_camera_orientation_is_applied_before_the_tag_is_dropped(
    client: Any, submit_key: str, fmt: str
) -> None:
    # Orientation 6: the viewer must turn the stored pixels 90° clockwise.
    number = created_id(
        post(client, fmt, submit_key, [("media[]", camera_jpeg(orientation=6), "up.jpg")]), fmt
    )
    photo = Image.open(io.BytesIO(client.get(local(media_urls(client, number)[0])).data))
    assert photo.size == (600, 800)
    assert photo.getpixel((550, 50))[2] > 150  # the blue quarter is now top-right


@pytest.mark.parametrize(
    ("content", "filename", "message"),
    [
        (b"#!/bin/sh\necho not a photo\n", "photo.jpg", "must be a JPEG, PNG or WebP"),
        (b"GIF89a" + b"\0" * 40, "anim.gif", "must be a JPEG, PNG or WebP"),
        (camera_jpeg()[:3000], "cut.jpg", "could not be read"),
    ],
    ids=["script-named-jpg", "gif", "truncated"],
)
def test_a_file_that_is_not_an_accepted_photo_is_refused(
    client: Any, submit_key: str, fmt: str, content: bytes, filename: str, message: str
) -> None:
    response = post(client, fmt, submit_key, [("media", content, filename)])
    assert response.status_code == 400
    assert message in errors(response, fmt)[0]["description"]


def test_size_and_count_caps_come_from_the_configuration(
    client: Any, submit_key: str, fmt: str
) -> None:
    noisy = Image.effect_noise((700, 700), 100).convert("RGB")
    out = io.BytesIO()
    noisy.save(out, "JPEG", quality=95)
    # Over the 300 kB cap per photo, under the body cap (2 photos' worth and 1 MiB).
    assert 300_000 < len(out.getvalue()) < 1_600_000
    response = post(client, fmt, submit_key, [("media", out.getvalue(), "big.jpg")])
    assert response.status_code == 400
    assert "limited to" in errors(response, fmt)[0]["description"]
    three = [("media", camera_jpeg(), f"{i}.jpg") for i in range(3)]
    response = post(client, fmt, submit_key, three)
    assert response.status_code == 400
    assert "At most 2 photos" in errors(response, fmt)[0]["description"]
    # Nothing of a refused report is kept.
    assert client.get("/open311/v2/requests.json").get_json() == []


def test_repeated_media_url_links_keep_working_beside_files(
    client: Any, submit_key: str, fmt: str
) -> None:
    links = ["https://example.org/a.jpg", "https://example.org/b.jpg"]
    response = client.post(
        f"/open311/v2/requests.{fmt}",
        data={
            "api_key": submit_key,
            "service_code": "POTHOLE",
            "lat": str(NEW_HAVEN_GREEN[0]),
            "long": str(NEW_HAVEN_GREEN[1]),
            "media_url": links,
            "media": [(io.BytesIO(camera_jpeg()), "c.jpg", "image/jpeg")],
        },
        content_type="multipart/form-data",
    )
    urls = media_urls(client, created_id(response, fmt))
    assert urls[:2] == links and len(urls) == 3 and "/media/" in urls[2]


def test_a_private_reports_photo_is_served_to_its_agencys_staff_only(
    app: Any, client: Any, submit_key: str, fmt: str
) -> None:
    response = post(
        client,
        fmt,
        submit_key,
        [("media", camera_jpeg(), "n.jpg")],
        service_code="NEIGHBOR_COMPLAINT",
        lat=str(HOUSING_PROPERTY[0]),
        long=str(HOUSING_PROPERTY[1]),
    )
    number = created_id(response, fmt)
    staff = make_key(app, "ha-staff", "staff", "nhv-housing-authority")
    other = make_key(app, "dpw-staff", "staff", "nhv-public-works")
    url = client.get(
        f"/open311/v2/requests/{number}.json?extensions=true", headers={"X-API-Key": staff}
    ).get_json()[0]["extended_attributes"]["media_urls"][0]
    path = local(url)
    assert client.get(path).status_code == 404
    assert client.get(path + "?size=small").status_code == 404
    assert client.get(path, headers={"X-API-Key": other}).status_code == 404
    seen = client.get(path, headers={"X-API-Key": staff})
    assert seen.status_code == 200 and seen.headers["Cache-Control"] == "private, no-store"
