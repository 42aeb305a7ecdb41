"""``compactrs bench ARTIFACT``: latency percentiles, throughput and peak memory per batch size."""
from __future__ import annotations

import click

from compactrs.commands._common import emit, json_option, threads_option
from compactrs.deploy.runners import RUNTIMES  # the registry (torch-free, numpy only): new runtimes appear here


@click.command("bench")
@click.argument("artifact", type=click.Path())
@click.option("--runtime", type=click.Choice(["torch", *RUNTIMES]), default="onnxruntime", show_default=True)
@click.option("--batch", "batches", default="1,8,32", show_default=True, help="comma-separated batch sizes")
@click.option("--warmup", type=click.IntRange(min=0), default=10, show_default=True)
@click.option("--min-runs", type=click.IntRange(min=1), default=30, show_default=True)
@click.option("--min-seconds", type=click.FloatRange(min=0), default=1.0, show_default=True, help="time each batch size at least this long")
@threads_option(default=1)
@json_option()
def command(artifact, runtime, batches, warmup, min_runs, min_seconds, threads, as_json):
    """Benchmark ARTIFACT (a run directory, an .onnx file, a bundle or a .plan) on this machine.

    Warm-up, then median / p90 / p99 latency, throughput and peak memory (peak RSS delta) per batch size.
    """
    from compactrs.bench import benchmark
    from compactrs.units import parse_int_list

    result = benchmark(artifact, runtime, parse_int_list(batches, what="--batch"), threads, warmup, min_runs, min_seconds)
    emit(result, as_json, _print)


def _print(r: dict) -> None:
    click.echo(f"{r['artifact']} [{r['runtime']}, threads {r['threads']}, input {r['input_shape']}] on {r['machine']['cpu']}")
    click.echo(f"{'batch':>5} {'median ms':>10} {'p90 ms':>9} {'p99 ms':>9} {'samples/s':>10} {'peak MB':>8} {'runs':>6}")
    for row in r["results"]:
        mem = "-" if row["peak_mem_mb"] is None else f"{row['peak_mem_mb']:.1f}"
        flag = "  CONTENDED" if row["conditions"]["contended"] else ""
        click.echo(f"{row['batch']:>5} {row['median_ms']:>10.3f} {row['p90_ms']:>9.3f} {row['p99_ms']:>9.3f} "
                   f"{row['throughput_per_s']:>10.1f} {mem:>8} {row['runs']:>6}{flag}")
    click.echo(f"memory: {r['memory_method']}; latency: median of the timed runs")
    for row in r["results"]:
        if row["conditions"]["contended"]:
            click.echo(f"warning: batch {row['batch']} was measured while the machine was busy ({row['conditions']['reason']}); "
                       f"re-measure on a quiet machine before quoting it")
