import sys

from scanner import interrupts

if not interrupts.installed():  # scanner/__init__ installs them first under `python -m scanner`
    interrupts.install()  # before the CLI's imports: Ctrl-C during start-up is an interrupt too
try:
    from scanner.cli import main

    if interrupts.received():  # a signal during the imports whose KeyboardInterrupt Python swallowed
        raise KeyboardInterrupt  # (raised in a __del__, say): main() starts a new run, forgetting it
    code = main()
except KeyboardInterrupt:  # before main() took over, or between its return and here
    print("scanner: interrupted; results are incomplete", file=sys.stderr)
    code = 130
interrupts.ignore()  # done: a late signal must not become a traceback during exit
if code == 130:
    interrupts.sweep_children()
    interrupts.exit_now(code)
raise SystemExit(code)
