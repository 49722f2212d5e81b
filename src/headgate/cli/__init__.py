"""The command line: a thin layer over :class:`headgate.Project`."""
