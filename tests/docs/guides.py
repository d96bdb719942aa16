"""The runnable code blocks of the guides (README.md, docs/*.md) and how to check their outputs.

A block runs when the line `<!-- guide: run -->` comes right before its opening fence. In a
`console` block, `$ ` starts a command (a line ending in a backslash continues on the next one)
and the lines up to the next `$ ` are the output the guide shows. A `python` block is run with
the environment's Python in the same shell session. README.md, "The guides are tested", says
the same for the guides' writers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

MARKER = "<!-- guide: run -->"
_FENCE = re.compile(r"^```(\w*)\s*$")

# Values that differ at every run: the same wildcard on both sides.
_VOLATILE = [
    # ISO times: 2026-11-22T17:25:06.782Z, 2026-11-22T17:52:52.679896, RFC 5322 dates aside
    (re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})?"), "<TIME>"),
    (re.compile(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}"), "<DATE>"),
    (re.compile(r"(?<=Message-ID: )<[^>\s]+>"), "<MESSAGE-ID>"),
    (re.compile(r"(?<=outbox/new/)\S+"), "<MAILDIR-FILE>"),
    (re.compile(r"\d+ bytes\)"), "<N> bytes)"),  # an attachment's size
    (re.compile(r"\b[0-9a-f]{24}\b"), "<ID>"),  # revision, client, mandataire ids
    (re.compile(r"loader-\d{13}\.json"), "loader-<MS>.json"),  # the snippet's file name
    # Credentials printed as JSON: whatever their letters (a random key can lack a digit)
    (re.compile(r'("(?:api_key|AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY)": ")[^"]+'), r"\1<SECRET>"),
    # Other tokens, API keys, S3 credentials: 20+ letters and digits with a capital and a digit.
    (re.compile(r"\b(?=[\w-]*\d)(?=[\w-]*[A-Z])[\w-]{20,}"), "<SECRET>"),
]
_ELLIPSIS = re.compile(r"\.\.\.|…")


@dataclass
class Step:
    command: str
    expected: list[str] = field(default_factory=list)
    line: int = 0

    @property
    def checks_output(self) -> bool:
        return any(line.strip() for line in self.expected)


@dataclass
class Block:
    guide: Path
    language: str
    line: int
    text: str

    def steps(self) -> list[Step]:
        if self.language == "python":
            return [Step(_python_command(self.text), line=self.line)]
        return console_steps(self.text, self.line)


def runnable_blocks(guide: Path) -> list[Block]:
    lines = guide.read_text(encoding="utf-8").splitlines()
    blocks = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        end = index + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if index > 0 and lines[index - 1].strip() == MARKER:
            blocks.append(
                Block(guide, opening.group(1), index + 2, "\n".join(lines[index + 1 : end]))
            )
        index = end + 1
    return blocks


def console_steps(text: str, first_line: int) -> list[Step]:
    steps: list[Step] = []
    continuing = False
    for offset, line in enumerate(text.splitlines()):
        if continuing:
            steps[-1].command += "\n" + line
        elif line.startswith("$ "):
            steps.append(Step(line[2:], line=first_line + offset))
        elif steps:
            steps[-1].expected.append(line)
        continuing = bool(steps) and line.endswith("\\") and not steps[-1].expected
    return steps


def _python_command(code: str) -> str:
    return f".venv/bin/python - <<'GUIDE_PYTHON'\n{code}\nGUIDE_PYTHON"


def normalise(text: str) -> str:
    for pattern, replacement in _VOLATILE:
        text = pattern.sub(replacement, text)
    return " ".join(text.split())


def output_matches(expected: str, actual: str) -> bool:
    """`actual` has the shape `expected` shows: same text once spaces are collapsed and
    volatile values replaced, `...` (or `…`) standing for anything."""
    parts = _ELLIPSIS.split(normalise(expected))
    pattern = ".*?".join(re.escape(part.strip()) + r"\s*" for part in parts)
    return re.fullmatch(r"\s*" + pattern, normalise(actual), re.S) is not None
