"""The networks, in backend-agnostic Keras 3: the conditional UNet and the judging classifier.

Only ``keras.layers`` and ``keras.ops`` are used, so the same code (and the same weight files)
runs on TensorFlow, JAX or PyTorch. The models are rebuilt from this code and given weights
with ``load_weights``: no model file is ever deserialised.

**UNet** (``build_unet``), about 1.9M parameters at the default widths:

- inputs: the noisy image ``x_t`` (32×32×3, in [-1, 1]), the time ``t/T`` and the caption's
  token ids (``vocab.MAX_TOKENS``);
- the *text encoder*: an embedding per token, a two-layer MLP per token, the mean over the
  real tokens (padding masked out), then a projection;
- the time goes through a sinusoidal embedding and an MLP; text and time are added into one
  conditioning vector, which scales and shifts the features inside every residual block (FiLM);
- three resolutions (32, 16, 8) down and up, two residual blocks each, skip connections;
- the output is the *velocity* ``v = √ᾱ·ε − √(1−ᾱ)·x₀`` (v-prediction): unlike ε, it stays
  informative at the noisiest step, so sampling in 1 or 2 steps still gives a picture.

**Classifier** (``build_classifier``): three convolution stages and two softmax heads, fruit
(6) and colour (5), on uint8-range images. It grades generations.
"""
from __future__ import annotations

import math

import keras
from keras import layers, ops

from grader.diffusion.vocab import COLOURS, FRUITS, MAX_TOKENS, PAD, TOKENS

IMAGE_SIZE = 32
DEFAULT_WIDTHS = (32, 64, 96)
COND_DIM = 128


@keras.saving.register_keras_serializable(package="stride")
class SinusoidalEmbedding(layers.Layer):
    """``t`` in [0, 1] (batch, 1) → sin/cos features at geometric frequencies (batch, dim)."""

    def __init__(self, dim: int = 64, **kwargs):
        super().__init__(**kwargs)
        self.dim = dim

    def call(self, t):
        half = self.dim // 2
        freqs = ops.exp(ops.arange(half, dtype="float32") * (-math.log(10_000.0) / (half - 1)))
        angles = ops.cast(t, "float32") * 1000.0 * freqs[None, :]
        return ops.concatenate([ops.sin(angles), ops.cos(angles)], axis=-1)

    def get_config(self):
        return {**super().get_config(), "dim": self.dim}


@keras.saving.register_keras_serializable(package="stride")
class MaskedMean(layers.Layer):
    """The mean of per-token features over the tokens that are not padding."""

    def call(self, features, tokens):
        mask = ops.cast(ops.not_equal(tokens, PAD), features.dtype)[..., None]
        return ops.sum(features * mask, axis=1) / ops.maximum(ops.sum(mask, axis=1), 1.0)


@keras.saving.register_keras_serializable(package="stride")
class Modulate(layers.Layer):
    """FiLM: ``h · (1 + scale) + shift``, with ``scale, shift`` projected from the condition."""

    def call(self, h, scale_shift):
        scale, shift = ops.split(scale_shift, 2, axis=-1)
        return h * (1.0 + scale[:, None, None, :]) + shift[:, None, None, :]


def _res_block(h, cond, channels: int, name: str):
    skip = h if h.shape[-1] == channels else layers.Conv2D(channels, 1, name=f"{name}_skip")(h)
    h = layers.GroupNormalization(8, name=f"{name}_norm1")(h)
    h = layers.Activation("silu")(h)
    h = layers.Conv2D(channels, 3, padding="same", name=f"{name}_conv1")(h)
    h = layers.GroupNormalization(8, name=f"{name}_norm2")(h)
    h = Modulate(name=f"{name}_film")(h, layers.Dense(2 * channels, name=f"{name}_cond")(cond))
    h = layers.Activation("silu")(h)
    h = layers.Conv2D(channels, 3, padding="same", name=f"{name}_conv2")(h)
    return layers.Add(name=f"{name}_out")([skip, h])


def build_text_encoder(dim: int = 128) -> keras.Model:
    tokens = keras.Input((MAX_TOKENS,), dtype="int32", name="tokens")
    h = layers.Embedding(len(TOKENS), dim, name="token_embedding")(tokens)
    h = layers.Dense(dim, activation="silu", name="token_mlp1")(h)
    h = layers.Dense(dim, name="token_mlp2")(h)
    h = MaskedMean(name="mean_over_tokens")(h, tokens)
    return keras.Model(tokens, layers.Dense(COND_DIM, name="text_projection")(h),
                       name="text_encoder")


def build_unet(widths: tuple[int, ...] = DEFAULT_WIDTHS, blocks: int = 2) -> keras.Model:
    image = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3), name="x_t")
    time = keras.Input((1,), name="t")
    tokens = keras.Input((MAX_TOKENS,), dtype="int32", name="tokens")

    t = SinusoidalEmbedding(64, name="time_sinusoid")(time)
    t = layers.Dense(COND_DIM, activation="silu", name="time_mlp1")(t)
    t = layers.Dense(COND_DIM, name="time_mlp2")(t)
    cond = layers.Add(name="condition")([t, build_text_encoder()(tokens)])
    cond = layers.Activation("silu", name="condition_act")(cond)

    h = layers.Conv2D(widths[0], 3, padding="same", name="conv_in")(image)
    skips = []
    for level, channels in enumerate(widths):
        for block in range(blocks):
            h = _res_block(h, cond, channels, f"down{level}_{block}")
            skips.append(h)
        if level < len(widths) - 1:
            h = layers.Conv2D(channels, 3, strides=2, padding="same", name=f"downsample{level}")(h)
    h = _res_block(h, cond, widths[-1], "mid0")
    h = _res_block(h, cond, widths[-1], "mid1")
    for level in reversed(range(len(widths))):
        for block in range(blocks):
            h = layers.Concatenate(name=f"up{level}_{block}_cat")([h, skips.pop()])
            h = _res_block(h, cond, widths[level], f"up{level}_{block}")
        if level > 0:
            h = layers.UpSampling2D(2, name=f"upsample{level}")(h)
            h = layers.Conv2D(widths[level - 1], 3, padding="same", name=f"upconv{level}")(h)
    h = layers.GroupNormalization(8, name="norm_out")(h)
    h = layers.Activation("silu")(h)
    v = layers.Conv2D(3, 3, padding="same", name="conv_out")(h)
    return keras.Model([image, time, tokens], v, name="stride_unet")


def build_classifier() -> keras.Model:
    """Fruit and colour of a 32×32 uint8-range image, as two probability vectors."""
    image = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3), name="image")
    h = layers.Rescaling(1 / 255, name="rescale")(image)
    for index, channels in enumerate((32, 64, 96)):
        h = layers.Conv2D(channels, 3, padding="same", activation="relu", name=f"conv{index}a")(h)
        h = layers.Conv2D(channels, 3, padding="same", activation="relu", name=f"conv{index}b")(h)
        h = layers.MaxPooling2D(name=f"pool{index}")(h)
    h = layers.GlobalAveragePooling2D(name="gap")(h)
    h = layers.Dense(128, activation="relu", name="dense")(h)
    fruit = layers.Dense(len(FRUITS), activation="softmax", name="fruit")(h)
    colour = layers.Dense(len(COLOURS), activation="softmax", name="colour")(h)
    return keras.Model(image, {"fruit": fruit, "colour": colour}, name="stride_fruit_judge")
