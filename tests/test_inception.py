"""The Inception loader on a small frozen graph with the canonical tensor names;
download, cache and checksum against a loopback HTTP server."""

import functools
import http.server
import io
import tarfile
import threading

import numpy as np
import pytest
import tensorflow as tf

from metrics import inception

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


def reference(images):
    # The same computation written directly (batched), for comparison.
    x = tf.compat.v1.image.resize_bilinear(tf.cast(images, tf.float32), [8, 8])
    x = tf.nn.relu(tf.nn.conv2d(x / 255.0, CONV, 1, "SAME"))
    features = tf.reduce_mean(x, axis=[1, 2]).numpy()
    return features, features @ WEIGHTS


@pytest.fixture()
def archive(tmp_path):
    data = small_graph_def().SerializeToString()
    (tmp_path / "graph.pb").write_bytes(data)
    path = tmp_path / "inception-2015-12-05.tgz"
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(inception.GRAPH_MEMBER)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


def test_batched_features_and_logits_from_pb_and_tgz(archive):
    images = RNG.randint(0, 256, [4, 20, 12, 3]).astype(np.uint8)
    expected_features, expected_logits = reference(images)
    for path in (archive, archive.parent / "graph.pb"):
        network = inception.InceptionNetwork(inception.read_graph_def(path))
        features, logits = network(images)
        assert features.shape == (4, K) and logits.shape == (4, CLASSES)
        np.testing.assert_allclose(features, expected_features, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(logits, expected_logits, rtol=1e-5, atol=1e-5)
    gray = network(images[..., :1])[0]
    np.testing.assert_allclose(gray, network(np.repeat(images[..., :1], 3, -1))[0])
    probs = inception.softmax(logits)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)


def test_a_wrong_graph_is_refused(tmp_path):
    graph = tf.Graph()
    with graph.as_default():
        tf.constant(1.0, name="something_else")
    (tmp_path / "other.pb").write_bytes(graph.as_graph_def().SerializeToString())
    with pytest.raises(ValueError, match="not the FID Inception graph"):
        inception.read_graph_def(tmp_path / "other.pb")
    (tmp_path / "junk.pb").write_bytes(b"\xff\x00not a graph")
    with pytest.raises(ValueError, match="junk.pb: not a TensorFlow GraphDef"):
        inception.read_graph_def(tmp_path / "junk.pb")


@pytest.fixture()
def server(archive):
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(archive.parent)
    )
    handler.log_message = lambda *args: None
    httpd = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/{archive.name}"
    httpd.shutdown()
    httpd.server_close()


def test_download_cache_and_checksum(tmp_path, archive, server):
    cache = tmp_path / "cache"
    digest = inception._sha256(archive)
    with pytest.raises(ValueError, match="downloaded sha256 .* is not 00ff"):
        inception.locate_inception(cache_dir=cache, url=server, expected_sha256="00ff")
    assert [p.name for p in cache.iterdir()] == []
    path = inception.locate_inception(
        cache_dir=cache, url=server, expected_sha256=digest
    )
    assert path == cache / archive.name and inception._sha256(path) == digest
    assert (cache / (archive.name + ".sha256")).read_text().strip() == digest
    # The cached copy is used offline, and checked against the recorded hash.
    offline = "http://127.0.0.1:9/inception-2015-12-05.tgz"
    assert inception.locate_inception(cache_dir=cache, url=offline) == path
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match="sha256 does not match"):
        inception.locate_inception(cache_dir=cache, url=offline)


def test_the_missing_weights_message(tmp_path):
    url = "http://127.0.0.1:9/inception-2015-12-05.tgz"
    with pytest.raises(ValueError) as error:
        inception.locate_inception(cache_dir=tmp_path, url=url)
    message = str(error.value)
    assert message.startswith("The FID Inception graph is not available")
    assert url in message and "--inception=PATH" in message
    assert str(tmp_path / "inception-2015-12-05.tgz") in message
    assert "\n" not in message
    with pytest.raises(ValueError, match="--inception: /nope.pb does not exist"):
        inception.locate_inception("/nope.pb")
