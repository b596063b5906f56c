"""A warm parent for Celery workers: Django set up and every task imported once, then a worker
forked on demand. The fault tests SIGKILL a worker twenty times; each replacement starts in a
fraction of a second instead of importing everything again.

    python -m tests.faults.zygote [APP]

Commands on standard input, one a line, each answered on standard output:
    start NAME LOG   -> "started PID": a worker (solo pool) named NAME@host, logging to LOG
    kill PID         -> "killed PID":  SIGKILL, then reaped
A worker is the whole `celery worker` process: killed, it acknowledges nothing and its
unacknowledged messages go back to the queue after the broker's visibility timeout."""

import contextlib
import importlib
import os
import signal
import sys

WORKER_ARGS = ["worker", "-l", "info", "--pool", "solo", "--without-mingle", "--without-gossip"]


def _serve(app) -> None:
    for line in sys.stdin:
        command, *args = line.split()
        if command == "start":
            name, log = args
            pid = os.fork()
            if pid == 0:  # the worker
                fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                os.dup2(fd, 1)
                os.dup2(fd, 2)
                null = os.open(os.devnull, os.O_RDONLY)
                os.dup2(null, 0)
                try:
                    app.worker_main([*WORKER_ARGS, "-n", f"{name}@%h"])
                finally:
                    os._exit(0)
            print(f"started {pid}", flush=True)
        elif command == "kill":
            pid = int(args[0])
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            print(f"killed {pid}", flush=True)
        # Workers that ended by themselves are reaped here, not left as zombies.
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            pass


def main() -> None:
    import django

    django.setup()
    app = importlib.import_module(sys.argv[1] if len(sys.argv) > 1 else "config.celery").app
    app.loader.import_default_modules()
    # What a worker imports as it starts, imported before the fork.
    importlib.import_module("celery.apps.worker")
    importlib.import_module("celery.worker.consumer")
    importlib.import_module("kombu.transport.redis")
    from django.db import connections

    connections.close_all()
    print("ready", flush=True)
    _serve(app)


if __name__ == "__main__":
    main()
