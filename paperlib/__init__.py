"""StreamVoiceAnon+ reference companion.

Layers, bottom up (a module imports only from layers below it; tests/test_layout.py checks there is no cycle):

    basics      paths, config, utils, checkpoint, audio, phones, streaming
    data        sentences, tts, world, data (MiniVPC), kaldi, adapters, align (forced phone alignment), pairs
    tokenizers  content_teacher (dense targets), tokenizers (content encoder, WORLD codec), train_tokenizers,
                speaker (ECAPA)
    lm          prosody (the source's explicit prosody stream, level transfer), model (Slow AR + Fast AR, one
                flat file), teacher (frame emotion teacher), train (pretraining,
                finetuning, distillation; torchrun-capable), inputs (recordings as they come: silence, level,
                clipping, long files, target-voice checks), anonymize (offline + streaming inference)
    evaluation  eval (WER, UAR, EER-L/S/ext with CIs), probes (tokenizer and LM reports), analysis
    stages      stages (the cached Workspace; every stage through checkpoint.cached / cached_model), systems (one YAML per table row), emotion_budget (where
                emotion is lost, step by step, up to the systems' outputs), pipeline, tables, figures,
                demo, bench, bundle, real_speech (the bundle on held-out real speech), notebooks, commands (CLIs
                of lower modules), __main__ (the anonymizer CLI)
"""
__version__ = "0.1.0"
