"""What every experiment script does at the end: write ``results/<name>.{json,md}``."""

import os
import platform
import time
from pathlib import Path

from tfav.files import atomic_write_json, atomic_write_text

RESULTS = Path(__file__).parent / "results"


def machine() -> str:
    from tfav.precision import bfloat16_hardware

    amx = "AMX" if bfloat16_hardware() == "AMX" else "no AMX"
    return f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, {amx}"


def write_results(name: str, result: dict, markdown) -> None:
    """Stamp ``result`` with the machine and UTC date, write it as JSON and as the
    Markdown that ``markdown(result)`` renders (both atomically), and print the latter."""
    result.update(machine=machine(), date_utc=time.strftime("%Y-%m-%d %H:%M", time.gmtime()))
    RESULTS.mkdir(parents=True, exist_ok=True)
    text = markdown(result)
    atomic_write_json(RESULTS / f"{name}.json", result)
    atomic_write_text(RESULTS / f"{name}.md", text)
    print(text)
