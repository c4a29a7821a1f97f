"""Command line: thin. Parses flags, builds settings, runs, renders, exits with a contract code.

Heavy modules are imported inside the commands so `netcheck --help` stays fast. The preflight itself
is netcheck/app.py; this module only parses, calls, renders and exits.

Over 500 lines on purpose: typer declares every command's options (and their --help text) inline,
and the command-line conventions (usage errors as Nagios UNKNOWN, file:// NodeConfig URIs, -o -,
NO_COLOR, metavars) are parsing, which is this module's one job.
"""

from __future__ import annotations

import gc
import os
import re
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from netcheck import signals as _signals

_signals.early()  # before the heavy imports: a SIGTERM in the first instant is not a bare exit 143
os.environ.setdefault("TYPER_USE_RICH", "0")  # plain help: rich costs 0.2 s at start-up
# pydantic looks for plugins in every installed distribution's entry points on the first model it builds
# (30 ms with 130 packages); netcheck uses none. An explicit setting of the variable is kept.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
import typer  # noqa: E402

from netcheck import __version__  # noqa: E402
from netcheck.protocol import RESPONDER_PORT  # noqa: E402
from netcheck.render import FORMATS as RENDERERS  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Callable

    from netcheck.app import Preflight, Progress
    from netcheck.safeio import OutputTarget
    from netcheck.settings import Settings

PROCESS_START = time.monotonic()  # --deadline counts from here, not from after settings load

EPILOG = """\b
Examples:
  netcheck demo                          self-contained run on loopback
  netcheck run -c site.yaml              the preflight, as a table
  netcheck run -c site.yaml -f markdown -o -       Markdown on stdout
  netcheck run --nodeconfig file:///etc/eks/nodeConfig.yaml \\
      -f prometheus -q -o /var/lib/prometheus/node-exporter/netcheck.prom
  netcheck plan -c site.yaml --only dns  what would run; nothing is sent
  netcheck --install-completion          tab completion for your shell

\b
Exit codes: 0 GO, 1 internal error, 2 usage or configuration error,
3 NO-GO, 4 INCONCLUSIVE; with --format nagios 0 OK, 1 WARNING,
2 CRITICAL, 3 UNKNOWN. NO_COLOR set to anything disables colour."""

app = typer.Typer(add_completion=True, no_args_is_help=True, pretty_exceptions_enable=False,
                  context_settings={"help_option_names": ["-h", "--help"]}, epilog=EPILOG,
                  help="Is this site's network ready for Amazon EKS Hybrid Nodes? GO or NO-GO, and what to change.")

FORMATS = list(RENDERERS)  # the renderer registry's names (netcheck/render/__init__.py)

ConfigOpt = Annotated[Path | None, typer.Option("-c", "--config", help="Site profile (YAML).",
                                                 envvar="NETCHECK_CONFIG", dir_okay=False)]
NodeConfigOpt = Annotated[str | None, typer.Option("--nodeconfig", help="nodeadm NodeConfig (node.eks.aws/v1alpha1): "
                                                    "a path or a file:// URI.", envvar="NETCHECK_NODECONFIG")]
FormatOpt = Annotated[str, typer.Option("--format", "-f", help="Output: " + "|".join(FORMATS) + ".",
                                        envvar="NETCHECK_FORMAT")]
OutputOpt = Annotated[Path | None, typer.Option("-o", "--output", envvar="NETCHECK_OUTPUT",
                                                 help="Write the report to FILE (atomically; a device or FIFO in "
                                                      "place; never through a symlink); - is stdout.")]
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
                                              help="Shared token for the responder (visible in ps: prefer "
                                                   "--token-file).")]
TokenFileOpt = Annotated[Path | None, typer.Option("--token-file", dir_okay=False, envvar="NETCHECK_TOKEN_FILE",
                                                   help="Read the shared token from FILE.")]
PhaseOpt = Annotated[str, typer.Option("--phase", envvar="NETCHECK_PHASE", metavar="pre-join|joined|auto",
                                        help="Lifecycle phase to judge for: pre-join (before nodeadm init), joined "
                                             "(kubelet and CNI running) or auto (detect from the host; default). "
                                             "Overrides spec.phase.")]
NoColorOpt = Annotated[bool, typer.Option("--no-color", help="Plain output (also when NO_COLOR is set to anything).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", envvar="NETCHECK_QUIET",
                                        help="Only the verdict line on the terminal (the -o file is still complete); "
                                             "no progress.")]
HistoryOpt = Annotated[Path | None, typer.Option("--history", envvar="NETCHECK_HISTORY", file_okay=False,
                                                  help="Keep each JSON report in DIR and show what changed since "
                                                       "the previous run.")]
JunitPropertyOpt = Annotated[list[str] | None, typer.Option("--junit-property", metavar="KEY=VALUE",
                                                            help="Extra <property> for the JUnit report (repeatable).")]


