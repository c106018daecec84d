"""The Inception loader on a small frozen graph with the canonical tensor names;
the pinned hash on every path, and downloads from a loopback HTTPS server."""

import hashlib
import http.server
import io
import socket
import ssl
import tarfile
import threading

import numpy as np
import pytest
import tensorflow as tf

from metrics import inception

# A self-signed certificate for 127.0.0.1 (valid 2000-2999), for the loopback
# server only; its key protects nothing.
CERT = """\
-----BEGIN CERTIFICATE-----
MIIBtTCCAVqgAwIBAgIUMrUHCIBWGFHUZdhWsTegH4txxqwwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJMTI3LjAuMC4xMCAXDTAwMDEwMTAwMDAwMFoYDzI5OTkxMjMx
MDAwMDAwWjAUMRIwEAYDVQQDDAkxMjcuMC4wLjEwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAATyc3FEK6LCNCqCW+/Txf0SPmXVC+g7u4IJZ+qxdH+UrCvEuk2GAA5+
S/UCuf19M7WABLKr/V34zE5/bbq0/DCro4GHMIGEMA8GA1UdEQQIMAaHBH8AAAEw
DAYDVR0TAQH/BAIwADAOBgNVHQ8BAf8EBAMCB4AwEwYDVR0lBAwwCgYIKwYBBQUH
AwEwHQYDVR0OBBYEFLkLPqex8IZfGSWtca3DvTemIoDNMB8GA1UdIwQYMBaAFLkL
Pqex8IZfGSWtca3DvTemIoDNMAoGCCqGSM49BAMCA0kAMEYCIQCC2PYpTqZD0syl
loym635kv9SHlDg3kKx3ZCntEWDv6AIhAPMelifJDroEObpv61kM+xYYdg/ToTO0
vWPVJsT0e7Qc
-----END CERTIFICATE-----
"""
KEY = """\
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg8gFaYJE+5w9cbzSc
BdCnhWwwBldHVg+/WfCJYRvBreShRANCAATyc3FEK6LCNCqCW+/Txf0SPmXVC+g7
u4IJZ+qxdH+UrCvEuk2GAA5+S/UCuf19M7WABLKr/V34zE5/bbq0/DCr
-----END PRIVATE KEY-----
"""
NAME = "inception-2015-12-05.tgz"

K, CLASSES = 6, 5
RNG = np.random.RandomState(0)
CONV = RNG.randn(3, 3, 3, K).astype(np.float32)
WEIGHTS = RNG.randn(K, CLASSES).astype(np.float32)


def small_graph_def():
    # Same names as the real graph: ExpandDims (float images in [0, 255]),
    # ResizeBilinear, pool_3 [N, 1, 1, K], softmax/logits/MatMul with weights.
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [1, None, None, 3], name="ExpandDims")
        x = tf.compat.v1.image.resize_bilinear(x, [8, 8], name="ResizeBilinear")
        x = tf.nn.conv2d(x / 255.0, tf.constant(CONV), 1, "SAME")
        pool = tf.reduce_mean(tf.nn.relu(x), axis=[1, 2], keepdims=True, name="pool_3")
        weights = tf.constant(WEIGHTS, name="softmax/weights")
        logits = tf.matmul(
            tf.reshape(pool, [1, K]), weights, name="softmax/logits/MatMul"
        )
        tf.nn.softmax(logits, name="softmax")
    return graph.as_graph_def()


def graph_bytes():
    # The small graph's bytes, the same on every call (map fields sorted).
    return small_graph_def().SerializeToString(deterministic=True)


def reference(images):
    # The same computation written directly (batched), for comparison.
    x = tf.compat.v1.image.resize_bilinear(tf.cast(images, tf.float32), [8, 8])
    x = tf.nn.relu(tf.nn.conv2d(x / 255.0, CONV, 1, "SAME"))
    features = tf.reduce_mean(x, axis=[1, 2]).numpy()
    return features, features @ WEIGHTS


def write_tgz(path, members):
    # members: (name, bytes) pairs, or TarInfo objects without data.
    with tarfile.open(path, "w:gz") as tar:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tar.addfile(member)
                continue
            info = tarfile.TarInfo(member[0])
            info.size = len(member[1])
            tar.addfile(info, io.BytesIO(member[1]))
    return path


