"""``python -m siamese_text_cli``: the ``siamtext`` command, for launchers that start a module
(``torchrun -m siamese_text_cli train ...``, ``accelerate launch -m siamese_text_cli train ...``)."""

from siamese_text_cli.main import cli

if __name__ == "__main__":
    cli(prog_name="siamtext")
