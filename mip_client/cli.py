"""The ``mip`` command: run a demo, start a local federation, run experiments, read the catalogue."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from google.protobuf import json_format

from mip_client.client import Controller, ExperimentInfo, Progress, StepOutcome
from mip_client.demo_data import write_demo_federation
from mip_client.federation import FederationError, LocalFederation, monetdb_node_settings, split_data_folder
from mip_client.pipeline import load_pipeline, read_json_file, read_request_file
from mip_client.plots import PLOTTABLE, plot_result, require_matplotlib
from mip_client.render import format_table, render_result
from mip_common import _proto
from mip_common.certs import create_federation_certs
from mip_common.errors import MipError

__all__ = ["main"]

DEMO_VARIABLES = ["hippocampus", "entorhinal"]  # volumes on one scale, so plain k-means fits them


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``mip``; errors print one line and exit non-zero."""
    args = _parser().parse_args(argv)
    try:
        args.handler(args)
    except (MipError, FederationError, OSError, ValueError, ImportError) as exc:
        message = exc.message if isinstance(exc, MipError) else str(exc)
        print(f"mip: error: {message}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mip", description="mip-mesh: federated analytics for medical research.")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="start a local federation, run k-means, stop everything")
    demo.add_argument("--locals", type=int, default=3, help="local nodes (default 3)")
    demo.add_argument("--tls", action="store_true", help="run with TLS, mTLS and a development CA")
    _monetdb_option(demo)
    demo.set_defaults(handler=_demo)

    federation = commands.add_parser("federation", help="start or stop a local federation").add_subparsers(
        dest="action", required=True
    )
    up = federation.add_parser("up", help="start a federation in the background")
    up.add_argument("--locals", type=int, default=3)
    up.add_argument("--workdir", type=Path, default=Path(".mip/federation"))
    up.add_argument(
        "--data",
        type=Path,
        help="a MIP data-model folder to split across the locals (default: demo data)",
    )
    up.add_argument(
        "--exclude",
        action="append",
        default=None,
        help="CSV glob to leave out (default *-test.csv)",
    )
    up.add_argument(
        "--tls", action="store_true", help="run with TLS: a development CA in WORKDIR/certs, mTLS everywhere"
    )
    _monetdb_option(up)
    up.add_argument(
        "--secure-aggregation",
        action="store_true",
        help="merge sums by secure aggregation: the controller and global node see only masked parts",
    )
    up.set_defaults(handler=_federation_up)
    down = federation.add_parser("down", help="stop the federation started in --workdir")
    down.add_argument("--workdir", type=Path, default=Path(".mip/federation"))
    down.set_defaults(handler=_federation_down)

    run = commands.add_parser("run", help="run one algorithm")
    run.add_argument("algorithm")
    _controller_option(run)
    run.add_argument("--request", type=Path, help='JSON file {"inputdata": {...}, "parameters": {...}}')
    run.add_argument("--data-model", help="data model code:version")
    run.add_argument("--datasets", help="comma-separated dataset codes")
    run.add_argument(
        "-y",
        action="append",
        default=[],
        help="dependent variable (repeatable, or comma-separated)",
    )
    run.add_argument(
        "-x",
        action="append",
        default=[],
        help="independent variable (repeatable, or comma-separated)",
    )
    run.add_argument("--filter", type=Path, help="JSON file with a jQuery-QueryBuilder rule tree")
    run.add_argument("--param", action="append", default=[], help="parameter as key=value (value parsed as JSON)")
    run.add_argument("--json", action="store_true", help="print the result as JSON only")
    run.add_argument("--plot", type=Path, help=f"draw the result into a PNG file ({', '.join(PLOTTABLE)})")
    run.set_defaults(handler=_run)

    pipeline = commands.add_parser("pipeline", help="run a multi-step experiment from a YAML or JSON file")
    pipeline.add_argument("file", type=Path, help="experiment file (see the README: steps with name, algorithm, ...)")
    _controller_option(pipeline)
    pipeline.add_argument("--json", action="store_true", help="print the results as JSON only")
    pipeline.set_defaults(handler=_pipeline)

    for name, handler, doc in [
        ("algorithms", _algorithms, "list the algorithms"),
        ("datasets", _datasets, "list the datasets and the nodes that hold them"),
        ("health", _health, "show every node's health"),
    ]:
        command = commands.add_parser(name, help=doc)
        _controller_option(command)
        command.add_argument("--json", action="store_true", help="print JSON only")
        command.set_defaults(handler=handler)

    experiments = commands.add_parser("experiments", help="your experiments: list, get, watch, cancel").add_subparsers(
        dest="action", required=True
    )
    for action, handler, doc in [
        ("list", _experiments_list, "your experiments, newest first"),
        ("get", _experiments_get, "one experiment: state, progress, result"),
        ("watch", _experiments_watch, "follow a running experiment to its result"),
        ("cancel", _experiments_cancel, "stop a running experiment and delete its tables"),
    ]:
        command = experiments.add_parser(action, help=doc)
        if action != "list":
            command.add_argument("experiment_id")
        _controller_option(command)
        command.add_argument("--json", action="store_true", help="print JSON only")
        command.set_defaults(handler=handler)

    protos = commands.add_parser("protos", help="print the folder of the .proto files shipped with mip-mesh")
    protos.set_defaults(handler=_protos)

    certs = commands.add_parser("certs", help="development certificates").add_subparsers(dest="action", required=True)
    create = certs.add_parser("create", help="create a development CA and certificates for a local federation")
    create.add_argument("--out", type=Path, required=True, help="directory for ca.pem, ca.key, <id>.pem, <id>.key")
    create.add_argument("--nodes", required=True, help="comma-separated node ids, e.g. global,local1,local2")
    create.add_argument("--controller", default="controller", help="the controller's identity (default controller)")
    create.add_argument("--clients", default="client", help="comma-separated client identities (default client)")
    create.add_argument(
        "--hosts",
        default="localhost,127.0.0.1,::1",
        help="host names and IP addresses every certificate is valid for",
    )
    create.add_argument("--days", type=int, default=365, help="validity in days (default 365)")
    create.set_defaults(handler=_certs_create)
    return parser


