"""What a check found, read from gradfuzz's JSON report."""
import html
import json
import re
from typing import List, Optional


class Entry:
    """One gradient entry that did not pass: ``label`` (``x0[1]``, ``W1[0,2]``), the
    ``analytic`` value the engine gave and the ``numeric`` one the oracles computed, the
    ``error`` between them and the ``tolerance``, and the ``verdict`` (``mismatch``,
    ``non-finite`` or ``unchecked``)."""

    def __init__(self, raw: dict):
        self.raw = raw
        self.label: str = raw.get("label", "?")
        self.leaf: str = raw.get("leaf", "?")
        self.verdict: str = raw.get("verdict", "?")
        self.analytic = raw.get("analytic")
        self.numeric = raw.get("numeric")
        self.error = raw.get("error")
        self.tolerance = raw.get("tolerance")
        self.ratio = raw.get("ratio")
        self.oracle = raw.get("oracle")

    def line(self) -> str:
        def number(x):
            return "?" if x is None else f"{x:+.12e}"

        text = f"{self.verdict.upper()} {self.label}: analytic {number(self.analytic)}, numeric {number(self.numeric)}"
        if self.error is not None and self.tolerance is not None:
            # JSON carries an infinite or undefined ratio as a string or null.
            if isinstance(self.ratio, (int, float)):
                ratio = f"{self.ratio:.4g}"
            else:
                ratio = "inf" if self.error else "0"
            text += f", error {self.error:.3e} = {ratio} × tolerance {self.tolerance:.3e}"
        if self.raw.get("unchecked_because"):
            text += f" (unchecked: {self.raw['unchecked_because']})"
        return text


def _number(x) -> str:
    return "?" if x is None else f"{x:+.6e}"


def _entries_html(entries: List["Entry"], limit: int = 10) -> str:
    """The failing entries as rows of an HTML table, worst first."""
    rows = []
    for e in entries[:limit]:
        ratio = f"{e.ratio:.3g}" if isinstance(e.ratio, (int, float)) else ("inf" if e.error else "")
        cells = [e.verdict, e.label, _number(e.analytic), _number(e.numeric), ratio]
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    if len(entries) > limit:
        rows.append(f"<tr><td colspan='5'>… and {len(entries) - limit} more entries</td></tr>")
    head = "".join(
        f"<th>{h}</th>" for h in ("verdict", "entry", "analytic", "numeric", "error / tolerance")
    )
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


class Failure:
    """A failing graph (``fuzz``) or case file (``check``): its failing ``entries`` worst
    first, the ``blame`` (which gate's rule, or a fan-out), and ``shrunk_case``, the
    smallest graph that still fails, as a case file's YAML text."""

    def __init__(self, raw: dict, where: str):
        self.raw = raw
        self.where = where
        report = raw.get("report") or {}
        self.entries: List[Entry] = [Entry(e) for e in report.get("failing_entries", [])]
        self.loss_mismatch = report.get("loss_mismatch")
        blame = raw.get("blame") or {}
        self.blame: Optional[str] = blame.get("text")
        shrunk = raw.get("shrunk") or {}
        self.shrunk_case: Optional[str] = shrunk.get("case")
        self.shrunk_nodes: Optional[int] = shrunk.get("nodes")

    def text(self) -> str:
        lines = [self.where]
        lines += ["  " + e.line() for e in self.entries[:10]]
        if len(self.entries) > 10:
            lines.append(f"  ... and {len(self.entries) - 10} more entries")
        if self.loss_mismatch:
            lines.append(f"  FORWARD MISMATCH loss: {self.loss_mismatch}")
        if self.blame:
            lines.append(f"  blame: {self.blame}")
        if self.shrunk_case:
            lines.append(f"  shrunk to {self.shrunk_nodes} nodes:")
            lines += ["    | " + line for line in self.shrunk_case.rstrip("\n").split("\n")]
        return "\n".join(lines)


def _failure_html(failure: "Failure") -> str:
    parts = [f"<p><b>{html.escape(failure.where)}</b></p>", _entries_html(failure.entries)]
    if failure.loss_mismatch:
        parts.append(f"<p>forward mismatch: {html.escape(str(failure.loss_mismatch))}</p>")
    if failure.blame:
        parts.append(f"<p>blame: {html.escape(failure.blame)}</p>")
    if failure.shrunk_case:
        parts.append(
            f"<details><summary>shrunk to {failure.shrunk_nodes} nodes</summary>"
            f"<pre>{html.escape(failure.shrunk_case)}</pre></details>"
        )
    return "".join(parts)


