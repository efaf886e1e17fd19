"""Tiny ``transformers`` models with seeded random weights, saved as the Hugging Face hub
holds them (``save_pretrained`` files, then the hub layout through ``hub_server.put_file``):
a ViT and a ConvNeXt classifier, a CLIP and a SigLIP dual encoder, a DINOv2 backbone. Each
``make_*`` writes its files into a folder and returns the model (eval mode) and, for the
dual encoders, its tokenizer: the reference the tests run through transformers directly."""

from __future__ import annotations

import io
from pathlib import Path

import torch

from hub_server import put_file

SIDE = 32          # input side of every tiny model
TEXT_LEN = 64      # the text towers' context length


def _tower(**extra) -> dict:
    return dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                image_size=SIDE, patch_size=8, **extra)


def _seeded(make, seed: int):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return make().eval()


def make_vit_classifier(folder: Path, id2label: dict, seed: int = 0):
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    config = ViTConfig(**_tower(), id2label=id2label, label2id={v: k for k, v in id2label.items()})
    model = _seeded(lambda: ViTForImageClassification(config), seed)
    model.save_pretrained(folder)
    ViTImageProcessor(size={"height": SIDE, "width": SIDE}).save_pretrained(folder)
    return model


def make_convnext_classifier(folder: Path, id2label: dict, seed: int = 0):
    from transformers import ConvNextConfig, ConvNextForImageClassification, ConvNextImageProcessor

    config = ConvNextConfig(num_stages=2, depths=[1, 1], hidden_sizes=[8, 16], id2label=id2label,
                            label2id={v: k for k, v in id2label.items()})
    model = _seeded(lambda: ConvNextForImageClassification(config), seed)
    model.save_pretrained(folder)
    ConvNextImageProcessor(size={"shortest_edge": SIDE}, crop_pct=0.875).save_pretrained(folder)
    return model


def make_dinov2(folder: Path, seed: int = 0):
    from transformers import BitImageProcessor, Dinov2Config, Dinov2Model

    model = _seeded(lambda: Dinov2Model(Dinov2Config(**_tower())), seed)
    model.save_pretrained(folder)
    BitImageProcessor(size={"shortest_edge": 36}, crop_size={"height": SIDE, "width": SIDE},
                      image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225]).save_pretrained(folder)
    return model


def make_clip(folder: Path, seed: int = 0):
    """A CLIP model with a byte-level character vocabulary (no merges): every prompt is
    tokenised, one token per character."""
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in sorted(ByteLevel.alphabet()):
        vocab[c], vocab[c + "</w>"] = len(vocab), len(vocab) + 1
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=TEXT_LEN)
    text = dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=2, max_position_embeddings=TEXT_LEN, bos_token_id=0, eos_token_id=1,
                pad_token_id=1)
    config = CLIPConfig(text_config=text, vision_config=_tower(), projection_dim=16)
    model = _seeded(lambda: CLIPModel(config), seed)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": SIDE}, crop_size={"height": SIDE, "width": SIDE}).save_pretrained(folder)
    return model, tokenizer


def make_siglip(folder: Path, sentences, seed: int = 0):
    """A SigLIP model whose SentencePiece vocabulary is trained on ``sentences``."""
    import sentencepiece as spm
    from transformers import SiglipConfig, SiglipImageProcessor, SiglipModel, SiglipTokenizer

    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(sentences), model_writer=buf, vocab_size=300,
                                   model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1, minloglevel=2)
    folder.mkdir(parents=True, exist_ok=True)
    vocab_file = folder.parent / f"{folder.name}.spm.model"
    vocab_file.write_bytes(buf.getvalue())
    tokenizer = SiglipTokenizer(vocab_file=str(vocab_file), model_max_length=TEXT_LEN)
    text = dict(vocab_size=300, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                max_position_embeddings=TEXT_LEN, pad_token_id=0, eos_token_id=1, bos_token_id=None)
    model = _seeded(lambda: SiglipModel(SiglipConfig(text_config=text, vision_config=_tower())), seed)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    SiglipImageProcessor(size={"height": SIDE, "width": SIDE}).save_pretrained(folder)
    return model, tokenizer


def publish(hub_root: Path, repo_id: str, folder: Path) -> str:
    """Every file of ``folder`` into the hub-layout ``hub_root`` as repo ``repo_id``; the commit."""
    commit = ""
    for f in sorted(Path(folder).iterdir()):
        commit = put_file(hub_root, repo_id, f.name, f.read_bytes())
    return commit
