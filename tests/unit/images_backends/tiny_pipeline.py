"""A tiny random-weight Stable Diffusion pipeline, built here and saved to disk: no download.

Real diffusers classes (UNet2DConditionModel, AutoencoderKL, CLIPTextModel, a CLIP tokenizer with
a byte-level vocabulary made here) at toy sizes, so the real loading and generation code
runs on CPU in well under a second per image.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _byte_symbols() -> list[str]:
    """GPT-2's printable stand-ins for the 256 byte values, the alphabet of CLIP's byte-level BPE."""
    kept = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    symbols = [chr(b) for b in kept]
    extra = 0
    for byte in range(256):
        if byte not in kept:
            symbols.append(chr(256 + extra))
            extra += 1
    return symbols


def _byte_vocab() -> dict[str, int]:
    vocab: dict[str, int] = {}
    symbols = _byte_symbols()
    for token in ["<|startoftext|>", "<|endoftext|>", *symbols, *(s + "</w>" for s in symbols)]:
        vocab.setdefault(token, len(vocab))
    return vocab


def build_tiny_pipeline() -> Any:
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16),
        layers_per_block=1,
        sample_size=8,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=16,
        norm_num_groups=4,
        attention_head_dim=4,
    )
    vae = AutoencoderKL(
        block_out_channels=(8, 16),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        norm_num_groups=4,
        sample_size=32,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
            hidden_size=16,
            intermediate_size=32,
            num_attention_heads=2,
            num_hidden_layers=2,
            vocab_size=1000,
            max_position_embeddings=77,
        )
    )
    tokenizer = CLIPTokenizer(vocab=_byte_vocab(), merges=[], model_max_length=77)
    pipe = StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler=EulerDiscreteScheduler(steps_offset=1),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def save_tiny_pipeline(directory: Path) -> Path:
    """Build the tiny pipeline and save it as a model directory ``from_pretrained`` can load."""
    pipe = build_tiny_pipeline()
    pipe.save_pretrained(str(directory))
    return directory