class Report:
    """The outcome of :func:`gradfuzz.check`. ``passed`` is the verdict; ``failures`` the
    failing graphs or cases; ``summary`` and ``run`` the JSON report's own sections;
    ``stopped`` says why a run stopped early (an engine that failed to answer), if it did.
    ``str(report)`` is a text report: what ran, the failures, the shrunk cases."""

    def __init__(self, raw: dict, command: List[str], stderr: str, status: int):
        self.json = raw
        self.command = command
        self.stderr = stderr
        self.status = status
        self.run = raw.get("run", {})
        self.summary = raw.get("summary", {})
        self.failures: List[Failure] = []
        if raw.get("command") == "check":
            for case in raw.get("cases", []):
                if not case.get("met", True):
                    where = f"{case.get('file')} ({case.get('name')}): expected {case.get('expect')}"
                    self.failures.append(Failure(case, where))
        else:
            for failure in raw.get("failures", []):
                where = f"graph {failure.get('graph')} ({failure.get('nodes')} nodes)"
                self.failures.append(Failure(failure, where))
        self.stopped: Optional[str] = self.summary.get("stopped_by") if status != 2 else (
            stderr.strip().splitlines()[-1] if stderr.strip() else "gradfuzz exited with status 2"
        )
        self.passed = status == 0
        # The sizes of the smallest failing network, for a check of a network template.
        self.smallest: Optional[dict] = None

    def _name_engine(self, label: str, engine: str) -> None:
        """Speak of the checked function as ``label`` rather than as the relay command
        ``engine`` (which names a socket that is gone), and leave the engine out of the
        shrunk cases, whose graph and expectation are what a user keeps."""
        if self.run.get("engine") == engine:
            self.run["engine"] = label
        slug = re.sub(r"[^A-Za-z0-9]+", "-", label).strip("-") or "backward"
        for failure in self.failures:
            if not failure.shrunk_case:
                continue
            lines = []
            for line in failure.shrunk_case.split("\n"):
                if line.startswith("engine:"):
                    continue
                if line.startswith("name:"):
                    # gradfuzz names a saved case `<engine>-<blame>-<fingerprint>`; the
                    # engine part becomes the label.
                    name = json.loads(line[len("name:"):].strip())
                    engine_slug = re.sub(r"[^A-Za-z0-9-]", "-", engine)
                    if name.startswith(engine_slug + "-"):
                        name = slug + name[len(engine_slug):]
                    line = "name: " + json.dumps(name)
                elif line.startswith("description:"):
                    line = line.replace(engine, label).replace(engine[len("exec:"):], label)
                lines.append(line)
            failure.shrunk_case = "\n".join(lines)

    @property
    def graphs(self) -> int:
        """How many graphs (or cases) were checked."""
        return self.summary.get("graphs", self.summary.get("cases", 0))

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        """In a notebook: the verdict line, then each failing graph's entries as a table,
        its blame and its shrunk case."""
        first = html.escape(self.text().split("\n", 1)[0])
        parts = [f"<p><b>{first}</b></p>"]
        parts += [_failure_html(f) for f in self.failures[:10]]
        if len(self.failures) > 10:
            parts.append(f"<p>… and {len(self.failures) - 10} more failing</p>")
        if self.status == 2 and self.stopped:
            parts.append(f"<p>stopped: {html.escape(self.stopped)}</p>")
        return "".join(parts)

    def text(self) -> str:
        s = self.summary
        if self.json.get("command") == "check":
            head = (
                f"gradfuzz check: {s.get('cases', 0)} cases, {s.get('as_expected', 0)} as expected, "
                f"{s.get('not_as_expected', 0)} not as expected, {s.get('invalid', 0)} invalid"
            )
        else:
            head = (
                f"gradfuzz fuzz: {s.get('graphs', 0)} graphs, {s.get('scalars', 0)} scalars: "
                f"{s.get('failing_graphs', 0)} failing, {s.get('mismatched_entries', 0)} mismatched "
                f"entries, {s.get('non_finite_entries', 0)} non-finite, "
                f"{s.get('unchecked_entries', 0)} unchecked"
            )
        verdict = "PASS" if self.passed else ("STOPPED" if self.status == 2 else "FAIL")
        lines = [f"{head}: {verdict}"]
        if self.run:
            lines.append(
                "run: " + ", ".join(f"{k} {v}" for k, v in self.run.items() if v is not None)
            )
        for failure in self.failures[:10]:
            lines.append(failure.text())
        if len(self.failures) > 10:
            lines.append(f"... and {len(self.failures) - 10} more failing")
        if self.status == 2 and self.stopped:
            lines.append(f"stopped: {self.stopped}")
        return "\n".join(lines)