# Help placeholders: typer would print its own type names (<list[str]>, <float range>).
METAVARS = {"config": "FILE", "nodeconfig": "FILE|file:///PATH", "fmt": "FORMAT", "output": "FILE|-",
            "only": "PATTERN[,...]", "skip": "PATTERN[,...]", "deadline": "SECONDS", "region": "REGION",
            "endpoint": "URL", "service_cidr": "CIDR", "responder": "HOST:PORT", "node_ip": "IP", "token": "TOKEN",
            "token_file": "FILE", "history": "DIR", "listen": "ADDRESS", "port": "PORT", "iperf_port": "PORT",
            "extra_tcp": "PORT", "extra_udp": "PORT", "max_clients": "N", "max_seconds": "SECONDS",
            "max_streams": "N", "max_tests": "N", "phase": "PHASE"}


def _color_allowed(no_color: bool) -> bool:
    """Colour on stdout only where rich's console would colour: a terminal, not TERM=dumb; --no-color or
    NO_COLOR set to any non-empty value (https://no-color.org) turns it off."""
    from netcheck.render.table import color_wanted

    return color_wanted(sys.stdout, no_color)


def _stdout_dash(output: Path | None) -> Path | None:
    """`-o -` is stdout, as for most Unix tools (checked before any file handling)."""
    return None if output is not None and str(output) == "-" else output


def _nodeconfig_path(value: str | None) -> Path | None:
    """A path, or nodeadm's own `file://` URI form (as for `nodeadm init --config-source`).

    Other schemes (imds://, http://, s3://) are not read: netcheck never fetches a NodeConfig.
    """
    if value is None:
        return None
    from urllib.parse import unquote, urlsplit

    from netcheck.settings import ConfigError

    if not value.strip():
        raise ConfigError("--nodeconfig", "", "is empty; give a path or a file:///path URI")
    m = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", value)
    if m is None:
        return Path(value)
    if m.group(1).lower() != "file":
        raise ConfigError("--nodeconfig", "", f"{m.group(1)}:// is not read; netcheck reads a NodeConfig from a "
                                              "local file only. Give a path or a file:///path URI (fetch the "
                                              "NodeConfig to a file first).")
    parts = urlsplit(value)
    if parts.netloc not in ("", "localhost") or not parts.path:
        raise ConfigError("--nodeconfig", "", f"{value}: a file:// URI must name a local path, as in "
                                              "file:///etc/eks/nodeConfig.yaml")
    return Path(unquote(parts.path))


def _nagios_requested(argv: list[str] | None = None) -> bool:
    """Was `--format nagios` asked for? Then even a usage error must be a plugin answer (UNKNOWN on stdout)."""
    args = sys.argv[1:] if argv is None else argv
    fmt = os.environ.get("NETCHECK_FORMAT", "")
    for i, a in enumerate(args):
        if a in ("-f", "--format") and i + 1 < len(args):
            fmt = args[i + 1]
        elif a.startswith("--format="):
            fmt = a.partition("=")[2]
        elif a.startswith("-f") and len(a) > 2 and not a.startswith("--"):
            fmt = a[2:]
    return fmt == "nagios"


def _stderr(message: str) -> None:
    """`netcheck: MESSAGE` on stderr; its lines are kept, and each is neutralised (a file name or a peer's
    string cannot send escape sequences to the terminal)."""
    from netcheck.render.safe import for_terminal

    typer.echo("netcheck: " + "\n".join(for_terminal(line) for line in message.split("\n")), err=True)


def _usage_error(message: str, code: int = 2) -> int:
    """Report a usage or configuration error; the Nagios format answers UNKNOWN (3) on stdout instead."""
    if code == 2 and _nagios_requested():
        from netcheck.render.safe import for_nagios

        typer.echo(f"NETCHECK UNKNOWN - {for_nagios(message)[:900]}")
        _stderr(message)
        return 3
    _stderr(message)
    return code


def _fail(code: int, message: str) -> typer.Exit:
    return typer.Exit(_usage_error(message, code))


def _settings(config: Path | None, nodeconfig: str | None, region: str | None, endpoint: str | None,
              service_cidr: str | None, responder: str | None, node_ip: str | None,
              token: str | None, *, x509_later: bool = False) -> Settings:
    from netcheck.settings import Overrides, build

    return build(config, _nodeconfig_path(nodeconfig), Overrides(region, endpoint, service_cidr, responder, node_ip,
                                                                 origins=_origins()), token, x509_later=x509_later)


def _origins() -> dict[str, str]:
    """For messages: was each override given as a flag or through its NETCHECK_* variable?"""
    parameter_source = _click("core").ParameterSource
    ctx = _click("globals").get_current_context(silent=True)
    out: dict[str, str] = {}
    if ctx is None:
        return out
    for param in ctx.command.params:
        if param.name is None:
            continue
        src = ctx.get_parameter_source(param.name)
        if src is parameter_source.ENVIRONMENT and isinstance(param.envvar, str):
            out[param.name] = param.envvar
        elif src is parameter_source.COMMANDLINE and param.opts:
            out[param.name] = max(param.opts, key=len)
    return out