def other_graph_bytes():
    # A different valid graph with the same names: what a content swap could be.
    graph_def = small_graph_def()
    graph_def.versions.producer += 1
    return graph_def.SerializeToString(deterministic=True)


@pytest.fixture()
def archive(tmp_path):
    data = graph_bytes()
    (tmp_path / "graph.pb").write_bytes(data)
    return write_tgz(tmp_path / NAME, [(inception.GRAPH_MEMBER, data)])


@pytest.fixture()
def pinned(monkeypatch):
    # The small graph stands in for the real one: its hash becomes the pin.
    digest = hashlib.sha256(graph_bytes()).hexdigest()
    monkeypatch.setattr(inception, "GRAPH_SHA256", digest)
    return digest


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    monkeypatch.setenv("no_proxy", "*")


def test_the_pin_is_the_published_one():
    assert inception.GRAPH_SHA256 == (
        "009d6814d1bc560d4e7b236e170e9b2d5ca6f4b57bd8037f6db05776204415c6"
    )
    assert inception.GRAPH_URL.startswith("https://")
    assert inception.GRAPH_BYTES == 95_673_916 <= inception.MAX_GRAPH_BYTES
    assert inception.MAX_GRAPH_BYTES < inception.MAX_ARCHIVE_BYTES <= 2**28
    assert 0 < inception.DOWNLOAD_TIMEOUT < 600


def test_batched_features_and_logits_from_pb_and_tgz(archive, pinned):
    images = RNG.randint(0, 256, [4, 20, 12, 3]).astype(np.uint8)
    expected_features, expected_logits = reference(images)
    for path in (archive, archive.parent / "graph.pb"):
        network = inception.InceptionNetwork.load(path)
        features, logits = network(images)
        assert features.shape == (4, K) and logits.shape == (4, CLASSES)
        np.testing.assert_allclose(features, expected_features, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(logits, expected_logits, rtol=1e-5, atol=1e-5)
    gray = network(images[..., :1])[0]
    np.testing.assert_allclose(gray, network(np.repeat(images[..., :1], 3, -1))[0])
    probs = inception.softmax(logits)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)


def test_a_graph_that_is_not_the_pinned_one_is_refused(archive, pinned):
    swapped = archive.parent / "swapped"
    swapped.mkdir()
    (swapped / "graph.pb").write_bytes(other_graph_bytes())
    write_tgz(swapped / NAME, [(inception.GRAPH_MEMBER, other_graph_bytes())])
    actual = hashlib.sha256(other_graph_bytes()).hexdigest()
    for path in (swapped / "graph.pb", swapped / NAME):
        with pytest.raises(ValueError) as error:
            inception.InceptionNetwork.load(path)
        message = str(error.value)
        assert message.startswith(f"{path}: sha256 of classify_image_graph_def.pb")
        assert actual in message and pinned in message and "\n" not in message
        assert "`inception_unverified=True`" in message


def test_the_default_pin_refuses_a_stand_in_graph(archive):
    with pytest.raises(ValueError, match=f"expected {inception.GRAPH_SHA256}"):
        inception.read_graph_def(archive)


def test_the_opt_out_loads_a_custom_graph(archive):
    images = RNG.randint(0, 256, [2, 9, 9, 3]).astype(np.uint8)
    for path in (archive, archive.parent / "graph.pb"):
        network = inception.InceptionNetwork.load(path, unverified=True)
        np.testing.assert_allclose(
            network(images)[0], reference(images)[0], rtol=1e-5, atol=1e-6
        )
    with pytest.raises(ValueError, match="needs `inception=PATH`"):
        inception.InceptionNetwork.load(unverified=True)


def test_a_wrong_graph_is_refused(tmp_path):
    graph = tf.Graph()
    with graph.as_default():
        tf.constant(1.0, name="something_else")
    (tmp_path / "other.pb").write_bytes(graph.as_graph_def().SerializeToString())
    with pytest.raises(ValueError, match="not the FID Inception graph"):
        inception.read_graph_def(tmp_path / "other.pb", unverified=True)
    (tmp_path / "junk.pb").write_bytes(b"\xff\x00not a graph")
    with pytest.raises(ValueError, match="junk.pb: not a TensorFlow GraphDef"):
        inception.read_graph_def(tmp_path / "junk.pb", unverified=True)


