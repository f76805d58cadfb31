"""What the client command shows while a session runs.

On a terminal: a progress bar for the upload and one line that the latest partial rewrites,
with finals printed above them as they arrive. Elsewhere (pipes, CI logs) only the finals,
the saved TTS files and the summary are printed, one line each, so logs stay readable.
"""

from __future__ import annotations

from types import TracebackType

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from shim.harness.session.client import SessionOutcome, TextResult, TtsMessage


class SessionDisplay:
    def __init__(self, console: Console) -> None:
        self.console = console
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        self._task: TaskID = self._progress.add_task("streaming", total=None)
        self._partial = Text("", style="dim")
        self._live = Live(
            Group(self._progress, self._partial),
            console=console,
            transient=True,
            refresh_per_second=10,
        )

    def __enter__(self) -> SessionDisplay:
        if self.console.is_terminal:
            self._live.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._live.is_started:
            self._live.stop()

    def progress(self, sent: int, total: int) -> None:
        done = "sent, waiting for results" if sent >= total else "streaming"
        self._progress.update(self._task, completed=sent, total=total, description=done)

    def result(self, result: TextResult) -> None:
        if result.type == "partial":
            self._partial.plain = f"… {result.recognition}  →  {result.translation}"
            return
        self._partial.plain = ""
        self.console.print(
            f"[bold green]final {escape(result.id)}[/] [dim]{result.at:6.2f}s[/]  "
            f"{escape(result.recognition)}  [bold]→[/]  {escape(result.translation)}",
            highlight=False,
        )

    def tts(self, message: TtsMessage, saved_as: str | None) -> None:
        where = f" → {escape(saved_as)}" if saved_as else ""
        self.console.print(
            f"  [cyan]tts[/] {len(message.data):,} B in {message.frames} frames{where}",
            highlight=False,
        )

    def summary(self, outcome: SessionOutcome) -> None:
        who = {True: "the server", False: "the client", None: "nobody"}[outcome.server_closed_first]
        counts = (
            f"{len(outcome.finals)} finals, {len(outcome.partials)} partials, "
            f"{len(outcome.tts)} TTS; closed {outcome.close_code} by {who}"
        )
        if outcome.ended_as_expected:
            self.console.print(f"[green]session ended as expected[/]: {counts}", highlight=False)
            return
        self.console.print(f"[red]session did not end as expected[/]: {counts}", highlight=False)
        for problem in outcome.problems:
            self.console.print(f"  [red]✗[/] {escape(problem)}", highlight=False)
