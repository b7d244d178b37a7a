"""The ``mpflow`` command groups, one module each; ``mpflow.cli`` joins them into one app.

Command modules never import ``mpflow.cli``: each defines its own ``typer.Typer`` (a group) or plain
command functions, and ``mpflow.cli`` registers them. Shared helpers live in ``commands.common``.
"""
