"""The command-line layer: one module per `dipcert` sub-command, parsing arguments and printing.

The only layer allowed to import everything below it; nothing below imports it. Imports inside the
command functions are deliberate here: `dipcert --help` must start fast, so a command loads its
engine only when it runs.
"""
