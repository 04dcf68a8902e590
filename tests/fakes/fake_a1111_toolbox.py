"""The fake A1111's toolbox: LoRAs, embeddings, styles, upscalers (`GET /loras` ... formats of
`/work/shared/reference/a1111-api.md`), and A1111's style merging."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["LATENT_MODES", "FakeEmbedding", "FakeLora", "default_embeddings", "default_loras",
           "default_styles", "default_upscalers", "merge_prompts"]


@dataclass
class FakeLora:
    """A LoRA file. `sha256` gives the 12-hex hash written in the infotext's `Lora hashes`."""

    name: str
    sha256: str
    alias: str | None = None  # metadata ss_output_name
    metadata: dict[str, Any] = field(default_factory=dict)

    def api(self) -> dict[str, Any]:
        """A `GET /loras` entry."""
        return {"name": self.name, "alias": self.alias or self.name,
                "path": f"/opt/stable-diffusion-webui/models/Lora/{self.name}.safetensors",
                "metadata": dict(self.metadata)}


@dataclass
class FakeEmbedding:
    name: str
    shape: int = 768
    vectors: int = 1
    sha256: str = "f568ea900cb6d3a1a7fd8a2b14a8a5a0c0b8d5f49d7b2e6f7c1f6c8e0d9a1b2c"


def default_loras() -> list[FakeLora]:
    return [
        FakeLora("ink-line", "7c6bad76eb54a1c4e8b3d7f1f0a2c9e8b4d6a8f0c2e4b6d8f0a2c4e6b8d0f2a4",
                 "inkLineArt",
                 {"ss_sd_model_name": "v1-5-pruned-emaonly.safetensors",
                  "ss_tag_frequency": {"img": {"ink": 3}}, "ss_base_model_version": "sd_v1",
                  "ss_network_dim": "4", "ss_output_name": "inkLineArt",
                  "ss_network_module": "networks.lora"}),
        FakeLora("plain", "1728303b3609e4f1c2d3b4a5968778695a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d"),
    ]


def default_embeddings() -> list[FakeEmbedding]:
    return [FakeEmbedding("bad-hands", 768, 2), FakeEmbedding("sd2-negative", 1024, 1,
                                                              "a3f1c2d4e5b6" + "0" * 52)]


def default_styles() -> list[dict[str, str]]:
    return [
        {"name": "Cinematic", "prompt": "cinematic still of {prompt}, shallow depth of field",
         "negative_prompt": "cartoon, drawing"},
        {"name": "Watercolor", "prompt": "watercolor painting, soft edges",
         "negative_prompt": "photo, 3d render"},
    ]


_UPSCALER_URLS = {
    "DAT x2": "https://github.com/zhengchen1999/DAT/releases/download/v0.1/DAT_x2.pth",
    "DAT x3": "https://github.com/zhengchen1999/DAT/releases/download/v0.1/DAT_x3.pth",
    "DAT x4": "https://github.com/zhengchen1999/DAT/releases/download/v0.1/DAT_x4.pth",
    "ESRGAN_4x": "https://github.com/cszn/KAIR/releases/download/v1.0/ESRGAN.pth",
    "LDSR": "https://heibox.uni-heidelberg.de/f/578df07c8fc04ffbadf3/?dl=1",
    "R-ESRGAN 4x+": "https://github.com/xinntao/Real-ESRGAN/releases/download/v0.1.0/"
                    "RealESRGAN_x4plus.pth",
    "R-ESRGAN 4x+ Anime6B": "https://github.com/xinntao/Real-ESRGAN/releases/download/v0.2.2.4/"
                            "RealESRGAN_x4plus_anime_6B.pth",
    "ScuNET GAN": "https://github.com/cszn/KAIR/releases/download/v1.0/scunet_color_real_gan.pth",
    "ScuNET PSNR": "https://github.com/cszn/KAIR/releases/download/v1.0/scunet_color_real_psnr.pth",
    "SwinIR 4x": "https://github.com/JingyunLiang/SwinIR/releases/download/v0.0/"
                 "003_realSR_BSRGAN_DFOWMFC_s64w8_SwinIR-L_x4_GAN.pth",
}


def default_upscalers() -> list[dict[str, Any]]:
    """GET /upscalers of a stock v1.10.1 (model files not downloaded yet)."""
    plain = [{"name": name, "model_name": None, "model_path": None, "model_url": None,
              "scale": 4.0} for name in ("None", "Lanczos", "Nearest")]
    return plain + [{"name": name, "model_name": name, "model_path": url, "model_url": None,
                     "scale": {"DAT x2": 2.0, "DAT x3": 3.0}.get(name, 4.0)}
                    for name, url in _UPSCALER_URLS.items()]


LATENT_MODES = ("Latent", "Latent (antialiased)", "Latent (bicubic)",
                "Latent (bicubic antialiased)", "Latent (nearest)", "Latent (nearest-exact)")


def merge_prompts(style_prompt: str, prompt: str) -> str:
    """`styles.merge_prompts`: `{prompt}` replaced by the prompt, else appended after ", "."""
    if "{prompt}" in style_prompt:
        return style_prompt.replace("{prompt}", prompt)
    return ", ".join(part for part in (prompt.strip(), style_prompt.strip()) if part)
