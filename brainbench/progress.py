"""The one way brainbench draws progress bars.

Every bar goes to stderr and only when stderr is a terminal: in CI logs and pipes a bar's
carriage returns and cursor-movement escape codes (``ESC[A`` for nested bars) would be
garbage, so there it draws nothing. A bar opened while another is open (activations
inside an analysis pass, for example) is nested: tqdm gives it the next free line and
it is removed when done (``leave=False``), so only the outer bar stays on screen.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tqdm.std import tqdm as ProgressBar


def tqdm(iterable: Any = None, *, disable: bool | None = False, **kwargs: Any) -> ProgressBar[Any]:
    """:func:`tqdm.auto.tqdm` with brainbench's defaults; same arguments.

    ``disable=True`` turns the bar off; otherwise it is drawn only when its ``file``
    (default stderr) is a terminal. A nested bar defaults to ``leave=False``.
    """
    from tqdm.auto import tqdm as auto_tqdm

    kwargs.setdefault("file", sys.stderr)
    in_notebook = auto_tqdm.__module__.startswith("tqdm.notebook")  # a widget, not escape codes
    if not disable and not in_notebook and not _is_terminal(kwargs["file"]):
        disable = True
    if not disable and _open_bars(auto_tqdm):
        kwargs.setdefault("leave", False)
    return auto_tqdm(iterable, disable=bool(disable), **kwargs)


def _is_terminal(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def _open_bars(cls: Any) -> int:
    instances = getattr(cls, "_instances", None)
    return len(instances) if instances is not None else 0
