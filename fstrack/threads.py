"""Background threads that leave the process's signals to the main thread.

The kernel delivers a signal sent to a process (Ctrl-C's SIGINT, SIGTERM from ``kill`` or a scheduler) to any
one of its threads that does not block it. Python runs its signal handlers only in the main thread, and a main
thread asleep in a C call (``time.sleep``, a lock, a ``select``) is woken only if the signal lands on *it*: when
the kernel picks a background thread, the handler waits until the main thread's call returns by itself, which
is how one Ctrl-C was seen to do nothing for a whole ``time.sleep(60)`` on a loaded machine (issue 13, item 14).
So every thread fstrack starts blocks those signals, and the kernel always picks the main thread.

Use :func:`start` for a ``threading.Thread``, :func:`signals_blocked` around code that makes threads of its own
(a library's event loop, a file watcher: threads inherit the mask of the thread that creates them) and
:func:`block_process_signals` as a ``ThreadPoolExecutor`` ``initializer``. A child process inherits the mask of
the thread that starts it, so code that may run on such a thread starts children inside
:func:`signals_unblocked` (else the child, a task script run by the agent say, could never be interrupted).
This module imports no fstrack layer.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: Signals sent to a whole process (as opposed to faults a thread causes itself, such as SIGSEGV or SIGPIPE).
PROCESS_SIGNALS = frozenset(
    getattr(signal, name)
    for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGALRM", "SIGUSR1", "SIGUSR2")
    if hasattr(signal, name)
)


def block_process_signals() -> None:
    """Block :data:`PROCESS_SIGNALS` in the calling thread (for a thread that is not the main thread)."""
    if hasattr(signal, "pthread_sigmask") and threading.current_thread() is not threading.main_thread():
        signal.pthread_sigmask(signal.SIG_BLOCK, PROCESS_SIGNALS)


@contextmanager
def signals_blocked() -> Iterator[None]:
    """Threads created inside this block (by any code) inherit a mask that blocks :data:`PROCESS_SIGNALS`.

    A signal that arrives meanwhile stays pending and is handled as the block ends."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, PROCESS_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextmanager
def signals_unblocked() -> Iterator[None]:
    """Unblock :data:`PROCESS_SIGNALS` in the calling thread for the block: child processes started inside it
    receive signals normally whatever thread starts them."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_UNBLOCK, PROCESS_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def start(thread: threading.Thread) -> threading.Thread:
    """Start ``thread`` with :data:`PROCESS_SIGNALS` blocked in it; returns it."""
    with signals_blocked():
        thread.start()
    return thread