def _monetdb_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--monetdb",
        metavar="URL",
        help="store every node's data in this MonetDB database, one schema per node "
        "(monetdb://user:password@host:port/database); default: a DuckDB file per node",
    )


def _controller_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--controller",
        default=None,
        help="controller host:port (default: the one `mip federation up` started)",
    )
    parser.add_argument("--ca", type=Path, help="PEM CA that signed the controller's certificate (turns TLS on)")
    parser.add_argument("--cert", type=Path, help="PEM client certificate (client_auth = mtls)")
    parser.add_argument("--key", type=Path, help="PEM key of --cert")
    parser.add_argument(
        "--token-file", type=Path, help="file holding a bearer token (client_auth = token); or set MIP_TOKEN"
    )


def _connect(args: argparse.Namespace) -> Controller:
    """A client of the controller, with the TLS files or token given (or those of `mip federation up --tls`)."""
    token = args.token_file.read_text().strip() if args.token_file else os.environ.get("MIP_TOKEN", "")
    ca, cert, key = args.ca, args.cert, args.key
    if not (ca or cert or token or args.controller):
        state = Path(".mip/federation") / "federation.json"
        if state.exists():
            config = Path(json.loads(state.read_text())["controller"]["config"])
            settings = tomllib.loads(config.read_text()).get("controller", {}) if config.exists() else {}
            if settings.get("client_auth") == "mtls":
                certs = config.parent / "certs"
                ca, cert, key = certs / "ca.pem", certs / "client.pem", certs / "client.key"
    return Controller(_controller_address(args), ca_file=ca, cert_file=cert, key_file=key, token=token)


def _controller_address(args: argparse.Namespace) -> str:
    if args.controller:
        return str(args.controller)
    state = Path(".mip/federation") / "federation.json"
    if state.exists():
        return str(json.loads(state.read_text())["controller"]["address"])
    raise ValueError("no --controller given and no federation started here; run `mip federation up` first")


# --- federation ---------------------------------------------------------------------------