def _token(token: str | None, token_file: Path | None) -> str | None:
    """The responder token from --token/NETCHECK_TOKEN or --token-file/NETCHECK_TOKEN_FILE, checked."""
    from netcheck.safeio import FileProblem, check_token, read_token_file, token_file_warning

    if token_file is not None and token:
        raise _fail(2, "give the token once: --token/NETCHECK_TOKEN or --token-file/NETCHECK_TOKEN_FILE, not both")
    try:
        if token_file is not None:
            found = read_token_file(token_file)
            if warning := token_file_warning(token_file):
                _warn(warning)
            return found
        return check_token(token, "--token (or NETCHECK_TOKEN)") if token else None
    except FileProblem as exc:
        raise _fail(2, f"--token-file {exc}" if token_file is not None else str(exc)) from None


def _deliver(result: Preflight, fmt: str, target: OutputTarget | None, *, color: bool, deadline: float,
             junit_properties: dict[str, str] | None = None, quiet: bool = False) -> int:
    """Render the report, write it (-o or stdout), copy a table (or with -q the verdict line) to stderr
    with -o, return the exit code."""
    from netcheck import signals
    from netcheck.app import exit_code
    from netcheck.render import RenderOptions, render

    report, previous = result.report, result.previous
    time_left = deadline - (time.monotonic() - result.clock_start)
    text = render(fmt, report, RenderOptions(color=color, junit_properties=dict(junit_properties or {}),
                                             previous=previous))
    written = True
    if quiet and (target is not None or fmt == "table"):
        from netcheck.render.table import verdict_line

        if target is None:  # the table on stdout, cut to its verdict line
            typer.echo(verdict_line(report, color=color))
        elif written := _write_output(target, text, time_left):
            typer.echo(verdict_line(report, color=color), err=True)
    else:
        written = _write_output(target, text, time_left)
        if target is not None and written and fmt != "table":
            typer.echo(render("table", report, RenderOptions(color=color, previous=previous)), err=True, nl=False)
    signalled = signals.received() is not None
    if fmt == "nagios":  # the Nagios plugin API's codes replace netcheck's for this format alone
        from netcheck.render.nagios import exit_code as nagios_exit_code

        return 3 if not written or signalled else nagios_exit_code(report)  # UNKNOWN
    return exit_code(report, written=written, signalled=signalled)


def _progress(quiet: bool) -> bool:
    """Show progress on stderr when it is a terminal, whatever the format and -o, unless --quiet."""
    return sys.stderr.isatty() and not quiet


def _progress_observer(quiet: bool) -> Callable[[int], Progress] | None:
    """The terminal progress display for app.Options.progress, or None (see _progress)."""
    if not _progress(quiet):
        return None
    from netcheck.ui import ProgressObserver

    return ProgressObserver


def _warn(message: str) -> None:
    _stderr(message)


def _output_target(output: Path | None) -> OutputTarget | None:
    """Check -o FILE before the run: exit 2 with the reason when it cannot be written."""
    if output is None:
        return None
    from netcheck.safeio import FileProblem, check_output

    try:
        return check_output(output)
    except FileProblem as exc:
        raise _fail(2, f"-o {exc}") from None


def _write_output(target: OutputTarget | None, text: str, time_left: float) -> bool:
    """Write the report to -o's target, or to stdout; False when -o failed and stdout got the report."""
    from netcheck.safeio import FileProblem
    from netcheck.verdict import ExitCode

    if target is None:
        typer.echo(text, nl=False)
        return True
    try:
        target.write(text, timeout=max(1.0, time_left))
    except FileProblem as exc:
        _stderr(f"-o {exc}; the report follows on stdout (exit {int(ExitCode.NOT_WRITTEN)})")
        typer.echo(text, nl=False)
        return False
    return True


def _junit_properties(values: list[str] | None) -> dict[str, str]:
    props: dict[str, str] = {}
    for v in values or []:
        key, sep, value = v.partition("=")
        if not sep or not key.strip():
            raise _fail(2, f"--junit-property: {v!r} is not KEY=VALUE")
        props[key.strip()] = value
    return props


def _split_patterns(values: list[str] | None) -> tuple[str, ...]:
    return tuple(p.strip() for v in values or [] for p in v.split(",") if p.strip())


def _phase_flag(value: str) -> str:
    from netcheck.phase import CHOICES

    if value not in CHOICES:
        raise _fail(2, f"--phase: unknown phase {value!r}; choose one of {', '.join(CHOICES)}")
    root = os.environ.get("NETCHECK_HOST_ROOT")
    if root and not Path(root).is_dir():  # a typo would read no host files and look like a fresh host
        raise _fail(2, f"NETCHECK_HOST_ROOT: {root} is not a directory (the host's filesystem, e.g. /host)")
    return value


