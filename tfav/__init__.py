"""tfav: cross-modal audio-visual generation of musical performances.

Importing the package selects the TensorFlow backend for Keras 3; it must
happen before anything imports keras.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