def _start_federation(
    workdir: Path,
    num_locals: int,
    data: Path | None,
    exclude: list[str] | None,
    *,
    tls: bool = False,
    is_background: bool = False,
    monetdb: str | None = None,
    secure_aggregation: bool = False,
) -> LocalFederation:
    if num_locals < 1:
        raise ValueError("--locals must be at least 1")
    node_settings: dict[str, object] = monetdb_node_settings(monetdb) if monetdb else {}
    if data is None:
        folders = [[f] for f in write_demo_federation(workdir / "data", num_locals=num_locals)]
    else:
        node_settings["missing_cde_columns"] = "empty"  # MIP exports leave out some CDEs
        if not (data / "CDEsMetadata.json").exists():
            raise ValueError(f"{data} is not a data-model folder (no CDEsMetadata.json)")
        globs = exclude if exclude is not None else ["*-test.csv"]
        folders = [[f] for f in split_data_folder(data, workdir / "data", num_locals, globs)]
    controller_settings: dict[str, object] = {"secure_aggregation": True} if secure_aggregation else {}
    return LocalFederation(
        workdir,
        folders,
        node_settings=node_settings,
        controller_settings=controller_settings,
        tls=tls,
        is_bound_to_launcher=not is_background,
        is_gateway=is_background,
    ).start()


def _federation_up(args: argparse.Namespace) -> None:
    workdir = args.workdir.resolve()
    if (workdir / "federation.json").exists():
        raise ValueError(
            f"a federation is already recorded in {workdir}; run `mip federation down --workdir {args.workdir}`"
        )
    federation = _start_federation(
        workdir,
        args.locals,
        args.data,
        args.exclude,
        tls=args.tls,
        is_background=True,
        monetdb=args.monetdb,
        secure_aggregation=args.secure_aggregation,
    )
    print(federation.controller_address)
    print(f"MIP HTTP API (mip-gateway): {federation.gateway_url}")
    if args.secure_aggregation:
        print("secure aggregation on: sums over the locals are merged from masked parts")
    if args.tls:
        files = federation.cert_files("client")
        print(f"TLS on; client certificate: --ca {files.ca} --cert {files.cert} --key {files.key}")


def _federation_down(args: argparse.Namespace) -> None:
    workdir = args.workdir.resolve()
    if not LocalFederation.is_recorded(workdir):
        print(f"no federation running in {workdir}; nothing to stop")  # stopping twice is not an error
        return
    LocalFederation.from_state(workdir).stop()
    print("federation stopped")


def _demo(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="mip-demo-"))
    print(
        f"starting 1 global node, {args.locals} local nodes and the controller in {workdir} ...",
        flush=True,
    )
    started = time.monotonic()
    federation = _start_federation(workdir, args.locals, None, None, tls=args.tls, monetdb=args.monetdb)
    try:
        print(f"federation up in {time.monotonic() - started:.1f} s; controller at {federation.controller_address}")
        files = federation.cert_files("client") if args.tls else None
        with Controller(
            federation.controller_address,
            ca_file=files.ca if files else None,
            cert_file=files.cert if files else None,
            key_file=files.key if files else None,
        ) as controller:
            datasets = controller.datasets()
            _print_table(
                ["dataset", "data model", "nodes", "rows"],
                [[d.code, d.data_model, ",".join(d.node_ids), d.row_count] for d in datasets],
            )
            print(f"\nrunning k-means (k=4) on {', '.join(DEMO_VARIABLES)} across {args.locals} hospitals ...")
            outcome = controller.run(
                "kmeans",
                data_model="demo:1.0",
                datasets=[d.code for d in datasets],
                y=DEMO_VARIABLES,
                parameters={"numOfClusters": 4, "numOfIterations": 50, "tolerance": 1e-6},  # default start
                on_progress=_progress_printer(),
            )
        _print_outcome(outcome)
    finally:
        federation.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print("\nfederation stopped; no process left behind")


# --- experiments --------------------------------------------------------------------------


def _run(args: argparse.Namespace) -> None:
    inputdata, parameters = read_request_file(args.request) if args.request else ({}, {})
    if args.data_model:
        inputdata["data_model"] = args.data_model
    if args.datasets:
        inputdata["datasets"] = _split(args.datasets)
    if args.y:
        inputdata["y"] = [v for item in args.y for v in _split(item)]
    if args.x:
        inputdata["x"] = [v for item in args.x for v in _split(item)]
    if args.filter:
        inputdata["filters"] = read_json_file(args.filter, "filter file")
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--param {item!r} must be key=value")
        try:
            parameters[key] = json.loads(value)
        except json.JSONDecodeError:
            parameters[key] = value
    if "data_model" not in inputdata or not inputdata.get("datasets"):
        raise ValueError("say which data: --data-model and --datasets, or --request FILE with inputdata")
    if args.plot:
        require_matplotlib()  # before the experiment runs, not after
    with _connect(args) as controller:
        outcome = controller.run(
            args.algorithm,
            data_model=inputdata["data_model"],
            datasets=inputdata.get("datasets") or [],
            y=inputdata.get("y") or [],
            x=inputdata.get("x") or [],
            filters=inputdata.get("filters"),
            parameters=parameters,
            on_progress=None if args.json else _progress_printer(),
        )
    if args.plot:
        plot_result(args.algorithm, outcome.result, args.plot, y=inputdata.get("y") or [], x=inputdata.get("x") or [])
    if args.json:
        print(json.dumps(_outcome_json(outcome), indent=2))
        return
    _print_outcome(outcome, x=inputdata.get("x") or [])
    if args.plot:
        print(f"\nplot written to {args.plot}")


