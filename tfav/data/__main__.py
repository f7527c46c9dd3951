"""``python -m tfav.data COMMAND ...``: build, inspect and convert pair datasets.

Each command lives in its own module, which provides ``add_arguments(parser)``
and ``run(args)``; modules are imported only when their command runs.
"""

import argparse
import importlib
import sys

from tfav.cli import one_line_errors

COMMANDS = {
    "stats": ("tfav.data.stats", "counts per split and category, unpaired files, audio formats"),
    "from-videos": ("tfav.data.videos", "cut performance videos into 0.5 s image-sound pairs"),
    "synth": ("tfav.data.synth", "build the embedded synthetic performance dataset"),
    "preview": ("tfav.data.preview", "PNG grid of example pairs (image above its log-mel)"),
    "to-tfrecord": ("tfav.data.tfrecord", "write a pair folder as TFRecord shards"),
}


@one_line_errors
def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(prog="python -m tfav.data", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(module=module_name)
        # Only the chosen command's module is imported, so `--help` stays fast.
        if argv[:1] == [name]:
            importlib.import_module(module_name).add_arguments(p)
    args = parser.parse_args(argv)
    return importlib.import_module(args.module).run(args)


if __name__ == "__main__":
    main()
