"""The canonical FID Inception network: the 2015-12-05 frozen graph, loaded in TF2.

`classify_image_graph_def.pb` (inside `inception-2015-12-05.tgz`) is the graph
the TTUR reference FID and TF-GAN use. It is imported with its input
(`ExpandDims:0`, float images in [0, 255]) remapped to a batched placeholder,
so one call maps uint8 images of any size (the graph resizes them to 299x299
itself) to the 2048-d `pool_3` features and to the softmax logits for IS.

The graph is a stranger's file that gets imported and run, so its bytes are
pinned: the sha256 of the `.pb` member is checked on every path (download,
cache, a user's `.tgz` or `.pb`), unless the caller opts out for a custom graph.
Downloads are https only, with a timeout and a size cap; archives are read as a
bounded stream, never extracted.
"""

import gzip
import hashlib
import pathlib
import tarfile
import urllib.parse
import zlib

import numpy as np
import tensorflow as tf

from dnnlib.cache import Capped as _Capped
from dnnlib.cache import TooLarge as _TooLarge
from dnnlib.cache import cache_root, fetch, user_file
from dnnlib.cache import one_line as _one_line

GRAPH_URL = (
    "https://download.tensorflow.org/models/image/imagenet/inception-2015-12-05.tgz"
)
GRAPH_MEMBER = "classify_image_graph_def.pb"
# Google publishes no hash; three independent public sources agree on the sha256
# and size of the member (see the README). Checked on every load.
GRAPH_SHA256 = "009d6814d1bc560d4e7b236e170e9b2d5ca6f4b57bd8037f6db05776204415c6"
GRAPH_BYTES = 95_673_916
# Caps: on the graph (a .pb or the member), on a download and on what a .tgz
# may decompress to before the member has been read.
MAX_GRAPH_BYTES = 100 * 2**20
MAX_ARCHIVE_BYTES = 128 * 2**20
# Seconds a download may wait on the network at any one step (connect, read).
DOWNLOAD_TIMEOUT = 60.0
INPUT_TENSOR = "ExpandDims:0"
FEATURE_TENSOR = "pool_3:0"
LOGITS_MATMUL = "softmax/logits/MatMul"
UNVERIFIED_HINT = "pass `inception_unverified=True` if it is a custom graph"


def default_cache_dir():
    """`$MSG_STYLEGAN_CACHE`, else `~/.cache/msg_stylegan_tf2`."""
    return cache_root()


def read_graph_bytes(path, name=None):
    """The bytes of the graph: a `.pb`, or the member of a `.tgz` (by content).

    The archive is read as a stream: other members are skipped unread, nothing
    is written, and at most `MAX_ARCHIVE_BYTES` are decompressed.

    Args:
        path: the file to read.
        name: how errors name it (default `path`).

    Raises:
        ValueError: one line naming the file, on a missing member, a read error
            or a graph over `MAX_GRAPH_BYTES`.
    """
    name = name or path
    try:
        with open(path, "rb") as f:
            gzipped = f.read(2) == b"\x1f\x8b"
            f.seek(0)
            if not gzipped:
                return _Capped(f, MAX_GRAPH_BYTES, f"{name}: the graph").read()
        with gzip.open(path, "rb") as raw:
            stream = _Capped(raw, MAX_ARCHIVE_BYTES, f"{name}: decompressed, it")
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                for member in tar:
                    if pathlib.PurePosixPath(member.name).name != GRAPH_MEMBER:
                        continue
                    if not member.isfile():
                        continue
                    if member.size > MAX_GRAPH_BYTES:
                        raise _TooLarge(
                            f"{name}: {GRAPH_MEMBER} is {member.size} bytes, more "
                            f"than {MAX_GRAPH_BYTES}."
                        )
                    with tar.extractfile(member) as f:
                        return _Capped(f, MAX_GRAPH_BYTES, f"{name}: the graph").read()
    except _TooLarge as e:
        raise ValueError(f"{e} Not the FID Inception graph.") from None
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise ValueError(
            f"{name}: cannot read the Inception graph ({_one_line(e)})."
        ) from None
    raise ValueError(f"{name}: no {GRAPH_MEMBER} file inside the archive.")


def check_graph_sha256(path, data, hint):
    """Raises a one-line ValueError unless `sha256(data)` is `GRAPH_SHA256`."""
    actual = hashlib.sha256(data).hexdigest()
    if actual != GRAPH_SHA256:
        raise ValueError(
            f"{path}: sha256 of {GRAPH_MEMBER} is {actual}, expected {GRAPH_SHA256} "
            f"(the 2015-12-05 Inception graph); {hint}."
        )


def read_graph_def(path, unverified=False, hint=None):
    """Reads the GraphDef from a `.pb` or a `.tgz`, checked against the pin.

    Args:
        path: a `.pb`, or a `.tgz` holding `GRAPH_MEMBER`.
        unverified: skip the sha256 check (a custom graph with the same
            tensor names; its FID is not comparable with published numbers).
        hint: what to do on a hash mismatch (default: download the graph
            again, or opt out for a custom graph).

    Raises:
        ValueError: one line naming the file and what to do.
    """
    path = pathlib.Path(path)
    data = read_graph_bytes(path)
    if not unverified:
        hint = hint or f"download {GRAPH_URL} again, or {UNVERIFIED_HINT}"
        check_graph_sha256(path, data, hint)
    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(data)
    except Exception as e:  # protobuf's DecodeError
        raise ValueError(
            f"{path}: not a TensorFlow GraphDef ({_one_line(e)})."
        ) from None
    names = {node.name for node in graph_def.node}
    missing = [n for n in ("ExpandDims", "pool_3", LOGITS_MATMUL) if n not in names]
    if missing:
        raise ValueError(f"{path}: not the FID Inception graph (no {missing}).")
    return graph_def


