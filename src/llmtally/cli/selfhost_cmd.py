"""``llmtally selfhost``: GPU break-even for an open model; ``selfhost instances``
lists the GPU catalog; ``selfhost bench`` measures the local model and prices it."""

from __future__ import annotations

import os
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

from llmtally.cli.common import HomeOption, OverrideOption, fail, open_catalog, print_json

if TYPE_CHECKING:
    import datetime as dt

    from rich.table import Table

    from llmtally.selfhost.bench import BenchPrice, BenchResult
    from llmtally.selfhost.economics import Mix
    from llmtally.selfhost.plan import Plan
    from llmtally.selfhost.schema import InstanceSpec
    from llmtally.selfhost.sizing import Quant

__all__ = ["app"]

app = typer.Typer(
    help="Self-hosting economics: memory, GPUs, throughput, $ per 1M tokens, API break-even.",
    invoke_without_command=True,
    no_args_is_help=False,
)

InstancesFileOption = typer.Option(
    None, "--instances-file", help="A GPU instance file in the built-in file's format."
)
CompareOption = typer.Option(
    None,
    "--compare",
    help="API models to break even with, comma-separated ('' for none; default: a few).",
)
MixOption = typer.Option("3:1", "--mix", help="Input:output token mix of the workload.")
HoursOption = typer.Option("720", "--hours-per-month", help="Hours the instance is paid for.")
AtOption = typer.Option(None, "--at", help="Price API models as of this time (ISO 8601).")
JsonOption = typer.Option(False, "--json", help="Print JSON instead of a table.")


def _problem(exc: Exception) -> NoReturn:
    """Exit 1 when a name is unknown or nothing fits, 2 when the input cannot be used."""
    from llmtally.selfhost.plan import NoFitError

    fail(str(exc), code=1 if isinstance(exc, (LookupError, NoFitError)) else 2)