def _guard(fn_name: str) -> None:
    """Shared checks for format names before any work."""
    if fn_name not in FORMATS:
        raise _fail(2, f"--format: unknown format {fn_name!r}; choose one of {', '.join(FORMATS)}")


@app.command("run")
def run_cmd(config: ConfigOpt = None, nodeconfig: NodeConfigOpt = None, fmt: FormatOpt = "table",
            output: OutputOpt = None, only: OnlyOpt = None, skip: SkipOpt = None, strict: StrictOpt = False,
            deadline: DeadlineOpt = 60.0, region: RegionOpt = None, endpoint: EndpointOpt = None,
            service_cidr: ServiceCidrOpt = None, responder: ResponderOpt = None, node_ip: NodeIpOpt = None,
            token: TokenOpt = None, no_color: NoColorOpt = False, history: HistoryOpt = None,
            junit_property: JunitPropertyOpt = None, token_file: TokenFileOpt = None,
            phase: PhaseOpt = "auto", quiet: QuietOpt = False) -> None:
    """Run the preflight and print a GO / NO-GO report.

    Example: netcheck run -c site.yaml --format prometheus -q -o /var/lib/prometheus/node-exporter/netcheck.prom
    """
    from netcheck import signals
    from netcheck.plan import PatternError
    from netcheck.settings import ConfigError

    signals.install()  # SIGTERM (systemd, Kubernetes, timeout) like Ctrl-C: partial report, exit 4
    from netcheck.safeio import set_deadline

    set_deadline(PROCESS_START + deadline)  # no file (profile, token, host file, export) is read past it
    _click("globals").get_current_context().call_on_close(lambda: set_deadline(None))  # in-process callers
    _guard(fmt)
    _phase_flag(phase)
    output = _stdout_dash(output)
    if config is None and nodeconfig is None:
        raise _fail(2, "give a site profile with -c FILE or a NodeConfig with --nodeconfig FILE "
                       "(try `netcheck demo` for a self-contained run)")
    props = _junit_properties(junit_property)
    token = _token(token, token_file)
    if history is not None:
        from netcheck.history import HistoryError, check_dir

        try:
            check_dir(history)
        except HistoryError as exc:
            raise _fail(2, str(exc)) from None
    try:
        # The CA's X.509 parse is left to preflight (settings.check_pending), beside the first checks.
        settings = _settings(config, nodeconfig, region, endpoint, service_cidr, responder, node_ip, token,
                             x509_later=True)
    except ConfigError as exc:
        raise _config_error(exc, fmt) from None
    from netcheck.settings import enrich_from_aws

    # What nodeadm fetches with eks:DescribeCluster when the NodeConfig lacks it; bounded, counted in --deadline.
    settings = enrich_from_aws(settings, timeout=min(8.0, deadline / 4))
    from netcheck.app import Options, preflight

    target = _output_target(output)  # before any probe: a target we cannot write is a usage error
    _collect_again()
    options = Options(only=_split_patterns(only), skip=_split_patterns(skip), strict=strict, deadline=deadline,
                      clock_start=PROCESS_START, phase=phase, history=history, warn=_warn,
                      progress=_progress_observer(quiet))
    try:
        result = preflight(settings, options)
    except PatternError as exc:
        raise _fail(2, str(exc)) from None
    except ConfigError as exc:  # the CA's X.509 parse (settings.check_pending)
        raise _config_error(exc, fmt) from None
    color = output is None and _color_allowed(no_color)  # for rendering only: after the checks, not before them
    code = _deliver(result, fmt, target, color=color, deadline=deadline, junit_properties=props, quiet=quiet)
    raise typer.Exit(code)


def _config_error(exc: Exception, fmt: str) -> Exception:
    """A bad profile in `run`: the ConfigError itself (main() prints it, exit 2), or for Nagios UNKNOWN."""
    if fmt == "nagios":  # a plugin that cannot run reports UNKNOWN
        from netcheck.render.safe import for_nagios

        typer.echo(f"NETCHECK UNKNOWN - {for_nagios(exc)[:900]}")
        return typer.Exit(3)
    return exc


