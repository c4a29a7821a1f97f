"""The application layer: one preflight for `run`, `demo` and tests, without the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

from netcheck import app
from netcheck.model import Check, CheckResult, Report, SkipReason, Status, Verdict
from netcheck.settings import Settings, SiteProfile

ROOT = Path(__file__).resolve().parent.parent


def test_preflight_returns_a_report_without_the_cli(tmp_path: Path) -> None:
    """A profile whose only checks are pure CIDR checks: the preflight runs, decides and remembers."""
    profile = SiteProfile.model_validate({
        "apiVersion": "netcheck/v1", "kind": "SiteProfile", "metadata": {"name": "app-test"},
        "spec": {"cluster": {"name": "c", "region": "us-west-2", "serviceCidr": "172.20.0.0/16"},
                 "vpc": {"cidrs": ["10.0.0.0/16"]},
                 "remoteNetwork": {"nodeCidrs": ["192.168.50.0/24"], "podCidrs": ["10.244.0.0/16"]}}})
    warnings: list[str] = []
    options = app.Options(only=("cidr.*",), deadline=20.0, phase="pre-join", history=tmp_path, warn=warnings.append)
    first = app.preflight(Settings(profile=profile, source="test"), options)
    assert isinstance(first.report, Report) and first.previous is None
    assert first.report.results and all(r.id.startswith("cidr.") for r in first.report.results)
    # the plan is sound; only the node IP check fails, since this host has no address in 192.168.50.0/24
    failing = {r.id for r in first.report.results if r.status is not Status.PASS}
    assert failing == {"cidr.node-ip.in-node-cidr"}, failing
    assert first.report.verdict is Verdict.NO_GO
    assert app.exit_code(first.report, written=True, signalled=False) == 3
    second = app.preflight(Settings(profile=profile, source="test"), options)
    assert second.previous is not None and second.previous.started_at == first.report.started_at
    assert not warnings


def test_no_module_imports_the_cli() -> None:
    """cli.py sits on top: nothing in the package imports it back (no cycle through demo)."""
    offenders = []
    for path in (ROOT / "netcheck").rglob("*.py"):
        if path.name in ("cli.py", "__main__.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "netcheck.cli":
                offenders.append(str(path))
    assert not offenders


def _runtime_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Every import that runs: module level and inside functions alike; `if TYPE_CHECKING:` blocks are not."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                found.append(child)
            visit(child)

    visit(tree)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module → the netcheck/probes modules it imports at run time (a lazy import inside a function counts)."""
    mods = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
            for pkg in ("netcheck", "probes") for p in (ROOT / pkg).rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, p in mods.items():
        for node in _runtime_imports(ast.parse(p.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(("netcheck", "probes")):
                for a in node.names:
                    full = f"{node.module}.{a.name}"
                    graph[m].add(full if full in mods else node.module)
            elif isinstance(node, ast.Import):
                graph[m].update(a.name for a in node.names if a.name.startswith(("netcheck", "probes")))
    return graph


def cycles_in(graph: dict[str, set[str]]) -> list[list[str]]:
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(u: str, stack: list[str]) -> None:
        state[u] = 1
        stack.append(u)
        for v in sorted(graph[u] & graph.keys()):
            if state.get(v) == 1:
                cycles.append([*stack[stack.index(v):], v])
            elif not state.get(v):
                visit(v, stack)
        stack.pop()
        state[u] = 2

    for m in sorted(graph):
        if not state.get(m):
            visit(m, [])
    return cycles


def test_no_import_cycle_among_netcheck_modules() -> None:
    """Imports inside netcheck and probes form no cycle, counting imports inside functions too."""
    cycles = cycles_in(import_graph())
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


def test_the_cycle_test_sees_function_level_imports() -> None:
    """A lazy import back (inside a function) is an edge: the circle settings → nodeconfig → settings is found."""
    tree = ast.parse("def f():\n    from netcheck.settings import _loc\nif TYPE_CHECKING:\n    import netcheck.cli\n")
    assert [ast.unparse(n) for n in _runtime_imports(tree)] == ["from netcheck.settings import _loc"]
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles_in(graph) == [["a", "b", "c", "a"]]


def test_no_module_over_500_lines_without_a_reason() -> None:
    long = [p for p in (ROOT / "netcheck").rglob("*.py") if len(p.read_text().splitlines()) > 500]
    unexplained = [str(p) for p in long if "Over 500 lines on purpose" not in (ast.get_docstring(
        ast.parse(p.read_text())) or "")]
    assert not unexplained


def test_a_signal_before_the_checks_start_still_gives_a_report() -> None:
    """SIGTERM during start-up (recorded while deferred) ends the run with an interrupted report, not no report."""
    import signal

    from netcheck import signals

    profile = SiteProfile.model_validate({
        "apiVersion": "netcheck/v1", "kind": "SiteProfile", "metadata": {"name": "app-test"},
        "spec": {"cluster": {"name": "c", "region": "us-west-2", "serviceCidr": "172.20.0.0/16"},
                 "vpc": {"cidrs": ["10.0.0.0/16"]},
                 "remoteNetwork": {"nodeCidrs": ["192.168.50.0/24"], "podCidrs": ["10.244.0.0/16"]}}})
    try:
        with signals.deferred():
            signals._on_signal(signal.SIGTERM, None)  # as the handler records a signal during start-up
        report = app.preflight(Settings(profile=profile, source="test"),
                               app.Options(only=("cidr.*",), deadline=20.0, phase="pre-join")).report
    finally:
        signals.reset()
    assert report.interrupted and report.verdict is Verdict.INCONCLUSIVE
    assert report.results and {(r.status, r.outcome.skip_reason) for r in report.results} == {
        (Status.SKIP, SkipReason.INTERRUPTED)}


def test_progress_sees_every_check_once_though_the_first_start_before_the_plan_is_whole() -> None:
    """The latency and mtu checks start while the rest is planned; the display (made once the number of
    checks is known) still gets each check's start and end once, the total first. Loopback only."""
    from testbed import free_port

    profile = SiteProfile.model_validate({
        "apiVersion": "netcheck/v1", "kind": "SiteProfile", "metadata": {"name": "app-test"},
        "spec": {"cluster": {"name": "c", "region": "us-west-2", "serviceCidr": "172.20.0.0/16"},
                 "vpc": {"cidrs": ["10.0.0.0/16"]}, "responder": f"127.0.0.1:{free_port()}",
                 "latency": {"samples": 3, "interval": 0.05},
                 "remoteNetwork": {"nodeCidrs": ["192.168.50.0/24"], "podCidrs": ["10.244.0.0/16"]}}})
    events: list[tuple[str, object]] = []

    class Recorder:
        def __init__(self, total: int) -> None:
            events.append(("total", total))

        def started(self, check: Check) -> None:
            events.append(("started", check.id))

        def finished(self, result: CheckResult) -> None:
            events.append(("finished", result.id))

        def close(self) -> None:
            events.append(("close", None))

    options = app.Options(only=("cidr.*", "latency.rtt.*", "mtu.interface.*"), deadline=30.0, phase="pre-join",
                          progress=Recorder)
    report = app.preflight(Settings(profile=profile, source="test"), options).report
    ids = [r.id for r in report.results]
    assert any(i.startswith("latency.rtt.") for i in ids) and any(i.startswith("cidr.") for i in ids), ids
    assert events[0] == ("total", len(ids)) and events[-1] == ("close", None)
    for kind in ("started", "finished"):
        assert sorted(str(i) for k, i in events if k == kind) == sorted(ids)