def _pipeline(args: argparse.Namespace) -> None:
    pipeline = load_pipeline(args.file)
    with _connect(args) as controller:
        outcomes = controller.run_pipeline(
            pipeline.steps,
            on_progress=None if args.json else _progress_printer(),
            timeout_s=pipeline.timeout_s,
            is_skip_failed_nodes=pipeline.is_skip_failed_nodes,
        )
    if args.json:
        print(json.dumps([_outcome_json(o) for o in outcomes], indent=2))
        return
    for step, outcome in zip(pipeline.steps, outcomes, strict=True):
        _print_outcome(outcome, x=list(step.inputdata.x))


def _outcome_json(outcome: StepOutcome) -> dict[str, Any]:
    return {
        "experiment_id": outcome.experiment_id,
        "step": outcome.step,
        "algorithm": outcome.algorithm,
        "result": outcome.result,
        "participants": outcome.participants,
        "exclusions": outcome.exclusions,
        "secure_aggregation_outputs": outcome.secure_aggregation_outputs,
    }


def _progress_printer() -> Any:
    """A live progress line on stderr: step, iteration bar and nodes done (one line per event off a TTY)."""
    is_tty = sys.stderr.isatty()

    def show(event: Progress) -> None:
        if event.kind == "accepted":
            line = f"experiment {event.experiment_id}"
        elif event.kind == "started":
            line = f"[{event.index + 1}/{event.step_count}] {event.step} started"
        elif event.kind == "finished":
            line = f"{event.step} finished in {event.duration_s:.2f} s"
        else:
            total = event.total_iterations or 0
            filled = int(30 * event.iteration / total) if total else 0
            bar = f" [{'#' * filled}{'-' * (30 - filled)}]" if total else ""
            count = f" {event.iteration}/{total}" if total else (f" {event.iteration}" if event.iteration else "")
            nodes = f", {event.nodes_done} node(s) done" if event.nodes_done else ""
            line = f"{event.step}{bar} {event.message}{count}{nodes}"
            if not is_tty and total and event.iteration % max(1, total // 10) and event.iteration != total:
                return  # in a log file, every tenth of the way is enough
        end = "\r" if is_tty and event.kind == "progress" else "\n"
        print(line.ljust(78), end=end, file=sys.stderr, flush=True)

    return show


def _print_outcome(outcome: StepOutcome, *, x: Sequence[str] = ()) -> None:
    print(f"\n{outcome.algorithm} ({outcome.step})")
    _print_table(["node", "rows"], [[n, r] for n, r in sorted(outcome.participants.items())])
    for node, reason in sorted(outcome.exclusions.items()):
        print(f"left out: {node}: {reason}")
    if outcome.secure_aggregation_outputs:
        merged = sorted(set(outcome.secure_aggregation_outputs))
        print(f"secure aggregation: {', '.join(merged)} ({len(outcome.secure_aggregation_outputs)} round(s))")
    print()
    print(render_result(outcome.result, row_labels=["Intercept", *x] if x else None))


def _print_table(header: list[str], rows: list[list[Any]]) -> None:
    print(format_table(header, rows))


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


# --- catalogue ----------------------------------------------------------------------------


def _algorithms(args: argparse.Namespace) -> None:
    with _connect(args) as controller:
        algorithms = controller.algorithms()
    if args.json:
        print(json.dumps([json_format.MessageToDict(a) for a in algorithms], indent=2))
        return
    _print_table(
        ["algorithm", "y", "x", "parameters"],
        [
            [
                a.name,
                _rule(a.y),
                _rule(a.x),
                ", ".join(p.name + ("*" if p.is_required else "") for p in a.parameters),
            ]
            for a in algorithms
        ],
    )
    print("(* required)")


def _rule(rule: Any) -> str:
    most = str(rule.max_count) if rule.HasField("max_count") else "n"
    if rule.HasField("max_count") and rule.max_count == 0:
        return "-"
    return f"{rule.min_count}..{most} {rule.kind}"


def _datasets(args: argparse.Namespace) -> None:
    with _connect(args) as controller:
        datasets = controller.datasets()
    if args.json:
        print(json.dumps([json_format.MessageToDict(d) for d in datasets], indent=2))
        return
    _print_table(
        ["dataset", "data model", "nodes", "rows"],
        [[d.code, d.data_model, ",".join(d.node_ids), d.row_count] for d in datasets],
    )


def _health(args: argparse.Namespace) -> None:
    with _connect(args) as controller:
        report = controller.health()
    if args.json:
        print(json.dumps(json_format.MessageToDict(report), indent=2))
        return
    _print_table(
        ["node", "role", "state", "address", "p50 ms", "p99 ms", "last error"],
        [
            [
                n.node_id,
                json_format.MessageToDict(n).get("role", "").removeprefix("NODE_ROLE_").lower(),
                json_format.MessageToDict(n).get("state", "NODE_STATE_UNSPECIFIED").removeprefix("NODE_STATE_"),
                n.address,
                f"{n.latency_p50.ToNanoseconds() / 1e6:.1f}",
                f"{n.latency_p99.ToNanoseconds() / 1e6:.1f}",
                n.last_error,
            ]
            for n in report.nodes
        ],
    )


# --- experiments --------------------------------------------------------------------------


def _experiment_json(info: ExperimentInfo) -> dict[str, Any]:
    return {
        "experiment_id": info.experiment_id,
        "state": info.state,
        "algorithms": info.algorithms,
        "create_time": info.create_time.isoformat(),
        "end_time": info.end_time.isoformat() if info.end_time else None,
        "step": info.step,
        "iteration": info.iteration,
        "error": info.error,
        "steps": [_outcome_json(o) for o in info.steps],
    }


def _experiments_list(args: argparse.Namespace) -> None:
    with _connect(args) as controller:
        found = list(controller.list_experiments())
    if args.json:
        print(json.dumps([_experiment_json(e) for e in found], indent=2))
        return
    _print_table(
        ["experiment", "state", "algorithms", "started", "error"],
        [
            [e.experiment_id, e.state, ",".join(e.algorithms), e.create_time.strftime("%Y-%m-%d %H:%M:%S"), e.error]
            for e in found
        ],
    )


def _print_experiment(info: ExperimentInfo, args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps(_experiment_json(info), indent=2))
        return
    where = f", step {info.step} iteration {info.iteration}" if info.state == "running" and info.step else ""
    print(f"experiment {info.experiment_id}: {info.state}{where}" + (f" ({info.error})" if info.error else ""))
    for outcome in info.steps:
        _print_outcome(outcome)


def _experiments_get(args: argparse.Namespace) -> None:
    with _connect(args) as controller:
        _print_experiment(controller.get_experiment(args.experiment_id), args)


def _experiments_cancel(args: argparse.Namespace) -> None:
    with _connect(args) as controller:
        _print_experiment(controller.cancel_experiment(args.experiment_id), args)


def _experiments_watch(args: argparse.Namespace) -> None:
    with _connect(args) as controller:
        outcomes = controller.watch_experiment(
            args.experiment_id, on_progress=None if args.json else _progress_printer()
        )
    if args.json:
        print(json.dumps([_outcome_json(o) for o in outcomes], indent=2))
        return
    for outcome in outcomes:
        _print_outcome(outcome)


# --- certificates -------------------------------------------------------------------------


def _protos(args: argparse.Namespace) -> None:
    """The include folder for protoc/buf: it holds mip/v1/*.proto."""
    print(Path(_proto.__file__).parent)


def _certs_create(args: argparse.Namespace) -> None:
    nodes, clients = _split(args.nodes), _split(args.clients)
    files = create_federation_certs(
        args.out, [*nodes, args.controller, *clients], hosts=_split(args.hosts), valid_days=args.days
    )
    print(f"development CA: {args.out / 'ca.pem'} (key {args.out / 'ca.key'}; keep it private)")
    _print_table(["identity", "certificate", "key"], [[name, f.cert, f.key] for name, f in files.items()])
