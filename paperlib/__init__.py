"""StreamVoiceAnon+ reference companion.

Sub-modules:
    paths      single source of every on-disk location
    config     dataclass configs and the smoke/mini/full scale presets
    audio      validated audio I/O (clear errors for bad input)
    data       MiniVPC generator, Kaldi data dirs, real-corpus adapters
    pairs      finetuning pairs and prompt strategies
    tokenizers acoustic codec (WORLD-parameter FSQ codec) and content encoder
    model      Slow AR + Fast AR codec language model (one flat file)
    streaming  typed streaming state base class
    train      pretraining / finetuning CLI (resumable, torchrun-capable)
    anonymize  offline + streaming inference, prompt strategies
    eval       VoicePrivacy-2024-style evaluation (WER, UAR, EER-L, EER-S)
"""
__version__ = "0.1.0"
