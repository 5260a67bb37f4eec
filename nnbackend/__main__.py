"""``python -m nnbackend`` runs the command line."""

from .cli import main

main()
