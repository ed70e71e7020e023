"""Where the gradfuzz binary is: the one installed with this package, unless told otherwise."""
import os
import shutil
import sys
import sysconfig
from pathlib import Path

EXECUTABLE = "gradfuzz" + (".exe" if sys.platform == "win32" else "")


class BinaryNotFound(RuntimeError):
    """The gradfuzz binary is not installed where this package expects it."""


def find_binary() -> str:
    """The path of the gradfuzz binary.

    In order: the ``GRADFUZZ_BINARY`` environment variable; the scripts folder of this
    interpreter's installation (where ``pip install gradfuzz`` puts it); the user scripts
    folder (``pip install --user``); the folder of the running interpreter; ``PATH``.
    """
    explicit = os.environ.get("GRADFUZZ_BINARY")
    if explicit:
        if not Path(explicit).is_file():
            raise BinaryNotFound(f"GRADFUZZ_BINARY={explicit} is not a file")
        return explicit
    folders = [sysconfig.get_path("scripts")]
    user_scheme = f"{os.name}_user"
    if user_scheme in sysconfig.get_scheme_names():
        folders.append(sysconfig.get_path("scripts", scheme=user_scheme))
    folders.append(str(Path(sys.executable).parent))
    for folder in folders:
        candidate = Path(folder) / EXECUTABLE
        if candidate.is_file():
            return str(candidate)
    on_path = shutil.which(EXECUTABLE)
    if on_path:
        return on_path
    raise BinaryNotFound(
        "the gradfuzz binary was not found next to this Python "
        f"({', '.join(folders)}) nor on PATH; reinstall the package "
        "(pip install gradfuzz) or set GRADFUZZ_BINARY to its path"
    )
