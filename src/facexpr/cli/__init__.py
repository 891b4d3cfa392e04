"""The ``facexpr`` command line (typer + rich). ``facexpr --help`` lists the commands."""

from __future__ import annotations

import typer

from facexpr.cli import (
    apply,
    classify,
    crossval,
    demo,
    evaluate,
    experiments,
    latent,
    openface,
    prepare,
    synthetic,
    train,
)
from facexpr.cli.common import quiet_libraries

app = typer.Typer(
    name="facexpr",
    help="Facial expression normalization and synthesis: neutral faces from expressive photos and back.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
train_app = typer.Typer(help="Train a model on a prepared dataset.", no_args_is_help=True, cls=train.MethodGroup)

app.command("prepare")(prepare.prepare_command)
app.command("synthetic")(synthetic.synthetic_command)
app.command("openface")(openface.openface_command)
app.command("evaluate")(evaluate.evaluate_command)
app.command("compare")(evaluate.compare_command)
app.command("benchmark")(evaluate.benchmark_command)
app.add_typer(train_app, name="train")
app.command("neutralize")(apply.neutralize_command)
app.command("synthesize")(apply.synthesize_command)
app.command("classify")(classify.classify_command)
app.command("demo")(demo.demo_command)
app.command("experiments")(experiments.experiments_command)
app.command("crossval")(crossval.crossval_command)
app.command("sample")(latent.sample_command)
app.command("tsne")(latent.tsne_command)


@app.callback()
def _options(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also show the libraries' banners, tips and warnings."),
) -> None:
    """Facial expression normalization and synthesis: neutral faces from expressive photos and back."""
    quiet_libraries(not verbose)


def main() -> None:
    """Console-script entry point."""
    app()
