"""``siamtext datasets``: the named data sets, what each holds and how its columns are read."""

from __future__ import annotations

import click


@click.command()
@click.option("--verbose", "-v", is_flag=True, help="Also show the Hub id, config, split names and column roles.")
def datasets(verbose: bool) -> None:
    """List the data set presets for --dataset (any Hub id or local file works too)."""
    from siamese_text.data.presets import PRESETS

    width = max(len(name) for name in PRESETS)
    for preset in PRESETS.values():
        click.echo(f"{preset.name.ljust(width)}  {preset.label_kind:<7}  {preset.description}; {preset.labels}")
        if verbose:
            hub = preset.hub_id + (f" ({preset.config})" if preset.config else "")
            splits = ", ".join(f"{ours}={theirs}" for ours, theirs in preset.splits.items())
            columns = ", ".join(preset.text_columns) + (f" + label {preset.label_column}" if preset.label_column else "")
            click.echo(f"{'':{width}}  {hub}; splits {splits}; columns {columns}")
    click.echo("\nOr: --dataset user/name [--config C] --text-columns a,b --label-column y [--label-kind score|binary|class],"
               " or a local .csv/.tsv/.jsonl/.parquet file or folder (one file per split).")