@app.command("plan")
def plan_cmd(config: ConfigOpt = None, nodeconfig: NodeConfigOpt = None, only: OnlyOpt = None,
             skip: SkipOpt = None, region: RegionOpt = None, endpoint: EndpointOpt = None,
             service_cidr: ServiceCidrOpt = None, responder: ResponderOpt = None,
             node_ip: NodeIpOpt = None, phase: PhaseOpt = "auto") -> None:
    """List the checks that would run and what each means per phase; nothing is sent."""
    from netcheck import app as application
    from netcheck.plan import PatternError, endpoint_paths, platform_summary

    _phase_flag(phase)
    if config is None and nodeconfig is None:
        raise _fail(2, "give a site profile with -c FILE or a NodeConfig with --nodeconfig FILE")
    settings = _settings(config, nodeconfig, region, endpoint, service_cidr, responder, node_ip, None)
    try:
        planned = application.plan(settings, application.Options(only=_split_patterns(only),
                                                                  skip=_split_patterns(skip), phase=phase))
    except PatternError as exc:
        raise _fail(2, str(exc)) from None
    settings, info, plan = planned.settings, planned.phase, planned.plan
    from netcheck.render.safe import for_terminal

    typer.echo(f"phase: {info.describe()}; checks without per-phase lines below are judged the same in both "
               "phases (--phase pre-join|joined to plan for the other).")
    for line in platform_summary(settings):
        typer.echo(f"# {line}")
    for line in endpoint_paths(settings, [c.id for c in plan.checks]):
        typer.echo(f"# {line}")
    for c, state in [(c, c.severity.value) for c in plan.checks] + [(c, "skipped") for c, _ in plan.disabled]:
        typer.echo(for_terminal(f"{c.id:<48} {state:<9} {c.title}"))  # ids and titles carry profile names
        for name, meaning in c.phases:
            typer.echo(f"{'':<4}{name + ':':<10}{meaning}")
    from netcheck.settings import cluster_lookup_note

    if note := cluster_lookup_note(settings):
        typer.echo(note)
    typer.echo(f"{len(plan.checks)} checks to run, {len(plan.disabled)} skipped by pattern.")


@app.command("validate")
def validate_cmd(config: ConfigOpt = None, nodeconfig: NodeConfigOpt = None) -> None:
    """Load and merge a site profile and/or NodeConfig, report problems (exit 2) or what a run would assume
    (exit 0); nothing is sent."""
    from netcheck.init import validate_summary
    from netcheck.plan import PatternError, build_plan

    if config is None and nodeconfig is None:
        raise _fail(2, "give a site profile with -c FILE and/or a NodeConfig with --nodeconfig FILE")
    settings = _settings(config, nodeconfig, None, None, None, None, None, None)
    try:
        count = len(build_plan(settings, (), ()).checks)
    except PatternError as exc:  # spec.checks.skip/advisory patterns that match nothing
        raise _fail(2, str(exc)) from None
    typer.echo("\n".join(validate_summary(settings, count)))


@app.command("init")
def init_cmd(
    name: Annotated[str, typer.Option("--name", help="Site name (metadata.name).")] = "my-site",
    cluster: Annotated[str | None, typer.Option("--cluster", help="EKS cluster name.")] = None,
    region: Annotated[str | None, typer.Option("--region", help="AWS Region of the cluster.")] = None,
    endpoint_access: Annotated[str | None, typer.Option("--endpoint-access",
                                                        help="public | private | public-and-private.")] = None,
    credentials: Annotated[str | None, typer.Option("--credentials", help="ssm | iam-roles-anywhere.")] = None,
    cni: Annotated[str, typer.Option("--cni", help="cilium | calico | none.")] = "cilium",
    cni_mode: Annotated[str | None, typer.Option("--cni-mode", help="vxlan | geneve | native | ipip | bgp.")] = None,
    proxy: Annotated[str | None, typer.Option("--proxy", help="HTTPS proxy URL (written as HTTPS_PROXY/NO_PROXY "
                                                               "advice: nodes take the proxy from the environment).")
                     ] = None,
    vpc_cidr: Annotated[list[str] | None, typer.Option("--vpc-cidr", help="VPC CIDR (repeatable).")] = None,
    node_cidr: Annotated[list[str] | None, typer.Option("--node-cidr", help="Remote node CIDR (repeatable).")] = None,
    pod_cidr: Annotated[list[str] | None, typer.Option("--pod-cidr", help="Remote pod CIDR (repeatable).")] = None,
    responder: ResponderOpt = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write the profile here (default: stdout).")
                      ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing -o file.")] = False,
) -> None:
    """Write a commented starting site profile for the answers given as flags (it passes `netcheck validate`)."""
    from netcheck.init import Answers, profile_text
    from netcheck.safeio import write_atomic

    answers = Answers(name=name, cluster=cluster, region=region, endpoint_access=endpoint_access,
                      credentials=credentials, cni=cni, cni_mode=cni_mode, proxy=proxy,
                      vpc_cidrs=tuple(vpc_cidr or ()), node_cidrs=tuple(node_cidr or ()),
                      pod_cidrs=tuple(pod_cidr or ()), responder=responder)
    text = profile_text(answers)  # a ConfigError (a bad answer) is exit 2 with the field named
    if output is None or str(output) == "-":
        typer.echo(text, nl=False)
        return
    if (output.exists() or output.is_symlink()) and not force:
        raise _fail(2, f"{output} exists; give --force to replace it")
    try:
        write_atomic(output, text)
    except OSError as exc:
        raise _fail(2, f"cannot write {output}: {exc.strerror or exc}") from None
    typer.echo(f"wrote {output}; next: netcheck validate -c {output}", err=True)


