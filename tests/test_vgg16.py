"""metrics.vgg16: the VGG16 weights from a given path, the cache or one https
download from a loopback server (test_inception's), each checked against the
pin (here the pin of a small stand-in); offline, one line says what to do."""

import hashlib

import pytest
import torch_helpers as th
from test_inception import (  # noqa: F401 (fixtures)
    _no_proxy,
    client_context,
    closed_port,
    https,
)

from dnnlib import cli, torch_checkpoint
from metrics import vgg16

NAME = vgg16.VGG16_NAME


@pytest.fixture()
def loopback(https, client_context):  # noqa: F811 (test_inception's fixtures)
    """(base URL, routes, client SSL context) of a loopback HTTPS server."""
    return (*https, client_context)


@pytest.fixture()
def stand_in(tmp_path, monkeypatch):
    """A small VGG16 stand-in whose sha256 and size become the pin."""
    path = tmp_path / "stand_in.pth"
    th.write_vgg16_stand_in(path)
    raw = path.read_bytes()
    monkeypatch.setattr(vgg16, "VGG16_SHA256", hashlib.sha256(raw).hexdigest())
    monkeypatch.setattr(vgg16, "VGG16_BYTES", len(raw))
    monkeypatch.setattr(vgg16, "MAX_DOWNLOAD_BYTES", len(raw))
    return path


def test_the_pin():
    assert vgg16.VGG16_SHA256 == (
        "397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0"
    )
    # torchvision's own check: the file name holds the sha256's first 8 digits.
    assert vgg16.VGG16_URL.endswith(f"/vgg16-{vgg16.VGG16_SHA256[:8]}.pth")
    assert vgg16.VGG16_URL.startswith("https://") and vgg16.VGG16_URL.endswith(NAME)
    assert vgg16.MAX_DOWNLOAD_BYTES == vgg16.VGG16_BYTES == 553_433_881
    assert 0 < vgg16.DOWNLOAD_TIMEOUT < 600


def test_download_is_checked_before_it_is_cached(tmp_path, stand_in, loopback):
    base, routes, context = loopback
    cache = tmp_path / "cache"
    other = bytearray(stand_in.read_bytes())
    other[-1] ^= 1
    routes["/other/" + NAME] = ("sized", bytes(other))
    routes["/" + NAME] = ("sized", stand_in.read_bytes())
    with pytest.raises(ValueError) as error:
        vgg16.vgg16_file(
            cache_dir=cache, url=f"{base}/other/{NAME}", ssl_context=context
        )
    message = str(error.value)
    assert message.startswith(f"{base}/other/{NAME}: sha256 is ")
    assert hashlib.sha256(other).hexdigest() in message and "\n" not in message
    assert vgg16.VGG16_SHA256 in message and "download refused" in message
    assert list(cache.iterdir()) == []
    path = vgg16.vgg16_file(cache_dir=cache, url=f"{base}/{NAME}", ssl_context=context)
    assert path == cache / NAME and path.read_bytes() == stand_in.read_bytes()
    assert [p.name for p in cache.iterdir()] == [NAME]
    # Cached: used offline, checked on every use, read by the torch reader.
    offline = f"https://127.0.0.1:{closed_port()}/{NAME}"
    assert vgg16.vgg16_file(cache_dir=cache, url=offline, download=False) == path
    state_dict = torch_checkpoint.load_state_dict(path)
    assert state_dict["features.0.weight"].shape == (4, 3, 3, 3)
    path.write_bytes(bytes(other))
    with pytest.raises(ValueError, match="delete it to download it again.$"):
        vgg16.vgg16_file(cache_dir=cache, url=offline)


def test_download_size_cap(tmp_path, stand_in, loopback):
    base, routes, context = loopback
    routes["/sized/" + NAME] = ("sized", stand_in.read_bytes() + b"x")
    routes["/unsized/" + NAME] = ("unsized", stand_in.read_bytes() + b"x")
    cache = tmp_path / "cache"
    limit = vgg16.MAX_DOWNLOAD_BYTES
    for kind, match in [
        ("sized", f"is {limit + 1} bytes, more than {limit}. Not {NAME}"),
        ("unsized", f"unsized/{NAME} is more than {limit} bytes. Not {NAME}"),
    ]:
        with pytest.raises(ValueError, match=match):
            vgg16.vgg16_file(
                cache_dir=cache, url=f"{base}/{kind}/{NAME}", ssl_context=context
            )
    assert list(cache.iterdir()) == []


def test_the_offline_message(tmp_path):
    url = f"https://127.0.0.1:{closed_port()}/{NAME}"
    for download in (True, False):
        with pytest.raises(ValueError) as error:
            vgg16.vgg16_file(
                cache_dir=tmp_path,
                url=url,
                download=download,
                alternative="`distance=pyramid` needs no download",
            )
        message = str(error.value)
        start = f"{NAME} is not available (" if download else f"{NAME} is not in the"
        assert message.startswith(start) and "\n" not in message
        assert url in message and str(tmp_path / NAME) in message
        assert "`vgg16=PATH`" in message
        assert message.endswith("`distance=pyramid` needs no download.")
    shown = cli.as_flags(message, ["vgg16", "distance"])
    assert "--vgg16=PATH" in shown and "--distance=pyramid needs no download" in shown
    assert list(tmp_path.iterdir()) == []
    # Without an alternative (the metrics': leave them out), the path ends it.
    with pytest.raises(ValueError) as error:
        vgg16.vgg16_file(cache_dir=tmp_path, url=url, download=False)
    assert str(error.value).endswith(f"or put it at {tmp_path / NAME}.")
    plain = "http" + url[5:]
    with pytest.raises(ValueError, match=f"^{plain}: only https downloads"):
        vgg16.vgg16_file(cache_dir=tmp_path, url=plain)


def test_a_given_path_is_checked_and_used_where_it_is(tmp_path, stand_in):
    assert vgg16.vgg16_file(stand_in) == stand_in
    assert list(tmp_path.iterdir()) == [stand_in]
    other = tmp_path / "other.pth"
    th.write_vgg16_stand_in(other, seed=1)
    with pytest.raises(ValueError) as error:
        vgg16.vgg16_file(other)
    message = str(error.value)
    assert message.startswith(f"{other}: sha256 is ") and "\n" not in message
    assert "`vgg16_unverified=True`" in message
    assert vgg16.vgg16_file(other, unverified=True) == other
    other.write_bytes(b"short")
    with pytest.raises(ValueError, match=r"other.pth: 5 bytes, not the \d+ of torch"):
        vgg16.vgg16_file(other)
    with pytest.raises(ValueError, match="`vgg16`: /nope.pth does not exist"):
        vgg16.vgg16_file("/nope.pth")
    with pytest.raises(ValueError, match="needs `vgg16=PATH`"):
        vgg16.vgg16_file(unverified=True)


def test_the_real_pin_refuses_a_stand_in(tmp_path):
    path = tmp_path / NAME
    th.write_vgg16_stand_in(path)
    with pytest.raises(ValueError, match="bytes, not the 553433881 of torchvision's"):
        vgg16.check_vgg16(path)
