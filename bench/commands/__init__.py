"""One module per ``ventbench`` sub-command: ``HELP``, ``add_arguments(parser)``, ``run(args)``."""
