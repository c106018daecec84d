"""SavedModel export of a generator: a serving signature from latents (and
labels) and the truncation psi to one image per resolution; for MSG-StyleGAN
also `synthesis` (w and a noise mode to the same images), `mapping` (latents
to w) and `dlatent_avg` (the W average and the truncation cutoff, to truncate
w); optionally the TFLite conversion of the serving signature."""

import os
import pathlib

import tensorflow as tf

from dnnlib.atomic import atomic_directory
from msg_stylegan_tf2.networks.pyramid import float_to_uint8


class GeneratorModule(tf.Module):
    """Wraps a built generator for `tf.saved_model.save`.

    The signature `serving_default` maps `latents` float32 `[N, latent_size]`,
    `truncation_psi` float32 scalar (1 = none) and, for conditional models,
    `labels` float32 `[N, label_size]` to `images_<RRRR>` float32 in [-1, 1]
    (NHWC) and `uint8_<RRRR>` uint8 for every resolution R (zero-padded to 4
    digits). Noise inputs use the stored noise, so outputs are deterministic.

    An MSG-StyleGAN generator (one with a W space) has three more:
    `synthesis` maps `dlatents` float32 `[N, num_layers, dlatent_size]` and
    `noise_mode` string scalar to the same outputs: "const" the stored noise
    (as `serving_default`), "random" fresh noise at every call, "none" no
    noise (stylegan2-ada's modes); w is not truncated. `mapping` maps
    `latents` (and `labels`) to `dlatents`, untruncated. `dlatent_avg` (no
    inputs) gives `dlatent_avg` float32 `[dlatent_size]` and
    `truncation_cutoff` int32 scalar, the number of leading layers the
    network truncates: `serving_default` at psi is `synthesis` of
    `avg + (w - avg) * psi` on those layers, w elsewhere.
    """

    def __init__(self, G, label_size=0):
        super().__init__(name="generator")
        # Keras 3 layers held in lists are invisible to tf.Module tracking, so the
        # variables are listed here and G is only captured by the functions.
        self.weights = [w.value for w in G.weights]
        latents = tf.TensorSpec([None, G.latent_size], tf.float32, name="latents")
        psi = tf.TensorSpec([], tf.float32, name="truncation_psi")
        if label_size:
            labels = tf.TensorSpec([None, label_size], tf.float32, name="labels")
            self.serve = tf.function(
                lambda latents, truncation_psi, labels: _pyramid_outputs(
                    G, latents, truncation_psi, labels
                ),
                input_signature=[latents, psi, labels],
            )
        else:
            self.serve = tf.function(
                lambda latents, truncation_psi: _pyramid_outputs(
                    G, latents, truncation_psi, None
                ),
                input_signature=[latents, psi],
            )
        if hasattr(G, "truncate"):
            self._add_w_signatures(G, latents, label_size)

    def _add_w_signatures(self, G, latents, label_size):
        # synthesis, mapping and dlatent_avg of an MSG-StyleGAN generator.
        shape = [None, G.num_layers, G.mapping.dlatent_size]
        dlatents = tf.TensorSpec(shape, tf.float32, name="dlatents")
        mode = tf.TensorSpec([], tf.string, name="noise_mode")
        self.synthesis = tf.function(
            lambda dlatents, noise_mode: _synthesis_outputs(G, dlatents, noise_mode),
            input_signature=[dlatents, mode],
        )
        if label_size:
            labels = tf.TensorSpec([None, label_size], tf.float32, name="labels")
            self.mapping = tf.function(
                lambda latents, labels: _mapping_outputs(G, latents, labels),
                input_signature=[latents, labels],
            )
        else:
            self.mapping = tf.function(
                lambda latents: _mapping_outputs(G, latents, None),
                input_signature=[latents],
            )
        cutoff = G.truncation_cutoff or 0
        cutoff = max(0, min(cutoff, G.num_layers))
        self.dlatent_avg = tf.function(
            lambda: {
                "dlatent_avg": tf.identity(G.dlatent_avg),
                "truncation_cutoff": tf.constant(cutoff, tf.int32),
            },
            input_signature=[],
        )

    def signature_functions(self):
        """The signatures to save, by name."""
        names = ("synthesis", "mapping", "dlatent_avg")
        out = {"serving_default": self.serve}
        out.update({name: getattr(self, name) for name in names if hasattr(self, name)})
        return out


NOISE_MODES = ("const", "random", "none")


def _mapping_outputs(G, latents, labels):
    # Untruncated w, float32.
    return {"dlatents": tf.cast(G.mapping(latents, labels), tf.float32)}


