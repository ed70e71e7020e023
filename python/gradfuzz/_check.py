"""Checking a Python backward function: gradfuzz runs with a relay as its exec engine, and
the relay's requests are answered here, in the caller's process."""
import json
import os
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Callable, Iterable, List, Optional, Union

from ._binary import find_binary
from ._report import Report
from ._serve import answer_line, declaration, dtype_of

PathLike = Union[str, os.PathLike]


class GradfuzzError(RuntimeError):
    """gradfuzz refused the run (a bad flag, an unreadable case file): its message."""


class _Server:
    """Answers the relays' connections (one per gradfuzz worker) with ``backward``, one
    request at a time, so the caller's function need not be thread-safe."""

    def __init__(self, backward: Callable, dtype, declared: dict):
        self.backward = backward
        self.dtype = dtype
        # The answer to gradfuzz's hello: what the command line's flags say too.
        self.declared = declared
        self.token = secrets.token_hex(16)
        self.folder = tempfile.mkdtemp(prefix="gradfuzz-")
        self.path = os.path.join(self.folder, "engine.sock")
        self.lock = threading.Lock()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen()
        self.errors: List[BaseException] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        with connection, connection.makefile("rwb") as channel:
            if channel.readline().strip().decode(errors="replace") != self.token:
                return
            for line in channel:
                with self.lock:
                    reply = answer_line(self.backward, line.decode(), self.dtype, self.declared)
                channel.write(reply.encode() + b"\n")
                channel.flush()

    def close(self) -> None:
        self.listener.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def _engine_command(server: _Server) -> str:
    return "exec:" + " ".join(
        shlex.quote(part)
        for part in (sys.executable, "-m", "gradfuzz._relay", server.path, server.token)
    )


def check(
    backward: Callable,
    *,
    graphs: int = 1000,
    seed: int = 0,
    precision: str = "f64",
    values: str = "normal",
    max_nodes: Optional[int] = None,
    max_dim: Optional[int] = None,
    mode: Optional[str] = None,
    cases: Union[None, PathLike, Iterable[PathLike]] = None,
    jobs: Optional[int] = None,
    timeout: Optional[float] = None,
    gates: Union[None, str, Iterable[str]] = None,
    args: Iterable[str] = (),
    network=None,
    sizes=None,
) -> Report:
    """Check ``backward`` with gradfuzz and return the :class:`Report`.

    ``backward(graph)`` gets a :class:`gradfuzz.Graph` and returns the gradient of its loss
    with respect to every input and weight (a dict from name to array), or a pair
    ``(gradients, loss)``. By default it is fuzzed: ``graphs`` random graphs of ``seed``
    (``max_nodes``, ``max_dim``, ``values`` as for ``gradfuzz fuzz``). With ``cases`` (a
    case file, a folder of them, or a list), those graphs are checked instead
    (``gradfuzz check``). ``precision`` is the engine's (``f64``, ``f32``, ``f16``,
    ``bf16``); leaf values arrive as arrays of that dtype. ``gates`` are the gates
    ``backward`` computes (gate names, ``"batch"`` for matrix inputs and targets,
    ``"lecture"`` or ``"all"``; a comma-separated string or a list): by default the four
    gates of the lecture on vectors, and only graphs of the declared gates are made or
    checked. ``args`` are more flags for the command line. Failing graphs are blamed and shrunk; ``str(report)`` shows them.

    With ``network`` (a template, :class:`gradfuzz.Network`, and ``sizes``, its sizes'
    ranges), ``graphs`` networks of that template at random sizes and values are checked
    instead, for a ``backward`` that knows one network only; failing networks are listed
    smallest first rather than shrunk.
    """
    if network is not None:
        from ._network import check_network

        if cases is not None:
            raise ValueError("check: give `network` or `cases`, not both")
        return check_network(
            backward, network, sizes, graphs=graphs, seed=seed, values=values, gates=gates,
            precision=precision, jobs=jobs, timeout=timeout, args=args,
        )
    if sizes is not None:
        raise ValueError("check: `sizes` are the ranges of a `network` template's sizes")
    dtype = dtype_of(precision)
    label = getattr(backward, "__qualname__", None) or type(backward).__name__
    server = _Server(backward, dtype, declaration(precision, gates, label))
    try:
        command = [find_binary()]
        if cases is None:
            command += ["fuzz", "--graphs", str(graphs), "--seed", str(seed), "--values", values]
            if max_nodes is not None:
                command += ["--max-nodes", str(max_nodes)]
            if max_dim is not None:
                command += ["--max-dim", str(max_dim)]
            if mode is not None:
                command += ["--mode", mode]
        else:
            paths = [cases] if isinstance(cases, (str, os.PathLike)) else list(cases)
            command += ["check", *(str(Path(p)) for p in paths)]
        command += ["--engine", _engine_command(server), "--precision", precision]
        command += ["--format", "json"]
        if jobs is not None:
            command += ["--jobs", str(jobs)]
        if timeout is not None:
            command += ["--timeout", str(timeout)]
        if gates is not None:
            listed = gates if isinstance(gates, str) else ",".join(gates)
            command += ["--gates", listed]
        command += list(args)
        environment = dict(os.environ)
        # The relay imports this very package, wherever it was imported from.
        here = str(Path(__file__).resolve().parent.parent)
        environment["PYTHONPATH"] = os.pathsep.join(
            [here] + ([environment["PYTHONPATH"]] if environment.get("PYTHONPATH") else [])
        )
        finished = subprocess.run(command, capture_output=True, text=True, env=environment)
    finally:
        server.close()
    try:
        raw = json.loads(finished.stdout)
    except ValueError:
        raise GradfuzzError(
            f"gradfuzz exited with status {finished.returncode}: {finished.stderr.strip()}"
        ) from None
    report = Report(raw, command, finished.stderr, finished.returncode)
    report._name_engine(f"python:{label}", _engine_command(server))
    return report


def assert_backward(backward: Callable, **options) -> Report:
    """:func:`check`, raising ``AssertionError`` with the text report (failing entries,
    blame, shrunk cases) unless it passed; for pytest. Returns the report."""
    report = check(backward, **options)
    if not report.passed:
        raise AssertionError("gradfuzz: the backward function failed\n" + report.text())
    return report