@app.command("checks")
def checks_cmd(fmt: Annotated[str, typer.Option("--format", "-f", help="Output: markdown|json.")] = "markdown") -> None:
    """List every check netcheck can plan (the catalogue in docs/checks.md); nothing is sent."""
    from netcheck import catalogue

    if fmt not in ("markdown", "json"):
        raise _fail(2, f"--format: unknown format {fmt!r}; choose one of markdown, json")
    typer.echo(catalogue.markdown() if fmt == "markdown" else catalogue.as_json(), nl=False)


@app.command("regions")
def regions_cmd(config: ConfigOpt = None, nodeconfig: NodeConfigOpt = None, region: RegionOpt = None,
                candidates: Annotated[list[str] | None, typer.Option(
                    "--candidates", metavar="REGION[,...]", envvar="NETCHECK_CANDIDATES",
                    help="Regions to measure (default: spec.latency.regions, else every Region of the partition); "
                         "the cluster's Region is always one.")] = None,
                partition: Annotated[str | None, typer.Option(
                    "--partition", metavar="PARTITION", help="aws|aws-cn|aws-us-gov|aws-eusc when no cluster "
                                                             "Region says which (default aws).")] = None,
                samples: Annotated[int, typer.Option("--samples", min=1, max=50, metavar="N",
                                                     help="Samples per Region.")] = 5,
                fmt: Annotated[str, typer.Option("--format", "-f", help="Output: table|json.")] = "table",
                output: OutputOpt = None, deadline: DeadlineOpt = 30.0) -> None:
    """Rank the candidate Regions by round trip from this host to their public EKS endpoints.

    Exit 0 when at least one Region was measured, 4 when none could be, 2 on a usage error.
    Example: netcheck regions -c site.yaml --candidates us-west-2,us-east-1,eu-west-1
    """
    from netcheck.regions import UsageError, command

    if fmt not in ("table", "json"):
        raise _fail(2, f"--format: unknown format {fmt!r}; choose one of table, json")
    settings = _settings(config, nodeconfig, region, None, None, None, None, None)
    target = _output_target(_stdout_dash(output))
    try:
        text, code = command(settings, _split_patterns(candidates), partition, samples, fmt,
                             PROCESS_START + deadline)
    except UsageError as exc:
        raise _fail(2, str(exc)) from None
    written = _write_output(target, text, deadline - (time.monotonic() - PROCESS_START))
    raise typer.Exit(code if written else 5)


@app.command("demo")
def demo_cmd(fmt: FormatOpt = "table", output: OutputOpt = None, strict: StrictOpt = False,
             deadline: DeadlineOpt = 60.0, no_color: NoColorOpt = False, quiet: QuietOpt = False) -> None:
    """Run the whole preflight against stand-ins it starts on loopback; needs nothing else.

    Example: netcheck demo --format html -o report.html
    """
    from netcheck import signals
    from netcheck.app import Options
    from netcheck.demo import run_demo

    signals.install()
    _guard(fmt)
    output = _stdout_dash(output)
    color = output is None and _color_allowed(no_color)
    target = _output_target(output)
    options = Options(strict=strict, deadline=deadline, warn=_warn, progress=_progress_observer(quiet))
    result = run_demo(options)
    raise typer.Exit(_deliver(result, fmt, target, color=color, deadline=deadline, quiet=quiet))


@app.command("diff")
def diff_cmd(before: Annotated[Path, typer.Argument(help="The earlier JSON report.", dir_okay=False)],
             after: Annotated[Path, typer.Argument(help="The later JSON report.", dir_okay=False)]) -> None:
    """Compare two JSON reports: flipped checks and figures that crossed a threshold.

    Exit 0 when nothing got worse, 3 when something regressed, 2 when a file is not a report.
    """
    from netcheck import history

    try:
        old, new = history.load(before), history.load(after)
    except history.HistoryError as exc:
        raise _fail(2, str(exc)) from None
    typer.echo("\n".join(history.regression_lines(new, old)))
    raise typer.Exit(3 if history.regressions(old, new) else 0)


