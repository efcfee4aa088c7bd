import platform
import sys

import click

from . import __version__


@click.command()
@click.option("--name", default="world", help="Who to greet.")
@click.option("--count", default=1, show_default=True, help="How many times.")
@click.version_option(__version__)
def main(name: str, count: int) -> None:
    """Greet NAME, and say which Python runs us and from where."""
    for _ in range(count):
        click.echo(f"Hello, {name}!")
    click.echo(f"(Python {platform.python_version()} at {sys.prefix})")


if __name__ == "__main__":
    main()
