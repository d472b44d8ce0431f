"""Data: presets, Hub ids and local files -> roles by column name -> pairs or triplets."""

from siamese_text.data.loading import PairData, load_data
from siamese_text.data.presets import PRESETS, DatasetPreset

__all__ = ["PRESETS", "DatasetPreset", "PairData", "load_data"]