def _synthesis_outputs(G, dlatents, noise_mode):
    # The pyramid outputs of G.synthesis with the noise `noise_mode` names.
    valid = tf.reduce_any(tf.equal(noise_mode, NOISE_MODES))
    check = tf.debugging.Assert(
        valid, ["noise_mode must be 'const', 'random' or 'none'; got", noise_mode]
    )
    maps = []
    with tf.control_dependencies([check]):
        count = tf.shape(dlatents)[:1]
        for epilogue in G.synthesis.epilogues:
            if epilogue.noise is None:
                continue
            stored = epilogue.noise.noise
            shape = tf.concat([count, tf.shape(stored)[1:]], axis=0)
            const = tf.broadcast_to(tf.cast(stored, tf.float32), shape)
            random = tf.random.normal(shape)
            noise = tf.where(tf.equal(noise_mode, "random"), random, const)
            maps.append(tf.where(tf.equal(noise_mode, "none"), 0.0, noise))
    images = G.synthesis(dlatents, randomize_noise=False, noise=maps or None)
    return _outputs(images)


def _pyramid_outputs(G, latents, truncation_psi, labels):
    # One float and one uint8 image per resolution; stored noise; psi applied.
    kwargs = {"randomize_noise": False}
    if hasattr(G, "truncate"):
        kwargs["truncation_psi"] = truncation_psi
    return _outputs(G(latents, labels, **kwargs))


def _outputs(images):
    # `images_<RRRR>` float32 and `uint8_<RRRR>` for each level of a pyramid.
    out = {}
    for level in images:
        side = level.shape[1]
        level = tf.cast(level, tf.float32)
        out[f"images_{side:04d}"] = level
        out[f"uint8_{side:04d}"] = float_to_uint8(level)
    return out


def export_saved_model(G, out_dir, label_size=0):
    """Writes a SavedModel of G to `out_dir` atomically (temp dir, rename).

    Raises:
        ValueError: when `out_dir` exists.
    """
    module = GeneratorModule(G, label_size)
    with atomic_directory(out_dir) as tmp:
        tf.saved_model.save(module, str(tmp), signatures=module.signature_functions())
    return pathlib.Path(out_dir)


def export_tflite(saved_model_dir, path):
    """Converts a SavedModel of `export_saved_model` to TFLite at `path`
    (written atomically: temp file, rename); returns its size in bytes.

    The `.tflite` keeps the `serving_default` signature only (same input and
    output names, any batch): `tf.lite.Interpreter(model_path=path)
    .get_signature_runner()(latents=z, truncation_psi=np.float32(0.7))`; the
    SavedModel's `synthesis`, `mapping` and `dlatent_avg` are not converted
    (TF 2.21's converter keeps only `serving_default` even when asked for all).

    Raises:
        ValueError: the converter refused the model (its first line).
    """
    converter = tf.lite.TFLiteConverter.from_saved_model(
        str(saved_model_dir), signature_keys=["serving_default"]
    )
    try:
        data = converter.convert()
    except (MemoryError, tf.errors.ResourceExhaustedError):
        raise
    except Exception as e:  # The converter raises many error types.
        text = str(e).strip()
        first = text.splitlines()[0] if text else type(e).__name__
        raise ValueError(
            f"TFLite conversion failed ({first}); the SavedModel is fine."
        ) from None
    path = pathlib.Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return len(data)


class SavedModelGenerator:
    """A loaded SavedModel used like a generator by the figure tools.

    Call: latents `[N, latent_size]`, labels or None, `truncation_psi` ->
    list of float images, 4x4 first. Styles are not exposed (no style mixing).
    """

    def __init__(self, path):
        self.path = pathlib.Path(path)
        if not (self.path / "saved_model.pb").is_file():
            raise ValueError(f"{self.path}: not a SavedModel directory.")
        self._model = tf.saved_model.load(str(self.path))
        self._serve = self._model.signatures["serving_default"]
        inputs = self._serve.structured_input_signature[1]
        self.latent_size = int(inputs["latents"].shape[1])
        self.label_size = int(inputs["labels"].shape[1]) if "labels" in inputs else 0
        keys = sorted(
            k for k in self._serve.structured_outputs if k.startswith("images_")
        )
        self._keys = keys
        self.resolution = int(keys[-1].split("_")[1])

    def __call__(self, latents, labels=None, truncation_psi=None, **unused):
        kwargs = {
            "latents": tf.convert_to_tensor(latents, tf.float32),
            "truncation_psi": tf.constant(
                1.0 if truncation_psi is None else truncation_psi, tf.float32
            ),
        }
        if self.label_size:
            if labels is None:
                raise ValueError(f"{self.path} needs labels [N, {self.label_size}].")
            kwargs["labels"] = tf.convert_to_tensor(labels, tf.float32)
        outputs = self._serve(**kwargs)
        return [outputs[k] for k in self._keys]
