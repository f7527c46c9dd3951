"""tfav: cross-modal audio-visual generation of musical performances."""

from setuptools import find_packages, setup

setup(
    name="tfav",
    version="0.1.0",
    description=(
        "Sound-to-image and image-to-sound GANs for musical performances "
        "(Chen et al. 2017, Wan et al. 2019, Yang et al.) in TensorFlow/Keras"
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["tfav", "tfav.*"]),
    python_requires=">=3.10",
    install_requires=[
        "tensorflow>=2.21,<2.22",
        "keras>=3.10",
        "keras-tuner>=1.4.8",
        "tensorboard",
        "numpy",
        "scipy",
        "soundfile",
        "Pillow",
        "matplotlib",
        "sf2utils",
        "pretty_midi",
        "tqdm",
    ],
    extras_require={
        "video": ["av"],
        "dev": ["pytest", "pytest-xdist", "ruff", "librosa", "ai-edge-litert", "av", "selenium"],
    },
)
