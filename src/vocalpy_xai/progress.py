"""Progress of long loops: a tqdm bar in a terminal, or a callback for a GUI.

A function that runs for long takes ``progress``: ``True`` shows a tqdm bar, ``False``
nothing, and a callable ``progress(done, total)`` is called before the first step and
after each one (napari's docks pass one that moves their progress bar from the worker
thread).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

#: what ``progress`` arguments accept
Progress = bool | Callable[[int, int], None]

T = TypeVar("T")

__all__ = ["Progress", "steps"]


def steps(items: Sequence[T], progress: Progress = False, desc: str = "") -> Iterator[T]:
    """Iterate over ``items``, reporting progress as ``progress`` says (see the module).

    Parameters
    ----------
    items : sequence
        What to iterate over (its length is the total).
    progress : bool or callable
        ``True``: a tqdm bar named ``desc``; ``False``: nothing; a callable: called as
        ``progress(done, total)``.
    desc : str
        The bar's name.
    """
    if not callable(progress):
        from tqdm.auto import tqdm

        yield from tqdm(items, desc=desc, disable=not progress)
        return
    total = len(items)
    progress(0, total)
    for done, item in enumerate(items, start=1):
        yield item
        progress(done, total)
