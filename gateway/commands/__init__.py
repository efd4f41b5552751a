"""The CLI's commands, one module each; every module has `register(subparsers)` that adds its parser
and sets `run=` (a function of the parsed arguments returning the exit code)."""
