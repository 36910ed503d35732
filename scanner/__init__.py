"""scanner: static analysis and policy scanner for repositories and manifests."""

import os as _os
import sys as _sys

__version__ = "0.1.0"

# `python -m scanner` and `python -m scanner.hook` (the pre-push hook) run with the current folder,
# usually the scanned repository, first on sys.path: its `yaml.py` or `re2.py` would be imported, and
# run, in place of the real library. Never import from there.
if _sys.argv[:1] == ["-m"] and _sys.path and _sys.path[0] in ("", _os.getcwd()):
    del _sys.path[0]

# `python -m scanner`: Ctrl-C and SIGTERM are handled from our first line on (exit 130 and no
# traceback, see scanner.interrupts), not only once the CLI is imported.
_start = len(getattr(_sys, "orig_argv", ())) - len(_sys.argv)  # where `-m scanner` is in the command line
if _sys.argv[:1] == ["-m"] and _start > 0 and _sys.orig_argv[_start - 1 : _start + 1] == ["-m", "scanner"]:
    from scanner import interrupts as _interrupts

    _interrupts.install()
