"""Print docloop's pinned requirements from pyproject.toml, one a line, for an image build.

The Dockerfile installs these before it copies the source, so a change to the code reuses the
dependency layers. ``--torch-variant cu128`` (for example) asks for PyTorch's CUDA build of the
pinned version (``torch==2.13.0+cu128``) instead of the CPU one.

Usage: python3 requirements.py PYPROJECT [--extra train] [--only-extras] [--torch-variant cpu]
"""

from __future__ import annotations

import argparse
import tomllib


def requirements(
    project: dict, extras: list[str], *, only_extras: bool, torch_variant: str
) -> list[str]:
    """The requirement lines of the base install (unless ``only_extras``) and of ``extras``."""
    lines = [] if only_extras else list(project["dependencies"])
    for extra in extras:
        lines += project["optional-dependencies"][extra]
    return [
        f"{line}+{torch_variant}" if line.startswith("torch==") and torch_variant else line
        for line in lines
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pyproject")
    parser.add_argument("--extra", action="append", default=[])
    parser.add_argument("--only-extras", action="store_true")
    parser.add_argument("--torch-variant", default="")
    args = parser.parse_args()
    with open(args.pyproject, "rb") as fh:
        project = tomllib.load(fh)["project"]
    lines = requirements(
        project, args.extra, only_extras=args.only_extras, torch_variant=args.torch_variant
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
