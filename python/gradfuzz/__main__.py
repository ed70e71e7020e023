"""``python -m gradfuzz ARGS``: the gradfuzz command line, with ARGS."""
import os
import subprocess
import sys

from ._binary import BinaryNotFound, find_binary


def main() -> int:
    try:
        binary = find_binary()
    except BinaryNotFound as error:
        print(f"gradfuzz: {error}", file=sys.stderr)
        return 2
    if os.name == "posix":
        os.execv(binary, [binary, *sys.argv[1:]])
    return subprocess.call([binary, *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