def locate_inception(
    path=None, cache_dir=None, url=GRAPH_URL, timeout=None, ssl_context=None
):
    """Finds the Inception graph: `path`, else the cached copy, else a download.

    A download goes to a temporary file beside the cache and is renamed into
    place only once its member matches `GRAPH_SHA256`. The cached copy is
    returned as is: `read_graph_def` checks it on every load.

    Args:
        path: a `.pb` or `.tgz` given by the user (`--inception`).
        cache_dir: cache root (default `default_cache_dir()`).
        url: where to download from; https only.
        timeout: seconds per network step (default `DOWNLOAD_TIMEOUT`).
        ssl_context: for tests (default: the system's, verifying certificates).

    Returns:
        Path of a `.pb` or `.tgz`.

    Raises:
        ValueError: one line saying what failed, what to fetch and where to put it.
    """
    if path is not None:
        return user_file(path, "inception", GRAPH_URL)
    cache = pathlib.Path(cache_dir) if cache_dir else default_cache_dir()
    cached = cache / pathlib.PurePosixPath(urllib.parse.urlsplit(url).path).name
    if cached.is_file():
        return cached
    todo = f"download {url} and pass `inception=PATH`, or put it at {cached}"
    timeout = DOWNLOAD_TIMEOUT if timeout is None else timeout

    def check(tmp):
        check_graph_sha256(url, read_graph_bytes(tmp, url), "download refused")

    what = "The FID Inception graph"
    limit = MAX_ARCHIVE_BYTES
    return fetch(url, cached, limit, check, timeout, ssl_context, what, todo)


def load_graph_def(path=None, cache_dir=None, unverified=False):
    """The checked GraphDef from `path`, else the cache, else a download.

    Args:
        path: a `.pb` or `.tgz` given by the user (`--inception`).
        cache_dir: cache root (default `default_cache_dir()`).
        unverified: skip the sha256 check of `path` (a custom graph); the
            cache and downloads are always checked, so this needs `path`.

    Raises:
        ValueError: one line naming the file and what to do.
    """
    if unverified and path is None:
        raise ValueError(
            "`inception_unverified=True` needs `inception=PATH`: the downloaded and "
            "cached graphs are always checked."
        )
    located = locate_inception(path, cache_dir)
    hint = "delete it to download it again" if path is None else None
    return read_graph_def(located, unverified, hint)


class InceptionNetwork:
    """`pool_3` features and softmax logits of the 2015-12-05 Inception graph.

    Call: uint8 `[N, H, W, 1|3]` (any size) -> `(features [N, 2048],
    logits [N, 1008])`, float32. The logits are `pool_3 @ W` of the graph's
    softmax layer, without its bias, as the original IS code computes them.
    """

    def __init__(self, graph_def):
        # Identifies the network in cached real-image statistics.
        serialized = graph_def.SerializeToString(deterministic=True)
        self.identity = hashlib.sha256(serialized).hexdigest()[:16]
        matmul = next(n for n in graph_def.node if n.name == LOGITS_MATMUL)
        weight_name = matmul.input[1] + ":0"

        def imported(images):
            return tf.compat.v1.import_graph_def(
                graph_def,
                input_map={INPUT_TENSOR: images},
                return_elements=[FEATURE_TENSOR, weight_name],
                name="",
            )

        spec = tf.TensorSpec([None, None, None, 3], tf.float32)
        wrapped = tf.compat.v1.wrap_function(imported, [spec])
        self._run = wrapped.prune(
            feeds=wrapped.inputs,
            fetches=[
                wrapped.graph.get_tensor_by_name(FEATURE_TENSOR),
                wrapped.graph.get_tensor_by_name(weight_name),
            ],
        )

    @classmethod
    def load(cls, path=None, cache_dir=None, unverified=False):
        """The network from `path`, the cache or a download (see `load_graph_def`).

        Call it at start-up: it fails fast, in one line, when the graph is
        missing (offline) or not the pinned one.

        Raises:
            ValueError: one line naming the file and what to do.
        """
        graph_def = load_graph_def(path, cache_dir, unverified)
        try:
            return cls(graph_def)
        except (ValueError, TypeError, tf.errors.OpError) as e:
            name = path or "the Inception graph"
            raise ValueError(f"{name}: cannot import it ({_one_line(e)}).") from None

    def __call__(self, images):
        images = tf.convert_to_tensor(images)
        if images.shape[-1] == 1:
            images = tf.tile(images, [1, 1, 1, 3])
        pool, weight = self._run(tf.cast(images, tf.float32))
        features = tf.reshape(pool, [tf.shape(pool)[0], -1])
        return features.numpy(), (features @ weight).numpy()


def softmax(logits):
    """Row-wise softmax in float64 (for the inception score)."""
    z = np.asarray(logits, np.float64)
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)
