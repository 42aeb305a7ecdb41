"""``compactrs data info SPEC``: what a dataset spec loads to (bands, classes, counts, split)."""
from __future__ import annotations

import click

from compactrs.commands._common import emit, json_option, seed_option


@click.group("data")
def command() -> None:
    """Inspect datasets."""


@command.command("info")
@click.argument("spec")
@seed_option()
@json_option()
def info(spec: str, seed: int, as_json: bool) -> None:
    """Load dataset SPEC and print its bands, classes, per-class counts and split sizes.

    \b
    Specs (options are comma-separated key=value pairs after the path):
      synthetic[,n=100,size=32]            embedded Sentinel-2-like demo (10 bands, 6 classes)
      hsi:PATH[,patch=9,pca=N,split=spatial|random,test=0.3,block=N]
                                           hyperspectral scene: .mat (cube + ground truth) or a folder
                                           with a cube .npy (H, W, bands) and a ground-truth .npy (H, W);
                                           cube-to-pixel patches; the default split is spatially disjoint
      so2sat:PATH[,max=N]                  So2Sat LCZ42 .h5 (sen2, 17 classes)
      eurosat:PATH[,bands=NAMES]           EuroSAT MS class folders of 13-band GeoTIFFs; all 13 bands
                                           unless e.g. bands=B04+B03+B02
      folder:PATH[,size=N|HxW,max_per_class=N]
                                           RGB scene folders (UC Merced, AID, NWPU layout); images are
                                           resized to the most common size unless size= is given
    Values shown in a spec (patch=9, n=100, size=32, test=0.3) are the defaults.
    """
    from compactrs.data import describe_dataset

    summary = describe_dataset(spec, seed=seed)
    emit(summary, as_json, _print_summary)


def _print_summary(s: dict) -> None:
    click.echo(f"dataset      {s['spec']}")
    click.echo(f"kind         {s['kind']}")
    click.echo(f"input        {s['in_bands']} bands × {s['input_size'][0]}×{s['input_size'][1]} px")
    bands = s.get("band_names") or []
    shown = ", ".join(bands[:13]) + (f", … ({len(bands)} in all)" if len(bands) > 13 else "")
    click.echo(f"bands        {shown}")
    click.echo(f"split        {s.get('split', {}).get('method', '?')}: {s['n_train']} train / {s['n_test']} test")
    if s.get("split", {}).get("warning"):
        click.echo(f"note         {s['split']['warning']}")
    click.echo(f"classes      {s['num_classes']}")
    width = max(len(str(n)) for n in s["class_names"])
    originals = s.get("original_labels") or [None] * s["num_classes"]
    click.echo(f"  {'#':>3}  {'class':<{width}}  {'id':>4}  {'train':>6}  {'test':>6}")
    for i, name in enumerate(s["class_names"]):
        orig = "" if originals[i] is None else str(originals[i])
        click.echo(f"  {i:>3}  {name:<{width}}  {orig:>4}  {s['train_counts'][i]:>6}  {s['test_counts'][i]:>6}")
