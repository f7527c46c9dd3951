"""The embedded default dataset: sampled-instrument performances paired with rendered performers."""
