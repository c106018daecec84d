"""The networks: ops, layers, blocks, the generators and discriminators, presets
and official names. `build.py` builds a preset's G and D."""