def _number(option: str, text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        fail(f"{option}: not a number: {text!r}")
    if not value.is_finite():
        fail(f"{option}: not a finite number: {text!r}")
    return value


def _decimal(option: str, text: str | None) -> Decimal | None:
    return None if text is None else _number(option, text)


def _common(
    mix: str, compare: str | None, at: str | None
) -> tuple[Mix, tuple[str, ...], dt.datetime | None]:
    from llmtally.costing import parse_time
    from llmtally.selfhost.economics import Mix
    from llmtally.selfhost.plan import DEFAULT_COMPARE
    from llmtally.selfhost.tables import SelfHostError

    try:
        parsed_mix = Mix.parse(mix)
    except SelfHostError as exc:
        fail(f"--mix: {exc}")
    if compare is None:
        names = DEFAULT_COMPARE
    else:
        names = tuple(n.strip() for n in compare.split(",")) if compare.strip() else ()
    if not all(names):
        fail("--compare: empty model name in the list")
    try:
        when = parse_time(at) if at is not None else None
    except ValueError as exc:
        fail(f"--at: {exc}")
    return parsed_mix, names, when


def _quants(text: str) -> tuple[Quant, ...]:
    from llmtally.selfhost.sizing import QUANTS

    if text == "all":
        return QUANTS
    if text not in QUANTS:
        fail(f"--quant: one of {', '.join(QUANTS)} or all, got {text!r}")
    return (text,)


def _tokens(value: Decimal | None) -> str:
    if value is None:
        return "-"
    for size, unit in ((Decimal(10) ** 12, "T"), (Decimal(10) ** 9, "B"), (Decimal(10) ** 6, "M")):
        if value >= size:
            return f"{value / size:.2f}{unit}"
    return f"{value:,.0f}"


def _money(value: Decimal | None) -> str:
    from llmtally.money import usd

    return usd(value, "-")


def _rate(value: Decimal | None) -> str:
    from llmtally.money import usd_rate

    return usd_rate(value, "-")


def _plan_table(result: Plan, wide: bool) -> Table:
    """A row per quantization; without ``wide``, no $/hour column (the month's
    cost is there)."""
    from llmtally.fit_table import plain_table, snug

    q = result.query
    sequences = f"{q.concurrency} sequence{'' if q.concurrency == 1 else 's'}"
    table = plain_table(
        f"Self-hosting {result.model.name}: {sequences} x {q.context:,} "
        f"tokens, {q.utilization:.0%} busy, {q.hours_per_month} h/month",
        caption=None if wide else "$/hour: a wider terminal or --json",
    )
    table.add_column("quant", no_wrap=True)
    table.add_column("instance", overflow="fold", ratio=1)
    heads = ("$/hour", "memory GB", "GPUs", "tok/s", "$/month", "$/1M out")
    for head in heads[0 if wide else 1 :]:
        table.add_column(head, justify="right", no_wrap=True)
    for r in result.rows:
        if r.reason is not None or r.instance is None or r.fit is None or r.throughput is None:
            cells = ["(fits none)", "-", f"{r.need.total_gb:,.1f}", "-", "-", "-", "-"]
        else:
            cells = [
                r.instance.name,
                _rate(r.instance.usd_per_hour),
                f"{r.need.total_gb:,.1f}",
                f"{r.fit.gpus_per_replica}x{r.fit.replicas}/{r.instance.gpu_count}",
                f"{r.throughput.per_instance:,.0f}",
                _money(r.monthly_cost),
                _rate(r.usd_per_1m_output),
            ]
        table.add_row(r.quant, *(cells if wide else cells[:1] + cells[2:]))
    return snug(table)


def _break_even_table(result: Plan) -> Table:
    from llmtally.fit_table import plain_table, snug

    table = plain_table(f"Break-even with APIs (input:output {result.query.mix})")
    table.add_column("quant", no_wrap=True)
    table.add_column("API model", overflow="fold", ratio=1)
    for head in ("API $/1M", "break-even tok/month", "busy needed"):
        table.add_column(head, justify="right", no_wrap=True)
    table.add_column("cheaper here?", no_wrap=True)
    for r in result.rows:
        for c in r.comparisons:
            table.add_row(
                r.quant,
                f"{c.provider}/{c.model}",
                _rate(c.blended_per_1m),
                _tokens(c.break_even_tokens),
                f"{c.break_even_utilization:.0%}",
                "self-host" if c.self_host_cheaper else "API",
            )
    return snug(table)


@app.callback()
def selfhost(
    ctx: typer.Context,
    model: str | None = typer.Option(
        None, "--model", "-m", help="An open model, e.g. llama-3.1-70b."
    ),
    params: str | None = typer.Option(None, "--params", help="Parameter count, e.g. 70e9."),
    active_params: str | None = typer.Option(
        None, "--active-params", help="Parameters read per token (MoE)."
    ),
    layers: int | None = typer.Option(None, "--layers", help="Transformer layers."),
    kv_heads: int | None = typer.Option(None, "--kv-heads", help="Key/value heads."),
    head_dim: int | None = typer.Option(None, "--head-dim", help="Dimension of each head."),
    quant: str = typer.Option("all", "--quant", help="fp16, int8, int4 or all."),
    context: int = typer.Option(8192, "--context", help="Tokens of context per sequence."),
    concurrency: int = typer.Option(16, "--concurrency", help="Sequences served at once."),
    instance: str | None = typer.Option(None, "--instance", help="Price on this instance type."),
    cloud: str | None = typer.Option(
        None, "--cloud", help="Cheapest fitting instance on aws, gcp or azure."
    ),
    utilization: str = typer.Option(
        "0.5", "--utilization", help="Share of the month busy, (0, 1]."
    ),
    hours_per_month: str = HoursOption,
    mix: str = MixOption,
    compare: str | None = CompareOption,
    tokens_per_second: str | None = typer.Option(
        None, "--tokens-per-second", help="Measured output tokens/s of the whole instance."
    ),
    at: str | None = AtOption,
    instances_file: Path | None = InstancesFileOption,
    as_json: bool = JsonOption,
    home: Path | None = HomeOption,
    prices_file: Path | None = OverrideOption,
) -> None:
    """Memory, GPUs, throughput, $ per 1M output tokens and API break-even of MODEL.

    Without --instance, each quantization goes on the cheapest instance (per hour)
    that holds it, on --cloud if given.
    """
    if ctx.invoked_subcommand is not None:
        return
    from llmtally.selfhost.plan import Query, plan
    from llmtally.selfhost.report import plan_json
    from llmtally.selfhost.tables import SelfHostError, load_instances, load_models

    parsed_mix, names, when = _common(mix, compare, at)
    try:
        query = Query(
            model=model,
            params=_decimal("--params", params),
            active_params=_decimal("--active-params", active_params),
            layers=layers,
            kv_heads=kv_heads,
            head_dim=head_dim,
            quants=_quants(quant),
            context=context,
            concurrency=concurrency,
            instance=instance,
            cloud=cloud,
            utilization=_number("--utilization", utilization),
            hours_per_month=_number("--hours-per-month", hours_per_month),
            mix=parsed_mix,
            compare=names,
            tokens_per_second=_decimal("--tokens-per-second", tokens_per_second),
            at=when,
        )
        catalog = open_catalog(home, prices_file)
        result = plan(query, load_instances(instances_file), load_models(), catalog)
    except (SelfHostError, LookupError) as exc:
        _problem(exc)
    if as_json:
        print_json(plan_json(result))
        return
    _render_plan(result)


def _render_plan(result: Plan) -> None:
    from rich.console import Console

    from llmtally.fit_table import fits

    console = Console(highlight=False)
    plan_table = _plan_table(result, wide=True)
    console.print(plan_table if fits(console, plan_table) else _plan_table(result, wide=False))
    for r in result.rows:
        if r.reason is not None:
            console.print(f"{r.quant}: {r.reason}", markup=False, soft_wrap=True)
    if result.query.compare:
        console.print(_break_even_table(result))
    console.print(
        "GPUs: per replica x replicas / on the instance; tok/s: output tokens/s of the "
        "instance; break-even: API tokens a month (input + output) that cost as much as "
        "the instance, and the share of the month it must be busy to serve them. "
        "Estimates; the assumptions are listed in --json.",
        markup=False,
    )


def _instances_table(rows: list[InstanceSpec], wide: bool) -> Table:
    """The instances; without ``wide``, no GB/s, region and since columns."""
    from llmtally.fit_table import plain_table, snug
    from llmtally.selfhost.economics import monthly_cost

    table = plain_table(
        "GPU instances, on-demand list prices (* = see the note in --json)",
        caption=None if wide else "GB/s, region, since: a wider terminal or --json",
    )
    table.add_column("cloud", no_wrap=True)
    table.add_column("instance", overflow="fold", ratio=1)
    table.add_column("GPU", no_wrap=True)
    for head in ("n", "GB", "GB/s", "$/hour", "$/month"):
        if wide or head != "GB/s":
            table.add_column(head, justify="right", no_wrap=True)
    if wide:
        table.add_column("region", no_wrap=True)
        table.add_column("since", no_wrap=True)
    for i in rows:
        speed = [str(i.memory_bandwidth_gbps)] if wide else []
        table.add_row(
            i.cloud,
            i.name + (" *" if i.note else ""),
            i.gpu,
            str(i.gpu_count),
            str(i.gpu_memory_gb),
            *speed,
            _rate(i.usd_per_hour),
            _money(monthly_cost(i.usd_per_hour)),
            *([i.region, i.effective.isoformat()] if wide else []),
        )
    return snug(table)


@app.command("instances")
def instances(
    gpu: str | None = typer.Option(None, "--gpu", help="GPU name contains this, e.g. A100."),
    cloud: str | None = typer.Option(None, "--cloud", help="aws, gcp or azure."),
    instances_file: Path | None = InstancesFileOption,
    as_json: bool = JsonOption,
) -> None:
    """List the GPU instance catalog."""
    from rich.console import Console

    from llmtally.selfhost.report import instance_json
    from llmtally.selfhost.tables import SelfHostError, load_instances

    try:
        rows = load_instances(instances_file).select(cloud=cloud, gpu=gpu)
    except SelfHostError as exc:
        _problem(exc)
    if as_json:
        print_json([instance_json(i) for i in rows])
        return
    from llmtally.fit_table import fits

    console = Console(highlight=False)
    table = _instances_table(rows, wide=True)
    console.print(table if fits(console, table) else _instances_table(rows, wide=False))


def _bench_table(result: BenchResult, price: BenchPrice) -> Table:
    from rich.table import Table

    threads = f"{result.threads} thread{'' if result.threads == 1 else 's'}"
    table = Table(title=f"{result.model} on this machine ({threads})")
    table.add_column("figure")
    table.add_column("value", justify="right")
    rows = [
        ("load", f"{result.load_seconds:.2f} s"),
        ("prompt processing", f"{result.prompt_tokens_per_second} tok/s"),
        ("decode (median of runs)", f"{price.tokens_per_second} tok/s"),
        ("price", f"${price.usd_per_hour}/hour, {price.utilization:.0%} busy"),
        ("$ per 1M output tokens", _rate(price.usd_per_1m_output)),
        (f"monthly cost ({price.hours_per_month} h)", _money(price.monthly_cost)),
        ("output tokens a month", _tokens(price.output_tokens_per_month)),
    ]
    for c in price.comparisons:
        rows.append(
            (
                f"break-even vs {c.provider}/{c.model}",
                f"{_tokens(c.break_even_tokens)} tok/mo ({c.break_even_utilization:.0%} busy)",
            )
        )
    for name, value in rows:
        table.add_row(name, value)
    return table


@app.command("bench")
def bench(
    model: str = typer.Option("local/smollm2", "--model", "-m", help="The embedded local model."),
    usd_per_hour: str | None = typer.Option(
        None,
        "--usd-per-hour",
        help="What this machine costs an hour (env LLMTALLY_LOCAL_USD_PER_HOUR; default: the "
        "catalog's local/smollm2 machine price).",
    ),
    tokens: int = typer.Option(128, "--tokens", help="Tokens generated per run."),
    runs: int = typer.Option(3, "--runs", help="Timed runs; the median is priced."),
    threads: int = typer.Option(2, "--threads", help="CPU threads for llama.cpp."),
    utilization: str = typer.Option("1", "--utilization", help="Share of the month busy, (0, 1]."),
    hours_per_month: str = HoursOption,
    mix: str = MixOption,
    compare: str | None = CompareOption,
    at: str | None = AtOption,
    as_json: bool = JsonOption,
    home: Path | None = HomeOption,
    prices_file: Path | None = OverrideOption,
) -> None:
    """Measure the local model's decode speed here and price it at --usd-per-hour."""
    from rich.console import Console

    from llmtally.gateway.local import default_usd_per_hour
    from llmtally.selfhost.bench import bench_json, check_price, price_bench, run_bench
    from llmtally.selfhost.tables import SelfHostError

    rate_text = usd_per_hour or os.environ.get("LLMTALLY_LOCAL_USD_PER_HOUR")
    rate = default_usd_per_hour() if rate_text is None else _number("--usd-per-hour", rate_text)
    parsed_mix, names, when = _common(mix, compare, at)
    busy = _number("--utilization", utilization)
    hours = _number("--hours-per-month", hours_per_month)
    catalog = open_catalog(home, prices_file)
    try:
        check_price(rate, busy, hours)
        result = run_bench(model, tokens=tokens, runs=runs, threads=threads)
        price = price_bench(result, rate, catalog, names, busy, hours, parsed_mix, when)
    except (SelfHostError, LookupError) as exc:
        _problem(exc)
    if as_json:
        print_json(bench_json(result, price))
        return
    Console(highlight=False).print(_bench_table(result, price))
