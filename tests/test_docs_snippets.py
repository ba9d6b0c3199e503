"""Every ```python block of README.md and docs/*.md runs as written, on small data.

The blocks of one file run in order in one namespace (as a reader runs them top to
bottom), in a scratch folder that holds the placeholder files the README names:
``responses.npy`` (4 repetitions x 12 stimuli x 30 neuroids) and ``images/`` (12 small
PNGs). Blocks added later are picked up as they are. A block that cannot run here (a
cluster, a download, the full real data) is preceded by a visible marker with its
reason, on the line just before the fence::

    <!-- docs-test: skip (needs a SLURM cluster) -->

and the test counts the skipped blocks, so skipping stays the exception.
"""

from __future__ import annotations

import contextlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^```\s*(\w+)?\s*$")
SKIP = re.compile(r"^<!--\s*docs-test:\s*skip\s*(?:\((?P<reason>.*)\))?\s*-->$")
MAX_SKIPPED = 3


@dataclass(frozen=True)
class Block:
    """One fenced code block: its file, the line of its opening fence, its code, and why it is skipped."""

    file: Path
    line: int
    code: str
    skip: str | None  # the marker's reason; "" for a marker without one

    @property
    def name(self) -> str:
        return f"{self.file.relative_to(REPO)}:{self.line}"


def python_blocks(path: Path) -> list[Block]:
    """The ```python (or ```py) blocks of a markdown file, in order."""
    lines = path.read_text().splitlines()
    blocks: list[Block] = []
    k = 0
    while k < len(lines):
        match = FENCE.match(lines[k].strip())
        if match is None:
            k += 1
            continue
        language, start = match.group(1), k
        k += 1
        body: list[str] = []
        while k < len(lines) and lines[k].strip() != "```":
            body.append(lines[k])
            k += 1
        k += 1  # the closing fence
        if language not in ("python", "py"):
            continue
        before = next((lines[j].strip() for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        marker = SKIP.match(before)
        skip = (marker.group("reason") or "").strip() if marker else None
        blocks.append(Block(path, start + 1, "\n".join(body) + "\n", skip))
    return blocks


BLOCKS = [block for path in DOCUMENTS for block in python_blocks(path)]


def test_the_documents_have_python_blocks_and_few_are_skipped():
    assert any(block.file.name == "README.md" for block in BLOCKS)
    skipped = [block for block in BLOCKS if block.skip is not None]
    for block in skipped:
        assert block.skip, f"{block.name}: a docs-test skip marker must say why, e.g. (needs a SLURM cluster)"
    assert len(skipped) <= MAX_SKIPPED, [b.name for b in skipped]


def test_the_block_parser_reads_fences_and_markers(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "text\n```python\nx = 1\n```\n\n<!-- docs-test: skip (needs a cluster) -->\n\n```py\ny = 2\n```\n"
        "```bash\nls\n```\n```python\nz = 3\n```\n"
    )
    found = python_blocks(page)
    assert [(b.line, b.code, b.skip) for b in found] == [
        (2, "x = 1\n", None),
        (8, "y = 2\n", "needs a cluster"),
        (14, "z = 3\n", None),
    ]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    """The folder the blocks run in: the README's ``responses.npy`` and ``images/``, small."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("docs")
    rng = np.random.default_rng(0)
    images = folder / "images"
    images.mkdir()
    for k in range(12):
        Image.fromarray(rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)).save(images / f"img{k}.png")
    signal = rng.normal(size=(12, 30))
    np.save(folder / "responses.npy", signal[None] + 0.5 * rng.normal(size=(4, 12, 30)))
    return folder


_NAMESPACES: dict[Path, dict] = {}


@pytest.mark.parametrize("block", BLOCKS, ids=[block.name for block in BLOCKS])
def test_block_runs_as_written(block, scratch, monkeypatch):
    if block.skip is not None:
        pytest.skip(f"{block.name}: {block.skip}")
    monkeypatch.chdir(scratch)
    namespace = _NAMESPACES.setdefault(block.file, {"__name__": "__docs__"})
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(block.code, block.name, "exec"), namespace)  # noqa: S102 -- the documentation's own code
