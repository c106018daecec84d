"""MSG-StyleGAN generator (official `G_style`): mapping, W average, truncation,
synthesis with a ToRGB at every block. NHWC; returns an image pyramid."""

import numpy as np
import tensorflow as tf

from msg_stylegan_tf2.networks import official
from msg_stylegan_tf2.networks.blocks import spectral_norm_layers
from msg_stylegan_tf2.networks.network_base import Network
from msg_stylegan_tf2.networks.spectral_norm import enable_spectral_norm
from msg_stylegan_tf2.networks.synthesis import Mapping, Synthesis

MAPPING_KWARGS = (
    "latent_size",
    "label_size",
    "dlatent_size",
    "mapping_layers",
    "mapping_fmaps",
    "mapping_lrmul",
    "mapping_nonlinearity",
    "use_wscale",
    "normalize_latents",
)
SYNTHESIS_KWARGS = (
    "dlatent_size",
    "num_channels",
    "resolution",
    "fmap_base",
    "fmap_decay",
    "fmap_max",
    "use_styles",
    "const_input_layer",
    "use_noise",
    "nonlinearity",
    "use_wscale",
    "use_pixel_norm",
    "use_instance_norm",
    "fused_scale",
    "blur_filter",
)


# A call argument left out: the network's configured value (official
# semantics: an explicit None disables truncation).
CONFIGURED = "configured"


def _configured(value):
    return isinstance(value, str) and value == CONFIGURED


class Generator(Network):
    """MSG-StyleGAN generator (official `G_style`): mapping, W average, synthesis.

    Takes the official keyword arguments of `G_style`, `G_mapping` and
    `G_synthesis` (unknown ones raise). The dlatent average is updated with
    `dlatent_avg_beta` in training only, as a mean over replicas so that every
    replica keeps the same value. Truncation applies outside training, as the
    official network's: a call without `truncation_psi`/`truncation_cutoff`
    uses the configured ones (official 0.7, cutoff 8); `None` for either, or
    psi 1, disables it. `truncation_psi_val` and `truncation_cutoff_val`
    (official options for validation runs) are kept in the config only.

    Call: latents `[N, latent_size]`, labels `[N, label_size]` or None ->
    list of `[N, R, R, num_channels]`, R = 4, 8, ..., resolution. `noise_seed`
    and `noise` as `Synthesis` takes them.
    """

    supports_truncation = True

    def __init__(
        self,
        truncation_psi=0.7,
        truncation_cutoff=8,
        truncation_psi_val=None,
        truncation_cutoff_val=None,
        dlatent_avg_beta=0.995,
        randomize_noise=True,
        latent_size=512,
        label_size=0,
        dlatent_size=512,
        mapping_layers=8,
        mapping_fmaps=512,
        mapping_lrmul=0.01,
        mapping_nonlinearity="lrelu",
        use_wscale=True,
        normalize_latents=True,
        num_channels=3,
        resolution=1024,
        fmap_base=8192,
        fmap_decay=1.0,
        fmap_max=512,
        use_styles=True,
        const_input_layer=True,
        use_noise=True,
        nonlinearity="lrelu",
        use_pixel_norm=False,
        use_instance_norm=True,
        fused_scale="auto",
        blur_filter=(1, 2, 1),
        spectral_norm=False,
        dtype=None,
        name="G",
    ):
        super().__init__(locals())
        self.truncation_psi, self.truncation_cutoff = truncation_psi, truncation_cutoff
        self.dlatent_avg_beta, self.randomize_noise = dlatent_avg_beta, randomize_noise
        self.synthesis = Synthesis(
            **{k: self.options[k] for k in SYNTHESIS_KWARGS}, dtype=dtype
        )
        self.resolution_log2 = self.synthesis.resolution_log2
        self.num_layers = self.synthesis.num_styles
        self.mapping = Mapping(
            **{k: self.options[k] for k in MAPPING_KWARGS},
            dlatent_broadcast=self.num_layers,
            dtype=dtype,
        )
        if spectral_norm:  # Every conv/dense (the original MSG-GAN post's option).
            enable_spectral_norm(self)

    @property
    def latent_size(self):
        return self.mapping.latent_size

    def build(self, input_shape=None):
        self.mapping.build()
        self.synthesis.build()
        # Read in float32 under a mixed policy too: the moving average must
        # not round to bfloat16 at every update.
        self.dlatent_avg = self.add_weight(
            name="dlatent_avg",
            shape=(self.mapping.dlatent_size,),
            initializer="zeros",
            trainable=False,
            aggregation="mean",
            autocast=False,
        )
        self.built = True

    def truncate(self, dlatents, truncation_psi, truncation_cutoff):
        """Moves the first `truncation_cutoff` layers' w towards the average.

        Args:
            dlatents: `[N, num_layers, dlatent_size]`.
            truncation_psi: float or scalar tensor; 1 keeps w.
            truncation_cutoff: number of layers to truncate.

        Returns:
            `[N, num_layers, dlatent_size]`: avg + (w - avg) * psi on those layers.
        """
        layer_idx = np.arange(self.num_layers)[np.newaxis, :, np.newaxis]
        psi = tf.cast(truncation_psi, dlatents.dtype)
        ones = tf.ones(layer_idx.shape, dtype=dlatents.dtype)
        coefs = tf.where(layer_idx < truncation_cutoff, psi * ones, ones)
        avg = tf.cast(self.dlatent_avg, dlatents.dtype)
        return avg + (dlatents - avg) * coefs

    def call(
        self,
        latents,
        labels=None,
        truncation_psi=CONFIGURED,
        truncation_cutoff=CONFIGURED,
        randomize_noise=None,
        training=False,
        noise_seed=None,
        noise=None,
    ):
        if randomize_noise is None:
            randomize_noise = self.randomize_noise
        dlatents = self.mapping(latents, labels)
        # Update the moving average of W (training only).
        beta = self.dlatent_avg_beta
        if training and beta is not None and beta != 1:
            batch_avg = tf.reduce_mean(tf.cast(dlatents[:, 0], tf.float32), axis=0)
            self.dlatent_avg.assign(batch_avg + (self.dlatent_avg - batch_avg) * beta)
        # Apply the truncation trick (never in training).
        if not training:
            psi, cutoff = truncation_psi, truncation_cutoff
            psi = self.truncation_psi if _configured(psi) else psi
            cutoff = self.truncation_cutoff if _configured(cutoff) else cutoff
            static_off = isinstance(psi, (int, float)) and psi == 1
            static_off |= isinstance(cutoff, (int, float)) and cutoff <= 0
            if psi is not None and cutoff is not None and not static_off:
                dlatents = self.truncate(dlatents, psi, cutoff)
        return self.synthesis(
            dlatents,
            randomize_noise=randomize_noise,
            noise_seed=noise_seed,
            noise=noise,
        )

    def official_variable_map(self):
        out = {"G/dlatent_avg": (self.dlatent_avg, official.SAME)}
        out.update(self.mapping.official_variable_map())
        out.update(self.synthesis.official_variable_map())
        # Numbered as checkpoints always have: each network's layers reversed.
        layers = spectral_norm_layers(self.synthesis.blocks)[::-1]
        layers += self.mapping.dense_layers[::-1]
        out.update(official.spectral_norm_entries("G", layers))
        return out
