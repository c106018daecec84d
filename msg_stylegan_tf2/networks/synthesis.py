"""MSG-StyleGAN mapping and synthesis networks (official `G_mapping`, `G_synthesis`).

NHWC. The synthesis output is an image pyramid: a list of
`[N, R, R, num_channels]` tensors with R = 4, 8, ..., resolution.
"""

import keras
import tensorflow as tf

from msg_stylegan_tf2.networks import official
from msg_stylegan_tf2.networks.blocks import GBlock
from msg_stylegan_tf2.networks.equalized import EqualizedDense
from msg_stylegan_tf2.networks.network_base import dtype_policy_scope
from msg_stylegan_tf2.networks.normalization import PixelNorm
from msg_stylegan_tf2.networks.ops import NONLINEARITIES, SQRT2, feature_maps
from msg_stylegan_tf2.networks.style import fold_in_seed
from msg_stylegan_tf2.validation import check_choice, check_count, check_resolution


class Mapping(keras.Model):
    """Mapping network z (+ labels) -> w, broadcast to every synthesis layer.

    Call: latents `[N, latent_size]`, labels `[N, label_size]` or None ->
    dlatents `[N, dlatent_broadcast, dlatent_size]` (or `[N, dlatent_size]`).
    """

    def __init__(
        self,
        latent_size=512,
        label_size=0,
        dlatent_size=512,
        dlatent_broadcast=None,
        mapping_layers=8,
        mapping_fmaps=512,
        mapping_lrmul=0.01,
        mapping_nonlinearity="lrelu",
        use_wscale=True,
        normalize_latents=True,
        name="G_mapping",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        with dtype_policy_scope(self.dtype_policy):
            for key, value in (
                ("latent_size", latent_size),
                ("dlatent_size", dlatent_size),
                ("mapping_fmaps", mapping_fmaps),
            ):
                check_count(key, value, 1)
            check_count("label_size", label_size)
            check_count("mapping_layers", mapping_layers)
            check_choice("mapping_nonlinearity", mapping_nonlinearity, NONLINEARITIES)
            self.latent_size, self.label_size = latent_size, label_size
            self.dlatent_size, self.dlatent_broadcast = dlatent_size, dlatent_broadcast
            self.mapping_layers, self.normalize_latents = (
                mapping_layers,
                normalize_latents,
            )
            self.dense_layers = [
                EqualizedDense(
                    dlatent_size if i == mapping_layers - 1 else mapping_fmaps,
                    gain=SQRT2,
                    use_wscale=use_wscale,
                    lrmul=mapping_lrmul,
                    activation=mapping_nonlinearity,
                    name=f"Dense{i}",
                )
                for i in range(mapping_layers)
            ]
            self.pixel_norm = PixelNorm()

    def build(self, input_shape=None):
        if self.label_size:
            self.label_embedding = self.add_weight(
                name="label_embedding",
                shape=(self.label_size, self.latent_size),
                initializer=keras.initializers.RandomNormal(0.0, 1.0),
            )
        features = self.latent_size * (2 if self.label_size else 1)
        for layer in self.dense_layers:
            layer.build((None, features))
            features = layer.units
        if features != self.dlatent_size:
            raise ValueError(
                f"With mapping_layers=0, `dlatent_size` ({self.dlatent_size}) must "
                f"equal the latent width ({features})."
            )

    def call(self, latents, labels=None):
        x = tf.cast(latents, self.compute_dtype)
        # Embed labels and concatenate them with the latents.
        if self.label_size:
            if labels is None:
                raise ValueError(f"{self.name} needs labels [N, {self.label_size}].")
            embedded = tf.matmul(
                tf.cast(labels, x.dtype), tf.cast(self.label_embedding, x.dtype)
            )
            x = tf.concat([x, embedded], axis=1)
        if self.normalize_latents:
            x = self.pixel_norm(x)
        for layer in self.dense_layers:
            x = layer(x)
        if self.dlatent_broadcast is not None:
            x = tf.tile(x[:, tf.newaxis], [1, self.dlatent_broadcast, 1])
        return x

    def official_variable_map(self):
        out = {}
        if self.label_size:
            out["G_mapping/LabelConcat/weight"] = (self.label_embedding, official.SAME)
        for i, layer in enumerate(self.dense_layers):
            out.update(official.layer_entries(f"G_mapping/Dense{i}", layer))
        return out


class Synthesis(keras.Model):
    """Synthesis network w -> image pyramid (official `G_synthesis`): a list of
    `GBlock`s, 4x4 first, each emitting its image through its ToRGB.

    Call: dlatents `[N, num_layers, dlatent_size]` (`[N, 1, dlatent_size]`
    without `use_styles`) -> list of `[N, R, R, num_channels]`, R = 4, 8, ...,
    resolution (4x4 first). `noise_seed` makes random noise reproducible: int
    `[2]` for the batch, or int `[N, 2]`, one per image (see `NoiseInput`).
    `noise`, a list of one map `[N or 1, R, R, 1]` per layer (`noise_shapes`),
    replaces the stored and the random noise.
    """

    def __init__(
        self,
        dlatent_size=512,
        num_channels=3,
        resolution=1024,
        fmap_base=8192,
        fmap_decay=1.0,
        fmap_max=512,
        use_styles=True,
        const_input_layer=True,
        use_noise=True,
        nonlinearity="lrelu",
        use_wscale=True,
        use_pixel_norm=False,
        use_instance_norm=True,
        fused_scale="auto",
        blur_filter=(1, 2, 1),
        name="G_synthesis",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        self.resolution_log2 = check_resolution(resolution)
        check_count("num_channels", num_channels, 1)
        check_choice("nonlinearity", nonlinearity, NONLINEARITIES)
        check_choice("fused_scale", fused_scale, (True, False, "auto"))
        self.dlatent_size, self.use_styles = dlatent_size, use_styles
        self.num_layers = self.resolution_log2 * 2 - 2
        self.num_styles = self.num_layers if use_styles else 1
        nf = feature_maps(fmap_base, fmap_decay, fmap_max)
        epilogue = dict(
            use_noise=bool(use_noise),
            use_pixel_norm=use_pixel_norm,
            use_instance_norm=use_instance_norm,
            use_styles=use_styles,
            use_wscale=use_wscale,
            nonlinearity=nonlinearity,
        )
        options = dict(const_input_layer=const_input_layer, blur_filter=blur_filter)
        options.update(use_wscale=use_wscale, fused_scale=fused_scale)
        with dtype_policy_scope(self.dtype_policy):
            self.blocks = [
                GBlock(res, nf(res - 1), num_channels, epilogue, **options)
                for res in range(2, self.resolution_log2 + 1)
            ]

    @property
    def epilogues(self):
        """The epilogue of every layer, in layer order."""
        return [epilogue for block in self.blocks for epilogue in block.epilogues]

    @property
    def torgbs(self):
        """The ToRGB of every resolution, 4x4 first."""
        return [block.torgb for block in self.blocks]

    def build(self, input_shape=None):
        shape = (None, self.dlatent_size)  # The 4x4 block's input: the first w.
        styles = (None, 2, self.dlatent_size) if self.use_styles else None
        for block in self.blocks:
            block.build(shape, styles)
            shape = (None, 2**block.res, 2**block.res, block.fmaps)

    @property
    def noise_shapes(self):
        """`[1, R, R, 1]` of each layer's noise map, in layer order (none
        without `use_noise`)."""
        return [
            tuple(epilogue.noise.noise.shape)
            for epilogue in self.epilogues
            if epilogue.noise is not None
        ]

    def draw_noise(self, batch, seed):
        """The noise `noise_seed=seed` (int `[2]`) draws for `batch` images, as
        `noise` takes it: a list of `[batch, R, R, 1]` in layer order (None
        without `use_noise`). Rows of it are the noise of those images, so a
        batch can be split and keep its noise (gradient accumulation)."""
        if not self.noise_shapes:
            return None
        return [
            tf.random.stateless_normal(
                tf.stack([batch, shape[1], shape[2], 1]),
                fold_in_seed(seed, layer),
                dtype=self.compute_dtype,
            )
            for layer, shape in enumerate(self.noise_shapes)
        ]

    def call(self, dlatents, randomize_noise=True, noise_seed=None, noise=None):
        dlatents = tf.cast(dlatents, self.compute_dtype)
        x, images = dlatents[:, 0], []
        for block in self.blocks:
            styles = None
            if self.use_styles:
                styles = dlatents[:, block.layer_idx : block.layer_idx + 2]
            maps = None
            if noise is not None:
                maps = noise[block.layer_idx : block.layer_idx + 2]
            x, image = block(
                x,
                styles,
                randomize_noise=randomize_noise,
                noise_seed=noise_seed,
                noise=maps,
            )
            images.append(image)
        return images

    def official_variable_map(self):
        out = {}
        for block in self.blocks:
            lod = self.resolution_log2 - block.res
            out.update(block.official_variable_map("G_synthesis/", lod))
        return out
