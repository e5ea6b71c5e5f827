"""vak integration: model-family registration and the runner of vak TOML configs.

Import :mod:`vocalpy_xai.vak.families` to register ESNDecoder with vak (it imports torch
and lightning); :mod:`vocalpy_xai.vak.run` runs configs (``vocalpy-xai train CONFIG``).
"""
