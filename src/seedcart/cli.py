"""The ``seedcart`` command: thin typer commands, each a docstring and one call into the library."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from seedcart.errors import SeedcartError

app = typer.Typer(help="seedcart: the open seeding-to-purchase loop.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
brands_app = typer.Typer(help="Brands (tenants).", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
links_app = typer.Typer(help="Partner links.", no_args_is_help=True)
load_app = typer.Typer(help="Bulk loads.", no_args_is_help=True)
lake_app = typer.Typer(help="The Parquet lake.", no_args_is_help=True)
app.add_typer(brands_app, name="brands")
app.add_typer(keys_app, name="keys")
app.add_typer(links_app, name="links")
app.add_typer(load_app, name="load")
app.add_typer(lake_app, name="lake")


def emit(value: Any) -> None:
    """Print ``value`` as JSON on stdout."""
    sys.stdout.write(json.dumps(value, ensure_ascii=False, default=str) + "\n")


def fail(exc: SeedcartError) -> NoReturn:
    """Print the error as JSON on stdout and exit 1."""
    emit(exc.to_dict())
    raise typer.Exit(1)


@app.callback()
def _main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log at INFO.")] = False) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default SEEDCART__SERVE__HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind (default SEEDCART__SERVE__PORT).")] = None,
    click_port: Annotated[int | None, typer.Option(
        help="Also serve the short links /c/{code} on this port, from the lean click edge "
        "(default SEEDCART__SERVE__CLICK_PORT; unset: the API's port serves them).")] = None,
) -> None:
    """Serve the API, the click redirect and the dashboard until interrupted."""
    from seedcart.demo import leave_if_threads_linger, serve_forever

    serve_forever(host=host, port=port, click_port=click_port)
    leave_if_threads_linger()


@app.command()
def native(
    check_only: Annotated[bool, typer.Option("--check", help="Only say whether the compiled build is in use.")] = False,
) -> None:
    """Compile the click hot path with mypyc (see seedcart.native); `make install` runs this."""
    from seedcart import native as native_build

    if not check_only:
        native_build.build()
    files, reason = native_build.check()
    total = len(native_build.HOT_MODULES)
    typer.echo(f"{total if files else 0} of {total} hot modules compiled: {reason}")
    if not files:
        raise typer.Exit(1)


def _catalog_call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run ``fn(session, ...)`` in one catalog session of the environment's settings (SEEDCART__*)."""
    from seedcart.catalog.db import open_catalog
    from seedcart.config import load_settings

    try:
        catalog = open_catalog(load_settings())
        try:
            with catalog.session() as session:
                return fn(session, *args, **kwargs)
        finally:
            catalog.close()
    except SeedcartError as exc:
        fail(exc)