def test_the_archive_is_a_bounded_stream(tmp_path, pinned, monkeypatch):
    data = graph_bytes()
    # Other members first, then the graph in a folder: found, nothing written.
    path = write_tgz(
        tmp_path / "a.tgz",
        [
            ("LICENSE", b"x" * 3000),
            ("../escape", b"x"),
            ("inception/" + inception.GRAPH_MEMBER, data),
        ],
    )
    assert inception.read_graph_bytes(path) == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tgz"]
    assert not (tmp_path.parent / "escape").exists()
    # A link named like the graph is not the graph.
    link = tarfile.TarInfo(inception.GRAPH_MEMBER)
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    path = write_tgz(tmp_path / "b.tgz", [link])
    with pytest.raises(ValueError, match="b.tgz: no classify_image_graph_def.pb"):
        inception.read_graph_def(path)
    # What decompresses to more than the cap is refused (a 'gzip bomb').
    monkeypatch.setattr(inception, "MAX_ARCHIVE_BYTES", 50_000)
    path = write_tgz(
        tmp_path / "c.tgz", [("zeros", bytes(60_000)), (inception.GRAPH_MEMBER, data)]
    )
    assert path.stat().st_size < 5000
    with pytest.raises(ValueError, match="c.tgz: decompressed, it is more than 50000"):
        inception.read_graph_def(path)


