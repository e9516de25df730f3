"""Tiny random Hugging Face models (GPT-2, GPT-Neo, Llama; two layers) saved to a folder, no network.

The GPT-2 and GPT-Neo ones get a small byte-level BPE; the Llama one a SentencePiece-style BPE (``▁``
pieces, ``<0xHH>`` byte fallback, BOS added to every text), as the real models have.
"""

from __future__ import annotations

import json
from pathlib import Path

TEXT = (
    "Once upon a time there was a little dog called Tom. Tom liked to run in the park with his friend "
    "Lily. One day they found a big red ball under a tree, and they played until the sun went down. "
) * 4

SPECIAL_TEXT = "Tom ran — naïve café 😀 to the park."
"""Has characters outside the tiny vocabularies: they need byte pieces / byte fallback."""


def byte_level_tokenizer(vocab_size: int = 320):
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    bt = ByteLevelBPETokenizer()
    bt.train_from_iterator([TEXT], vocab_size=vocab_size, special_tokens=["<|endoftext|>"], show_progress=False)
    return PreTrainedTokenizerFast(tokenizer_object=bt._tokenizer, eos_token="<|endoftext|>",
                                   bos_token="<|endoftext|>", unk_token="<|endoftext|>")


def sentencepiece_tokenizer(vocab_size: int = 200):
    from tokenizers import Tokenizer, decoders, normalizers, processors
    from tokenizers.models import BPE
    from tokenizers.trainers import BpeTrainer
    from transformers import PreTrainedTokenizerFast

    t = Tokenizer(BPE(unk_token="<unk>", byte_fallback=True))
    t.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
    t.train_from_iterator([TEXT], BpeTrainer(vocab_size=vocab_size, special_tokens=["<unk>", "<s>", "</s>"],
                                             show_progress=False))
    data = json.loads(t.to_str())
    vocab = data["model"]["vocab"]
    for b in range(256):  # the byte-fallback pieces, as a SentencePiece vocabulary has them
        vocab.setdefault(f"<0x{b:02X}>", len(vocab))
    data["model"]["byte_fallback"] = True
    t = Tokenizer.from_str(json.dumps(data))
    t.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(),
                                   decoders.Strip(" ", 1, 0)])
    t.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                     special_tokens=[("<s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=t, bos_token="<s>", eos_token="</s>", unk_token="<unk>")


def build(kind: str, folder: Path, seed: int = 0) -> Path:
    """Save a tiny random ``kind`` (gpt2, gpt_neo, llama) model and its tokenizer in ``folder``."""
    import torch
    import transformers as tf

    torch.manual_seed(seed)
    if kind == "llama":
        tok = sentencepiece_tokenizer()
        cfg = tf.LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                             num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                             bos_token_id=1, eos_token_id=2, tie_word_embeddings=False)
        model = tf.LlamaForCausalLM(cfg)
    elif kind == "gpt_neo":
        tok = byte_level_tokenizer()
        cfg = tf.GPTNeoConfig(vocab_size=len(tok), hidden_size=32, num_layers=2, num_heads=4,
                              attention_types=[[["global", "local"], 1]], window_size=8,
                              max_position_embeddings=64, bos_token_id=0, eos_token_id=0)
        model = tf.GPTNeoForCausalLM(cfg)
    else:
        tok = byte_level_tokenizer()
        cfg = tf.GPT2Config(vocab_size=len(tok), n_embd=32, n_layer=2, n_head=4, n_positions=64,
                            bos_token_id=0, eos_token_id=0)
        model = tf.GPT2LMHeadModel(cfg)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder
