"""``compactrs export RUN``: validated ONNX (+ INT8 / FP16 / TensorRT) and a deploy bundle."""
from __future__ import annotations

import click

from compactrs.commands._common import emit, json_option, overwrite_option, seed_option, show_progress, threads_option


@click.command("export")
@click.argument("run", type=click.Path())
@click.option("--onnx", "onnx_flag", is_flag=True, help="export FP32 ONNX (always done; accepted for explicitness)")
@click.option("--trt", is_flag=True, help="TensorRT engine: built and validated here if tensorrt imports, else deploy/build_engine.py builds it on the device")
@click.option("--fp16", is_flag=True, help="also write model.fp16.onnx (GPU targets); with --trt, an FP16 engine")
@click.option("--int8", is_flag=True, help="also write model.int8.onnx (onnxruntime static QDQ, per-channel weights); with --trt, an INT8 engine")
@click.option("--calib", type=click.IntRange(min=1), default=500, show_default=True, help="real training samples for INT8 calibration")
@click.option("--calib-method", type=click.Choice(["minmax", "entropy", "percentile"]), default="minmax", show_default=True,
              help="onnxruntime INT8 activation ranges: min/max of the calibration samples, or a histogram's entropy- or "
                   "percentile-clipped range (clips rare outliers; often a smaller OA drop on deep nets)")
@click.option("--openvino", "openvino_flag", is_flag=True, help="also write the OpenVINO IR model.xml/.bin (FP32, f32 pinned; with --int8 an NNCF INT8 IR)")
@click.option("--bf16", is_flag=True, help="with --openvino: also offer model.xml in bf16 (gated by top-1 agreement and OA drop); never used unless asked")
@click.option("--max-drop", type=float, default=None, help="with --openvino --int8: NNCF accuracy-controlled INT8 that keeps the OA drop on held-out training samples <= this (0.005 = half a point)")
@click.option("--int8-speed-check/--no-int8-speed-check", default=True, show_default=True,
              help="keep an INT8 model only if it is faster than FP32 here (batch 1 and 32), leaving slow op groups in float if that helps")
@click.option("--simplify/--no-simplify", default=True, show_default=True, help="simplify the graph with onnxslim (kept only if numerically identical)")
@click.option("--opset", type=click.IntRange(min=17), default=17, show_default=True)
@click.option("--atol", type=click.FloatRange(min=0), default=1e-5, show_default=True, help="FP32 parity: absolute tolerance")
@click.option("--rtol", type=click.FloatRange(min=0), default=1e-5, show_default=True, help="FP32 parity: relative tolerance")
@click.option("--max-oa-drop", type=click.FloatRange(0, 1), default=0.01, show_default=True, help="INT8/FP16: largest allowed drop of overall accuracy on the test split")
@click.option("--min-agreement", type=click.FloatRange(0, 1), default=0.97, show_default=True, help="INT8/FP16: smallest allowed top-1 agreement with PyTorch")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="bundle directory [default: RUN/bundle]")
@overwrite_option()
@threads_option(default=1)
@seed_option("random seed of the validation and calibration samples (a run is split with its own training seed)")
@json_option()
def command(run, onnx_flag, trt, fp16, int8, calib, calib_method, openvino_flag, bf16, max_drop, int8_speed_check, simplify, opset, atol, rtol, max_oa_drop, min_agreement, out, overwrite, threads, seed, as_json):
    """Export RUN's model to a validated deploy bundle.

    Every exported model is checked against PyTorch on real test samples plus random and extreme
    inputs (FP32: atol = rtol = 1e-5; INT8/FP16/BF16: top-1 agreement and OA drop). A failed check exits
    with code 3 and writes no bundle. An INT8 model is kept only if it is faster than FP32 on this
    machine (otherwise the bundle keeps FP32 and says so with both timings). The bundle holds model.onnx
    (+ model.int8.onnx, model.fp16.onnx, OpenVINO model.xml/.bin and model.int8.xml/.bin), manifest.json
    (hashes, input contract, parity, INT8 decisions), golden.npz and deploy/ (verify, run, bench,
    build_engine: numpy + one runtime, no torch).
    """
    from compactrs._progress import progress_bar
    from compactrs.exporter import ExportConfig, export

    config = ExportConfig(trt=trt, fp16=fp16, int8=int8, calib=calib, calib_method=calib_method, simplify=simplify, opset=opset, atol=atol, rtol=rtol,
                          max_oa_drop=max_oa_drop, min_agreement=min_agreement, threads=threads, seed=seed, openvino=openvino_flag,
                          bf16=bf16, max_drop=max_drop, int8_speed_check=int8_speed_check)
    with progress_bar(show_progress(as_json), notes=True) as progress:
        manifest = export(run, out, config, progress=progress, overwrite=overwrite)
    emit(manifest, as_json, _print)


def _print(m: dict) -> None:
    click.echo(f"bundle       {m['bundle']}")
    spec = m["input_spec"]
    click.echo(f"input        {spec['name']} float32 {spec['layout']} [batch, {', '.join(map(str, spec['shape'][1:]))}], "
               f"{len(spec['class_names'])} classes, opset {m['onnx']['opset']}")
    simplified = m["onnx"]["simplified"]
    if simplified.get("applied"):
        click.echo(f"simplified   onnxslim: {simplified['nodes_before']} → {simplified['nodes_after']} nodes (identical outputs)")
    for key, report in m["parity"].items():
        parts = []
        for c in report["comparisons"]:
            if "max_abs_err" in c:
                parts.append(f"max abs err {c['max_abs_err']:.2g}")
            if "agreement" in c:
                parts.append(f"top-1 agreement {c['agreement']:.4f}")
            if "oa_drop" in c:
                parts.append(f"OA {c['oa_reference']:.4f} → {c['oa_candidate']:.4f} (drop {c['oa_drop']:+.4f})")
        click.echo(f"parity       {key}: ok on {report['n_inputs']} inputs ({report['n_real']} real): {', '.join(parts)}")
        for batch, s in (report.get("speed") or {}).items():
            click.echo(f"speed        {key} {batch}: {s['fp32_ms']:.3f} ms fp32 → {s['reduced_ms']:.3f} ms ({s['speedup']:.2f}x)")
    for key in ("quantization", "openvino"):
        decision = (m.get(key) or {}).get("int8") if key == "openvino" else m.get(key)
        if decision and decision.get("policy"):
            runtime = "openvino" if key == "openvino" else "onnxruntime"
            click.echo(f"int8         {runtime}: kept {decision['kept'].upper()} — {decision['reason']}")
            for c in decision["candidates"]:
                speeds = ", ".join(f"b{b} {v['fp32_ms']:.3f}→{v['int8_ms']:.3f} ms ({v['speedup']:.2f}x)" for b, v in c["judgement"]["per_batch"].items())
                click.echo(f"  float: {', '.join(c['float_groups']) or 'none':<34} {speeds}{'  [machine busy]' if c['contended'] else ''}")
    check = m["tensorrt"]["graph_check"]
    click.echo(f"tensorrt     graph check: {'ok' if check['passed'] else 'FAILS'} ({check['errors']} errors, {check['warnings']} warnings)")
    for issue in check["issues"][:10]:
        click.echo(f"  {issue['severity']}: {issue['where']}: {issue['message']}")
    for note in m.get("notes", []):
        click.echo(f"note         {note}")
    click.echo(f"verify on the device: python {m['bundle']}/deploy/verify.py  (numpy + onnxruntime; no torch, no compactrs)")