@brands_app.command("list")
def brands_list(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List the brands."""
    from seedcart.catalog.brands import brand_rows

    rows = _catalog_call(brand_rows)
    if as_json:
        emit(rows)
    else:
        for row in rows:
            sys.stdout.write(f"{row['id']}\t{row['name']}\n")


@brands_app.command("create")
def brands_create(name: Annotated[str, typer.Argument(help="The brand's unique name.")]) -> None:
    """Create a brand and print it as JSON."""
    from seedcart.catalog.brands import create_brand

    emit(_catalog_call(lambda s: create_brand(s, name).to_dict()))


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option("--role", help="admin, source, brand or partner.")],
    brand: Annotated[int | None, typer.Option("--brand", help="The brand of a brand key.")] = None,
    partner: Annotated[str | None, typer.Option("--partner", help="The partner of a partner key.")] = None,
    name: Annotated[str, typer.Option("--name", help="A label for the key.")] = "",
) -> None:
    """Mint an API key and print it once as JSON (only its hash is stored)."""
    from seedcart.catalog.keys import issue_key

    emit(_catalog_call(issue_key, role, brand_id=brand, partner_id=partner, name=name))


@app.command("attribute")
def attribute_cmd(
    touches: Annotated[str, typer.Option("--touches", help="Touches, CSV or Parquet: user_id, ts, note_id, kind, "
                                         "click_id [, brand].")],
    conversions: Annotated[str, typer.Option("--conversions", help="Conversions, CSV or Parquet: event_id, user_id "
                                             "or match_key, ts, action, amount, click_id [, brand, sample_rate].")],
    out: Annotated[str, typer.Option("--out", help="Credit file to write, CSV or Parquet by extension.")],
    model: Annotated[list[str] | None, typer.Option("--model", help="A model to run (repeat); default all.")] = None,
    lookback_click: Annotated[str, typer.Option("--lookback-click", help="Click lookback, e.g. 15d, 24h, 0.")] = "15d",
    lookback_engagement: Annotated[str, typer.Option("--lookback-engagement", help="Engagement lookback.")] = "15d",
    lookback_view: Annotated[str, typer.Option("--lookback-view", help="View lookback.")] = "15d",
    half_life: Annotated[str, typer.Option("--half-life", help="Half-life of time_decay.")] = "7d",
    engine: Annotated[str, typer.Option("--engine", help="duckdb or spark.")] = "duckdb",
) -> None:
    """Credit your own touches and conversions (every model, or those given): one row per (event, touch)."""
    from seedcart.attribute.files import attribute_files_cli

    try:
        emit(attribute_files_cli(touches, conversions, out, models=model, lookback_click=lookback_click,
                                 lookback_engagement=lookback_engagement, lookback_view=lookback_view,
                                 half_life=half_life, engine=engine))
    except SeedcartError as exc:
        fail(exc)


@links_app.command("parse")
def links_parse(url: Annotated[str, typer.Argument(help="A partner URL as pasted.")]) -> None:
    """Print what a partner URL is as JSON: partner, kind, item_id, canonical_url, app_url, web_url."""
    from seedcart.links import parse_link

    try:
        emit(parse_link(url))
    except SeedcartError as exc:
        fail(exc)


@load_app.command("backflow")
def load_backflow(
    file: Annotated[str, typer.Argument(help="A CSV or Parquet file of backflow rows.")],
    partner: Annotated[str, typer.Option("--partner", help="The partner that sent the file.")],
    fmt: Annotated[str | None, typer.Option("--format", help="csv or parquet; sniffed when absent.")] = None,
    declared_total: Annotated[int | None, typer.Option("--declared-total", help="Rows the partner declares.")] = None,
) -> None:
    """Load a partner's backflow file (validation, quarantine, dedupe) and print its reconciliation record."""
    from seedcart.config import load_settings
    from seedcart.lake.ingest import load_backflow_file

    try:
        emit(load_backflow_file(load_settings(), Path(file), partner=partner, fmt=fmt, declared_total=declared_total))
    except SeedcartError as exc:
        fail(exc)


@app.command("simulate")
def simulate_cmd(
    users: Annotated[int, typer.Option(help="Simulated users.")] = 2_000,
    days: Annotated[int, typer.Option(help="Days simulated.")] = 30,
    seed: Annotated[int, typer.Option(help="Seed: the same seed gives the same world.")] = 0,
    start: Annotated[str | None, typer.Option(help="First day, YYYY-MM-DD (default 2026-10-01).")] = None,
    no_faults: Annotated[bool, typer.Option("--no-faults", help="No duplicates, late rows, sampling, bots.")] = False,
) -> None:
    """Write a seeded synthetic world (catalog rows and lake tables, with ground truth) into the data dir."""
    from datetime import date

    from seedcart.errors import ValidationError
    from seedcart.sim.progress import simulate_command

    try:
        first = date.fromisoformat(start) if start else None
    except ValueError:
        fail(ValidationError(f"--start must be YYYY-MM-DD, got {start!r}", field="start"))
    try:
        emit(simulate_command(users=users, days=days, seed=seed, start=first, faults=not no_faults))
    except SeedcartError as exc:
        fail(exc)


@app.command()
def demo(
    users: Annotated[int, typer.Option(help="Simulated users.")] = 50_000,
    days: Annotated[int, typer.Option(help="Days of history before today.")] = 14,
    seed: Annotated[int, typer.Option(help="Seed of the world.")] = 7,
    host: Annotated[str | None, typer.Option(help="Interface to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind.")] = None,
    keep: Annotated[bool, typer.Option(help="Reuse the demo data dir instead of starting afresh.")] = False,
    live: Annotated[bool, typer.Option(help="Stream live simulated traffic into the server.")] = True,
    seconds: Annotated[float | None, typer.Option(help="Stop after this many seconds (default: Ctrl-C).")] = None,
) -> None:
    """The whole loop on a generated world: simulate, attribute, serve the dashboard, stream live traffic."""
    from rich.console import Console
    from rich.progress import Progress

    from seedcart.demo import leave_if_threads_linger, run_demo

    console = Console(stderr=False, highlight=False)

    def say(message: str) -> None:
        console.print(message, soft_wrap=True)

    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("simulating", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        try:
            run_demo(say=say, users=users, days=days, seed=seed, host=host, port=port, fresh=not keep,
                     live=live, duration_s=seconds, progress=advance)
        except SeedcartError as exc:
            fail(exc)
    leave_if_threads_linger()


@lake_app.command("compact")
def lake_compact(
    table: Annotated[list[str] | None, typer.Option("--table", help="A table to compact (repeatable); default: "
                                                     "the ones the server compacts.")] = None,
    min_files: Annotated[int, typer.Option("--min-files", help="Small files a day needs to be merged.")] = 8,
) -> None:
    """Merge each day's small files (what the server does every intake.compact_every); prints a report per table."""
    from seedcart.config import load_settings
    from seedcart.lake.compaction import SCHEDULED_TABLES, compact_lake

    try:
        reports = compact_lake(load_settings().resolved_lake_root, tables=table or SCHEDULED_TABLES,
                               min_files=min_files)
        emit([report.to_dict() for report in reports])
    except SeedcartError as exc:
        fail(exc)


def main() -> None:
    """Entry point of the ``seedcart`` script."""
    app()
