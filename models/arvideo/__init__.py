"""arvideo: Python reference for the arvideo GStreamer/Vulkan world-model plugins.

Modules:
  safetensors_io  minimal safetensors reader/writer (numpy only)
  card            model card (YAML) load/save/validate
  reference       plain PyTorch reference modules (tokenizer + predictors)
"""