@app.command("fleet")
def fleet_cmd(
    paths: Annotated[list[Path], typer.Argument(help="JSON reports, directories of them or --history directories.",
                                                metavar="PATH...")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="Output: table|json|markdown|html.")] = "table",
    output: OutputOpt = None,
    stale: Annotated[str, typer.Option("--stale", metavar="DURATION",
                                       help="A site whose newest report is older is stale (2h, 90m, 45s).")] = "2h",
) -> None:
    """One row per site over many JSON reports: verdict, nodes, blocking checks, worst figures, age, regressions.

    Exit code: the worst site verdict (0 GO, 3 NO-GO, 4 INCONCLUSIVE); 2 when no report could be read.
    """
    from netcheck.fleet import FleetError, load_fleet, parse_duration
    from netcheck.render.fleet import FORMATS as FLEET_FORMATS
    from netcheck.render.fleet import render as render_fleet

    if fmt not in FLEET_FORMATS:
        raise _fail(2, f"--format: unknown format {fmt!r}; choose one of {', '.join(FLEET_FORMATS)}")
    try:
        stale_after = parse_duration(stale)
    except ValueError as exc:
        raise _fail(2, f"--stale: {exc}") from None
    target = _output_target(_stdout_dash(output))
    try:
        fleet = load_fleet(paths, stale_after=stale_after, warn=_warn)
    except FleetError as exc:
        raise _fail(2, str(exc)) from None
    written = _write_output(target, render_fleet(fmt, fleet), 60.0)
    raise typer.Exit(fleet.exit_code if written else 5)


@app.command("serve")
def serve_cmd(
    listen: Annotated[str, typer.Option("--listen", "-l", envvar="NETCHECK_LISTEN",
                                        help="Address to listen on (0.0.0.0, :: or one address).")] = "0.0.0.0",
    port: Annotated[int, typer.Option("--port", "-p", min=0, max=65535, envvar="NETCHECK_PORT",
                                      help="TCP and UDP port (control, echo, iperf3).")] = RESPONDER_PORT,
    iperf_port: Annotated[list[int] | None, typer.Option("--iperf-port", min=0, max=65535,
                                                         help="Extra TCP port(s) for iperf3 clients; 0 for none. "
                                                              "Default 5201.")] = None,
    extra_tcp: Annotated[list[int] | None, typer.Option("--extra-tcp", min=1, max=65535,
                                                        help="More TCP ports with the same handling.")] = None,
    extra_udp: Annotated[list[int] | None, typer.Option("--extra-udp", min=1, max=65535,
                                                        help="More UDP echo ports (e.g. 8472).")] = None,
    token: TokenOpt = None,
    token_file: TokenFileOpt = None,
    no_auth: Annotated[bool, typer.Option("--no-auth", help="Serve bandwidth and connect-back without a token "
                                                            "(only on a closed test network).")] = False,
    max_clients: Annotated[int, typer.Option("--max-clients", min=1, max=10000,
                                             help="Concurrent TCP connections (lowered to fit the open-files "
                                                  "limit).")] = 1024,
    max_seconds: Annotated[float, typer.Option("--max-test-seconds", min=1, max=3600,
                                               help="Longest bandwidth test accepted.")] = 60.0,
    max_streams: Annotated[int, typer.Option("--max-streams", min=1, max=128,
                                             help="Most parallel streams per bandwidth test.")] = 16,
    max_tests: Annotated[int, typer.Option("--max-tests", min=0, max=1024,
                                           help="Bandwidth tests at once (one per source); 0: from CPUs and "
                                                "NIC speed (docs/capacity.md).")] = 0,
) -> None:
    """Run the VPC-side responder: TCP/UDP echo, iperf3 bandwidth endpoint, connect-back."""
    from netcheck.responder import ServeConfig, serve

    token = _token(token, token_file)
    if not token and not no_auth:
        raise _fail(2, "a shared token is required: --token TOKEN, NETCHECK_TOKEN or --token-file FILE "
                       "(or --no-auth on a closed test network)")
    ports = tuple(p for p in (iperf_port if iperf_port is not None else [5201]) if p)
    cfg = ServeConfig(host=listen, port=port, iperf_ports=ports, extra_tcp=tuple(extra_tcp or ()),
                      extra_udp=tuple(extra_udp or ()), token=token or None, no_auth=no_auth,
                      max_clients=max_clients, max_test_seconds=max_seconds, max_streams=max_streams,
                      max_tests=max_tests)
    try:
        code = serve(cfg)
    except OSError as exc:
        raise _fail(2, f"serve: {exc.strerror or exc}") from None
    raise typer.Exit(code)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"netcheck {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", "-V", callback=_version_callback, is_eager=True,
                                                help="Print the version and exit.")] = False) -> None:
    """Is this site's network ready for Amazon EKS Hybrid Nodes? GO or NO-GO, and what to change."""
    global PROCESS_START, _commands
    if _commands:  # a later command in a long-lived process (tests, embedding): --deadline counts from its start
        PROCESS_START = time.monotonic()
    _commands += 1


_commands = 0  # commands started in this process; the first counts --deadline from the process start


@app.command("version")
def version_cmd() -> None:
    """Print the version."""
    typer.echo(f"netcheck {__version__}")


