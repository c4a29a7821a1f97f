"""Command line: thin. Parses flags, builds settings, runs, renders, exits with a contract code.

Heavy modules are imported inside the commands so `netcheck --help` stays fast.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

os.environ.setdefault("TYPER_USE_RICH", "0")  # plain help: rich costs 0.2 s at start-up
import typer

from netcheck import __version__

if TYPE_CHECKING:
    from netcheck.model import Report
    from netcheck.net import Net
    from netcheck.settings import Settings

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Is this site's network ready for Amazon EKS Hybrid Nodes? GO or NO-GO, and what to change.")

FORMATS = ["table", "json", "junit", "markdown", "html", "prometheus", "nagios"]

ConfigOpt = Annotated[Path | None, typer.Option("-c", "--config", help="Site profile (YAML).",
                                                 envvar="NETCHECK_CONFIG", dir_okay=False)]
NodeConfigOpt = Annotated[Path | None, typer.Option("--nodeconfig", help="nodeadm NodeConfig (node.eks.aws/v1alpha1).",
                                                     envvar="NETCHECK_NODECONFIG", dir_okay=False)]
FormatOpt = Annotated[str, typer.Option("--format", "-f", help="Output: " + "|".join(FORMATS) + ".",
                                        envvar="NETCHECK_FORMAT")]
OutputOpt = Annotated[Path | None, typer.Option("-o", "--output", help="Write the report to FILE (atomically).",
                                                 envvar="NETCHECK_OUTPUT")]
OnlyOpt = Annotated[list[str] | None, typer.Option("--only", help="Run only checks whose id matches (glob or prefix).",
                                                    envvar="NETCHECK_ONLY")]
SkipOpt = Annotated[list[str] | None, typer.Option("--skip", help="Skip checks whose id matches (glob or prefix).",
                                                    envvar="NETCHECK_SKIP")]
StrictOpt = Annotated[bool, typer.Option("--strict", help="Warnings and inconclusive required checks are NO-GO.",
                                         envvar="NETCHECK_STRICT")]
DeadlineOpt = Annotated[float, typer.Option("--deadline", min=1, max=3600, envvar="NETCHECK_DEADLINE",
                                            help="Hard time budget for the whole run, seconds.")]
RegionOpt = Annotated[str | None, typer.Option("--region", envvar="NETCHECK_REGION", help="AWS Region of the cluster.")]
EndpointOpt = Annotated[str | None, typer.Option("--endpoint", envvar="NETCHECK_ENDPOINT",
                                                 help="Kubernetes API endpoint URL.")]
ServiceCidrOpt = Annotated[str | None, typer.Option("--service-cidr", envvar="NETCHECK_SERVICE_CIDR",
                                                    help="Kubernetes service CIDR.")]
ResponderOpt = Annotated[str | None, typer.Option("--responder", envvar="NETCHECK_RESPONDER",
                                                  help="`netcheck serve` in the VPC, host:port.")]
NodeIpOpt = Annotated[str | None, typer.Option("--node-ip", envvar="NETCHECK_NODE_IP",
                                               help="The IP the kubelet will report.")]
TokenOpt = Annotated[str | None, typer.Option("--token", envvar="NETCHECK_TOKEN",
                                              help="Shared token for the responder.")]
NoColorOpt = Annotated[bool, typer.Option("--no-color", envvar="NO_COLOR", help="Plain output.")]


def _fail(code: int, message: str) -> typer.Exit:
    typer.echo(f"netcheck: {message}", err=True)
    return typer.Exit(code)


def _settings(config: Path | None, nodeconfig: Path | None, region: str | None, endpoint: str | None,
              service_cidr: str | None, responder: str | None, node_ip: str | None,
              token: str | None) -> Settings:
    from netcheck.settings import Overrides, build

    return build(config, nodeconfig, Overrides(region, endpoint, service_cidr, responder, node_ip), token)


def write_atomic(path: Path, text: str) -> None:
    """Write via a temp file in the same directory, then rename (textfile collectors read it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def execute_run(settings: Settings, *, net: Net | None = None, fmt: str = "table", output: Path | None = None,
                only: tuple[str, ...] = (), skip: tuple[str, ...] = (), strict: bool = False,
                deadline: float = 60.0, color: bool = False) -> tuple[Report, int]:
    """Plan, run, decide, render: the one path shared by `run` and `demo`."""
    from netcheck.model import CheckResult, Report
    from netcheck.net import Net
    from netcheck.plan import build_plan
    from netcheck.render import RenderOptions, render
    from netcheck.runner import run
    from netcheck.verdict import decide, exit_code

    started = datetime.now(UTC)
    t0 = time.monotonic()
    plan = build_plan(settings, only, skip)
    observer = None
    if sys.stderr.isatty() and fmt == "table" and output is None:
        from netcheck.ui import ProgressObserver

        observer = ProgressObserver(len(plan.checks))
    # Leave a little of the budget for rendering and exit.
    budget = max(0.5, deadline - (time.monotonic() - t0) - 0.4)
    try:
        outcome = run(plan.checks, net or Net(), settings.spec.thresholds, budget, observer=observer)
    finally:
        if observer is not None:
            observer.close()
    disabled = {c.id: CheckResult(c, o) for c, o in plan.disabled}
    ran = {r.id: r for r in outcome.results}
    ordered = [c.id for c in plan.checks] + list(disabled)
    results = tuple(ran.get(i) or disabled[i] for i in ordered)
    verdict = decide(results, strict=strict, interrupted=outcome.interrupted)
    report = Report(results=results, verdict=verdict, started_at=started.isoformat(timespec="seconds"),
                    duration=time.monotonic() - t0, profile_name=settings.name, node=socket.gethostname(),
                    version=__version__, interrupted=outcome.interrupted, strict=strict)
    text = render(fmt, report, RenderOptions(color=color))
    if output is not None:
        write_atomic(output, text)
        if fmt != "table":
            typer.echo(render("table", report, RenderOptions(color=color)), err=True, nl=False)
    else:
        typer.echo(text, nl=False)
    return report, int(exit_code(verdict, interrupted=outcome.interrupted))


def _split_patterns(values: list[str] | None) -> tuple[str, ...]:
    return tuple(p.strip() for v in values or [] for p in v.split(",") if p.strip())


def _guard(fn_name: str) -> None:
    """Shared checks for format names before any work."""
    if fn_name not in FORMATS:
        raise _fail(2, f"--format: unknown format {fn_name!r}; choose one of {', '.join(FORMATS)}")


@app.command("run")
def run_cmd(config: ConfigOpt = None, nodeconfig: NodeConfigOpt = None, fmt: FormatOpt = "table",
            output: OutputOpt = None, only: OnlyOpt = None, skip: SkipOpt = None, strict: StrictOpt = False,
            deadline: DeadlineOpt = 60.0, region: RegionOpt = None, endpoint: EndpointOpt = None,
            service_cidr: ServiceCidrOpt = None, responder: ResponderOpt = None, node_ip: NodeIpOpt = None,
            token: TokenOpt = None, no_color: NoColorOpt = False) -> None:
    """Run the preflight and print a GO / NO-GO report."""
    _guard(fmt)
    if config is None and nodeconfig is None:
        raise _fail(2, "give a site profile with -c FILE or a NodeConfig with --nodeconfig FILE "
                       "(try `netcheck demo` for a self-contained run)")
    settings = _settings(config, nodeconfig, region, endpoint, service_cidr, responder, node_ip, token)
    color = (not no_color) and output is None and sys.stdout.isatty()
    _, code = execute_run(settings, fmt=fmt, output=output, only=_split_patterns(only), skip=_split_patterns(skip),
                          strict=strict, deadline=deadline, color=color)
    raise typer.Exit(code)


@app.command("plan")
def plan_cmd(config: ConfigOpt = None, nodeconfig: NodeConfigOpt = None, only: OnlyOpt = None,
             skip: SkipOpt = None, region: RegionOpt = None, endpoint: EndpointOpt = None,
             service_cidr: ServiceCidrOpt = None, responder: ResponderOpt = None,
             node_ip: NodeIpOpt = None) -> None:
    """List the checks that would run; nothing is sent."""
    from netcheck.plan import build_plan

    if config is None and nodeconfig is None:
        raise _fail(2, "give a site profile with -c FILE or a NodeConfig with --nodeconfig FILE")
    settings = _settings(config, nodeconfig, region, endpoint, service_cidr, responder, node_ip, None)
    plan = build_plan(settings, _split_patterns(only), _split_patterns(skip))
    for c in plan.checks:
        typer.echo(f"{c.id:<48} {c.severity.value:<9} {c.title}")
    for c, _ in plan.disabled:
        typer.echo(f"{c.id:<48} {'skipped':<9} {c.title}")
    typer.echo(f"{len(plan.checks)} checks to run, {len(plan.disabled)} skipped by pattern.")


@app.command("demo")
def demo_cmd(fmt: FormatOpt = "table", output: OutputOpt = None, strict: StrictOpt = False,
             deadline: DeadlineOpt = 60.0, no_color: NoColorOpt = False) -> None:
    """Run the whole preflight against stand-ins it starts on loopback; needs nothing else."""
    from netcheck.demo import run_demo

    _guard(fmt)
    color = (not no_color) and output is None and sys.stdout.isatty()
    raise typer.Exit(run_demo(fmt=fmt, output=output, strict=strict, deadline=deadline, color=color))


@app.command("version")
def version_cmd() -> None:
    """Print the version."""
    typer.echo(f"netcheck {__version__}")


def main() -> None:
    """Entry point: the one place where exceptions become exit codes."""
    from click.exceptions import ClickException

    try:
        app(standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except ClickException as exc:
        exc.show()
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("netcheck: interrupted", err=True)
        sys.exit(4)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:
        from netcheck.settings import ConfigError

        if isinstance(exc, ConfigError):
            typer.echo(f"netcheck: {exc}", err=True)
            sys.exit(2)
        if os.environ.get("NETCHECK_DEBUG"):
            raise
        typer.echo(f"netcheck: internal error: {type(exc).__name__}: {exc} "
                   "(set NETCHECK_DEBUG=1 for a traceback)", err=True)
        sys.exit(1)