def test_a_graph_over_the_size_cap_is_refused(archive, pinned, monkeypatch):
    monkeypatch.setattr(inception, "MAX_GRAPH_BYTES", 100)
    size = len(graph_bytes())
    with pytest.raises(
        ValueError, match=f"classify_image_graph_def.pb is {size} bytes"
    ):
        inception.read_graph_def(archive)
    with pytest.raises(ValueError, match="graph.pb: the graph is more than 100 bytes"):
        inception.read_graph_def(archive.parent / "graph.pb")


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves `server.routes`: path -> (kind, value), kind one of 'sized'
    (with Content-Length), 'unsized' (until the connection closes), 'redirect'."""

    def do_GET(self):
        kind, value = self.server.routes.get(self.path, (None, None))
        if kind is None:
            self.send_error(404)
            return
        self.send_response(302 if kind == "redirect" else 200)
        if kind == "redirect":
            self.send_header("Location", value)
        if kind == "sized":
            self.send_header("Content-Length", str(len(value)))
        self.end_headers()
        if kind != "redirect":
            self.wfile.write(value)

    def log_message(self, *args):
        pass


@pytest.fixture()
def client_context():
    return ssl.create_default_context(cadata=CERT)


@pytest.fixture()
def https(tmp_path):
    """A loopback HTTPS server; yields `(base_url, routes)`."""
    (tmp_path / "cert.pem").write_text(CERT)
    (tmp_path / "key.pem").write_text(KEY)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    httpd.handle_error = lambda request, address: None
    httpd.routes = {}
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield f"https://127.0.0.1:{httpd.server_address[1]}", httpd.routes
    httpd.shutdown()
    httpd.server_close()


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_download_is_checked_before_it_is_cached(
    tmp_path, archive, pinned, https, client_context
):
    base, routes = https
    cache = tmp_path / "cache"
    routes["/" + NAME] = ("sized", archive.read_bytes())
    routes["/swapped/" + NAME] = (
        "sized",
        write_tgz(
            tmp_path / "swapped.tgz", [(inception.GRAPH_MEMBER, other_graph_bytes())]
        ).read_bytes(),
    )
    actual = hashlib.sha256(other_graph_bytes()).hexdigest()
    with pytest.raises(ValueError) as error:
        inception.locate_inception(
            cache_dir=cache, url=f"{base}/swapped/{NAME}", ssl_context=client_context
        )
    message = str(error.value)
    assert message.startswith(f"{base}/swapped/{NAME}: sha256 of")
    assert actual in message and pinned in message and "\n" not in message
    assert list(cache.iterdir()) == []
    path = inception.locate_inception(
        cache_dir=cache, url=f"{base}/{NAME}", ssl_context=client_context
    )
    assert path == cache / NAME and path.read_bytes() == archive.read_bytes()
    assert [p.name for p in cache.iterdir()] == [NAME]
    # The cached copy is used offline.
    offline = f"https://127.0.0.1:{closed_port()}/{NAME}"
    assert inception.locate_inception(cache_dir=cache, url=offline) == path
    assert inception.InceptionNetwork.load(cache_dir=cache).identity


def test_the_cache_is_checked_on_every_load(tmp_path, pinned):
    cache = tmp_path / "cache"
    cache.mkdir()
    write_tgz(cache / NAME, [(inception.GRAPH_MEMBER, graph_bytes())])
    assert inception.InceptionNetwork.load(cache_dir=cache).identity
    write_tgz(cache / NAME, [(inception.GRAPH_MEMBER, other_graph_bytes())])
    actual = hashlib.sha256(other_graph_bytes()).hexdigest()
    with pytest.raises(ValueError) as error:
        inception.InceptionNetwork.load(cache_dir=cache)
    message = str(error.value)
    assert message.startswith(f"{cache / NAME}: sha256 of")
    assert actual in message and pinned in message
    assert message.endswith("delete it to download it again.")


def test_only_https(tmp_path, https, client_context):
    base, routes = https
    for url in (
        f"http://127.0.0.1:{closed_port()}/{NAME}",
        f"ftp://example.org/{NAME}",
    ):
        with pytest.raises(ValueError, match=f"^{url}: only https downloads"):
            inception.locate_inception(cache_dir=tmp_path / "cache", url=url)
    http_url = f"http://127.0.0.1:{closed_port()}/{NAME}"
    routes["/" + NAME] = ("redirect", http_url)
    with pytest.raises(ValueError, match=f"redirects to {http_url}: https only"):
        inception.locate_inception(
            cache_dir=tmp_path / "cache",
            url=f"{base}/{NAME}",
            ssl_context=client_context,
        )
    assert list((tmp_path / "cache").iterdir()) == []


def test_certificates_are_verified_by_default(tmp_path, https):
    base, routes = https
    routes["/" + NAME] = ("sized", b"x")
    with pytest.raises(ValueError, match="not available .*CERTIFICATE_VERIFY_FAILED"):
        inception.locate_inception(cache_dir=tmp_path, url=f"{base}/{NAME}")


def test_download_size_cap(tmp_path, https, client_context, monkeypatch):
    base, routes = https
    monkeypatch.setattr(inception, "MAX_ARCHIVE_BYTES", 1000)
    routes["/sized/" + NAME] = ("sized", bytes(5000))
    routes["/unsized/" + NAME] = ("unsized", bytes(5000))
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match="is 5000 bytes, more than 1000"):
        inception.locate_inception(
            cache_dir=cache, url=f"{base}/sized/{NAME}", ssl_context=client_context
        )
    with pytest.raises(ValueError, match=f"unsized/{NAME} is more than 1000 bytes"):
        inception.locate_inception(
            cache_dir=cache, url=f"{base}/unsized/{NAME}", ssl_context=client_context
        )
    assert list(cache.iterdir()) == []


def test_download_timeout_against_a_server_that_never_answers(tmp_path, client_context):
    # The kernel accepts the connection; nothing ever answers the TLS hello.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"https://127.0.0.1:{silent.getsockname()[1]}/{NAME}"
        with pytest.raises(ValueError, match=r"not available \(.*timed out"):
            inception.locate_inception(
                cache_dir=tmp_path, url=url, timeout=0.2, ssl_context=client_context
            )
    assert list(tmp_path.iterdir()) == []


def test_the_missing_weights_message(tmp_path):
    url = f"https://127.0.0.1:{closed_port()}/{NAME}"
    with pytest.raises(ValueError) as error:
        inception.locate_inception(cache_dir=tmp_path, url=url)
    message = str(error.value)
    assert message.startswith("The FID Inception graph is not available")
    assert url in message and "`inception=PATH`" in message
    assert str(tmp_path / NAME) in message
    assert "\n" not in message
    with pytest.raises(ValueError, match="`inception`: /nope.pb does not exist"):
        inception.InceptionNetwork.load("/nope.pb")