def _click(module: str) -> Any:
    """A click module: typer >= 0.2x bundles its own click (typer._click), older typer depends on click.

    Imported by name so the type checker needs neither layout installed (a fresh venv has only one).
    """
    import importlib

    try:
        return importlib.import_module(f"typer._click.{module}")
    except ImportError:
        return importlib.import_module(f"click.{module}")


def _click_exception() -> type[Exception]:
    """click's usage-error base class (ClickException), from whichever click typer uses."""
    exc_type: type[Exception] = _click("exceptions").ClickException
    return exc_type


_gc_paused = False  # main() paused the cyclic collector for the start-up of `run` (see _collect_again)


def _collect_again() -> None:
    """Turn the cyclic garbage collector back on after a start-up main() ran without it."""
    global _gc_paused
    if _gc_paused:
        _gc_paused = False
        gc.enable()


def main() -> None:
    """Entry point: the one place where exceptions become exit codes."""
    global _gc_paused
    ClickException = _click_exception()

    if _subcommand(sys.argv[1:]) == "run" and gc.isenabled():
        # Parsing the flags and loading the settings build ~70,000 objects that live for the whole run
        # (typer's and pydantic's validators, the models): collecting while they are built only re-walks
        # them (120 collections, 5-10 % of the start-up). Back on before the checks (run_cmd) or on any exit.
        gc.disable()
        _gc_paused = True
    try:
        command = typer.main.get_command(_cli_for(sys.argv[1:]))
        _set_metavars(command)
        _coerce_only_given(command)
        _signals.hand_over(_subcommand(sys.argv[1:]) in ("run", "demo"))
        code = command.main(prog_name="netcheck", standalone_mode=False)  # click returns (not raises) the code of a typer.Exit here
        if code == 130 and "netcheck.signals" in sys.modules:  # typer's code for a KeyboardInterrupt
            from netcheck import signals

            if signals.received():
                typer.echo(f"netcheck: interrupted ({signals.received()}) before a report was made", err=True)
                code = 4
        sys.exit(code if isinstance(code, int) else 0)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except ClickException as exc:
        if _nagios_requested():
            sys.exit(_usage_error(exc.format_message()))  # type: ignore[attr-defined]
        exc.show()  # type: ignore[attr-defined]
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("netcheck: interrupted", err=True)
        sys.exit(4)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:
        from netcheck.settings import ConfigError

        if isinstance(exc, ConfigError):
            sys.exit(_usage_error(str(exc)))
        if os.environ.get("NETCHECK_DEBUG"):
            raise
        _stderr(f"internal error: {type(exc).__name__}: {exc} (set NETCHECK_DEBUG=1 for a traceback)")
        sys.exit(1)
    finally:
        _collect_again()


def _cli_for(argv: list[str]) -> typer.Typer:
    """The CLI for this command line: for `netcheck run ...`, the root with `run` alone.

    typer resolves every option annotation of every command when it builds the click commands (20-30 ms
    for the 11 commands), inside `run`'s clock, and `run` needs none of the others. Any other command
    line (help, --version, the command word not first, another command) gets the whole CLI."""
    if not argv or argv[0] != "run":
        return app
    import copy

    only = copy.copy(app)
    only.registered_commands = [c for c in app.registered_commands if c.name == "run"]
    return only if len(only.registered_commands) == 1 else app


def _coerce_only_given(command: object) -> None:
    """Build typer's value converter of an option only when the option has a value.

    typer (0.2x) builds a pydantic TypeAdapter for every option of the command on each run, also for
    the options left unset (most of `run`'s 21), and only to turn None into None: 20-30 ms of
    start-up. For an option without a value, a callback or `required`, the converter would return
    None (() for a multiple option) unchecked, so that is returned without building it. Options
    given a value, or a default other than None, are converted and checked by typer as before. A
    typer without `get_runtime_param` (older, click-based) is left as it is.
    """
    import types

    for sub in getattr(command, "commands", {}).values():
        _coerce_only_given(sub)
    for param in getattr(command, "params", []):
        if not hasattr(param, "get_runtime_param") or param.callback is not None or param.required:
            continue
        multi = bool(param.multiple or param.nargs == -1)
        typers = param.process_value  # bound: typer's own conversion

        def process_value(self: Any, ctx: Any, value: Any, *, _typers: Any = typers, _multi: bool = multi) -> Any:
            if value is None:
                return () if _multi else None
            return _typers(ctx, value)

        param.process_value = types.MethodType(process_value, param)


def _subcommand(argv: list[str]) -> str | None:
    """The command word of a netcheck command line (the first argument that is not an option)."""
    return next((a for a in argv if not a.startswith("-")), None)


def _set_metavars(command: object) -> None:
    """Give every option a plain placeholder (FILE, SECONDS, …) instead of typer's type names."""
    for sub in getattr(command, "commands", {}).values():
        _set_metavars(sub)
    for param in getattr(command, "params", []):
        if param.name in METAVARS and not getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = METAVARS[param.name]
