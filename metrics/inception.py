"""The canonical FID Inception network: the 2015-12-05 frozen graph, loaded in TF2.

`classify_image_graph_def.pb` (inside `inception-2015-12-05.tgz`) is the graph
the TTUR reference FID and TF-GAN use. It is imported with its input
(`ExpandDims:0`, float images in [0, 255]) remapped to a batched placeholder,
so one call maps uint8 images of any size (the graph resizes them to 299x299
itself) to the 2048-d `pool_3` features and to the softmax logits for IS.
"""

import hashlib
import os
import pathlib
import tarfile
import urllib.error
import urllib.request

import numpy as np
import tensorflow as tf

from dnnlib.cache import cache_root

GRAPH_URL = (
    "http://download.tensorflow.org/models/image/imagenet/inception-2015-12-05.tgz"
)
GRAPH_MEMBER = "classify_image_graph_def.pb"
INPUT_TENSOR = "ExpandDims:0"
FEATURE_TENSOR = "pool_3:0"
LOGITS_MATMUL = "softmax/logits/MatMul"
# The canonical archive's sha256 could not be read on the machine this was
# written on (no internet). Until it is pinned here, a download's hash is
# recorded beside the cached copy and every later use is checked against it.
EXPECTED_SHA256 = None


def default_cache_dir():
    """`$MSG_STYLEGAN_CACHE`, else `~/.cache/msg_stylegan_tf2`."""
    return cache_root()


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def locate_inception(path=None, cache_dir=None, url=GRAPH_URL, expected_sha256=None):
    """Finds the Inception graph: `path`, else the cached copy, else a download.

    Args:
        path: a `.pb` or `.tgz` given by the user (`--inception`).
        cache_dir: cache root (default `default_cache_dir()`).
        url: where to download from.
        expected_sha256: the archive's hash (default `EXPECTED_SHA256`).

    Returns:
        Path of a `.pb` or `.tgz`.

    Raises:
        ValueError: one line saying which file to fetch and where to put it.
    """
    if path is not None:
        path = pathlib.Path(path).expanduser()
        if not path.is_file():
            raise ValueError(f"--inception: {path} does not exist.")
        return path
    expected = expected_sha256 or EXPECTED_SHA256
    cache = pathlib.Path(cache_dir) if cache_dir else default_cache_dir()
    cached = cache / pathlib.PurePosixPath(url).name
    recorded = cached.with_name(cached.name + ".sha256")
    if cached.is_file():
        want = expected or (
            recorded.read_text().strip() if recorded.is_file() else None
        )
        if want and _sha256(cached) != want:
            raise ValueError(
                f"{cached}: sha256 does not match {want}; delete it to download again."
            )
        return cached
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_name(f".{cached.name}.tmp-{os.getpid()}")
    try:
        urllib.request.urlretrieve(url, tmp)
        digest = _sha256(tmp)
        if expected and digest != expected:
            raise ValueError(f"{url}: downloaded sha256 {digest} is not {expected}.")
        recorded.write_text(digest + "\n")
        os.replace(tmp, cached)
    except (urllib.error.URLError, OSError) as e:
        raise ValueError(
            f"The FID Inception graph is not available ({e}): download {url} and "
            f"pass --inception=PATH, or put it at {cached}."
        ) from e
    finally:
        tmp.unlink(missing_ok=True)
    return cached


def read_graph_def(path):
    """Reads the GraphDef from a `.pb`, or from a `.tgz` without extracting it."""
    path = pathlib.Path(path)
    try:
        if path.suffix in (".tgz", ".gz"):
            with tarfile.open(path, "r:gz") as tar:
                member = next(
                    (m for m in tar.getmembers() if m.name.endswith(GRAPH_MEMBER)), None
                )
                if member is None:
                    raise ValueError(f"{path}: no {GRAPH_MEMBER} inside.")
                data = tar.extractfile(member).read()
        else:
            data = path.read_bytes()
        graph_def = tf.compat.v1.GraphDef()
        graph_def.ParseFromString(data)
    except (tarfile.TarError, OSError) as e:
        raise ValueError(f"{path}: cannot read the Inception graph ({e}).") from e
    except Exception as e:  # protobuf's DecodeError
        raise ValueError(f"{path}: not a TensorFlow GraphDef ({e}).") from e
    names = {node.name for node in graph_def.node}
    missing = [n for n in ("ExpandDims", "pool_3", LOGITS_MATMUL) if n not in names]
    if missing:
        raise ValueError(f"{path}: not the FID Inception graph (no {missing}).")
    return graph_def


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
    def load(cls, path=None, cache_dir=None):
        """Loads from `--inception`, the cache, or a download (see locate_inception)."""
        return cls(read_graph_def(locate_inception(path, cache_dir)))

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
