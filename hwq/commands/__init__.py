"""One module per ``hwq`` subcommand; each defines ``register(subparsers)``.

The list in ``hwq.cli.COMMANDS`` names them; nothing is discovered implicitly.
"""
