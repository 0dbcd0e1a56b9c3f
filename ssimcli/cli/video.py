"""``ssim-l1 video REFERENCE DISTORTED``: a thin layer over `ssimcli.pipeline.video`.

Streamed outputs (``--format jsonl``, ``--stats-file``, ``--psnr-stats-file``) are written as
each frame is scored; the others at the end. A corrupt frame or Ctrl-C ends the scoring, and
every output is still written with the frames scored before it (exit 2 or 130).

Just over 400 lines: the command's thirty options, the run that writes its eight outputs, and
its progress bar, which counts frames rather than `ssimcli.cli.progress`'s pairs.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from ssimcli.cli.common import EXIT_CODES_HELP, click_option, handle_errors
from ssimcli.vocabulary import METRIC_SETTINGS, PRESETS

#: ssimcli.io.video.SCALERS, spelled here so that ``--help`` does not import NumPy (a test
#: checks the two agree).
SCALERS = ("bicubic", "bilinear", "lanczos", "neighbor", "area")
VIDEO_PRESETS = (*PRESETS, "ffmpeg")
WORST_BY = ("ssim", "cs", "l1", "ssim_l1", "psnr", "ms_ssim", "ms_ssim_l1")
#: The image metric settings that apply to a plane of a video.
_METRIC_NAMES = ("window", "sigma", "k1", "k2", "alpha", "padding", "data_range", "ms_ssim",
                 "precision")
_METRICS = tuple(s for s in METRIC_SETTINGS if s.name in _METRIC_NAMES)


def _metric_options(func: Any) -> Any:
    for setting in reversed(_METRICS):
        if setting.name == "data_range":  # a video's planes: the bit depth's peak, not the dtype's
            func = click.option("--data-range", "data_range", type=float, default=None,
                                help="Peak value of a plane [2**bits - 1 of the video: 255, "
                                     "1023 for 10-bit].")(func)
            continue
        func = click_option(setting, default_from_setting=False)(func)  # None: the preset's
    return func


def _size(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    width, sep, height = value.lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit() or int(width) < 1 or int(height) < 1:
        raise click.BadParameter(f"must be WIDTHxHEIGHT, e.g. 1920x1080; got {value!r}")
    return int(width), int(height)


VIDEO_EXIT_CODES = EXIT_CODES_HELP.replace("(an image regressed)", "(a video regressed)")


@click.command(epilog=VIDEO_EXIT_CODES)
@click.argument("reference", type=click.Path(dir_okay=False))
@click.argument("distorted", type=click.Path(dir_okay=False))
@click.option("--preset", type=click.Choice(VIDEO_PRESETS), default="standard", show_default=True,
              help="An image preset applied to every plane of every frame, or ffmpeg: "
                   "ffmpeg's own ssim and psnr filters (SSIM, its dB and PSNR only).")
@_metric_options
@click.option("--planes", default="all", show_default=True, metavar="PLANES",
              help="Planes to score: all, y (luma only), or a list such as y,u,v.")
@click.option("--offset", type=int, default=0, show_default=True, metavar="N",
              help="Skip N leading frames of the distorted video (negative: of the reference).")
@click.option("--sync", type=click.Choice(["off", "auto"]), default="off", show_default=True,
              help="auto: find the offset within --sync-window that matches the first frames best.")
@click.option("--sync-window", type=click.IntRange(min=0), default=15, show_default=True,
              metavar="K", help="Offsets -K..K tried by --sync auto.")
@click.option("--scale-to", type=click.Choice(["ref"]), default=None,
              help="ref: scale distorted frames to the reference's size (else a size mismatch "
                   "is an error).")
@click.option("--scaler", type=click.Choice(SCALERS), default="bicubic", show_default=True,
              help="Scaler of --scale-to (FFmpeg's swscale).")
@click.option("--size", callback=_size, default=None, metavar="WxH",
              help="Frame size of raw (.yuv) input.")
@click.option("--pix-fmt", default=None, metavar="NAME",
              help="Pixel format of raw input [yuv420p]; for other files, a planar format to "
                   "convert the decoded frames to.")
@click.option("--frames", "frame_range", default=None, metavar="A:B",
              help="Score paired frames A (inclusive) to B (exclusive); either may be empty.")
@click.option("--every", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
              help="Score every Nth paired frame.")
@click.option("--format", "output_format", type=click.Choice(["table", "json", "csv", "jsonl"]),
              default="table", show_default=True,
              help="What stdout (or --output) carries; jsonl is written frame by frame.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="Write the result to FILE instead of stdout ('-': stdout).")
@click.option("--stats-file", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="Write per-frame SSIM lines in ffmpeg's ssim stats_file format to FILE.")
@click.option("--psnr-stats-file", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="Write per-frame lines in ffmpeg's psnr stats_file format to FILE.")
@click.option("--worst", type=click.IntRange(min=0), default=5, show_default=True, metavar="K",
              help="How many worst frames to name (and picture with --maps and --html).")
@click.option("--worst-by", type=click.Choice(WORST_BY), default="ssim", show_default=True,
              help="The metric (of the all-planes row) that ranks the worst frames.")
@click.option("--maps", "maps_dir", type=click.Path(file_okay=False), default=None,
              help="Write the worst frames to DIR: reference, distorted, SSIM and L1 heatmaps (PNG).")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
              help="Write per-frame curves with the worst frames marked to FILE (.png or .svg).")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), default=None,
              help="Write a review page to FILE, its pictures to FILE's folder (FILE_files/).")
@click.option("--min-ssim", type=float, default=None, help="Fail when the mean SSIM is below.")
@click.option("--min-frame-ssim", type=float, default=None, help="Fail when any frame's SSIM is below.")
@click.option("--min-psnr", type=float, default=None,
              help="Fail when the PSNR of the mean MSE (dB) is below.")
@click.option("--min-frame-psnr", type=float, default=None,
              help="Fail when any frame's PSNR (dB) is below.")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False), default=None,
              help="Write JUnit XML (one testcase: the distorted video) to FILE.")
@click.option("--github", is_flag=True, default=False,
              help="Print GitHub Actions error annotations (also on when GITHUB_ACTIONS=true).")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Threads of the metric engine [SSIM_L1_THREADS, else every usable core].")
@handle_errors
def video(reference: str, distorted: str, **kwargs: Any) -> None:
    """Compare the DISTORTED video with the REFERENCE, frame by frame and plane by plane.

    Frames pair by presentation order. Prints, per plane (Y, U, V and all, weighted by area
    as ffmpeg does), the mean, harmonic mean, min, 1st and 5th percentile and max of SSIM,
    CS, Gaussian L1, SSIM-L1 and PSNR (MS-SSIM with --ms-ssim), and the worst frame. With
    --preset ffmpeg only SSIM (and its dB) and PSNR exist, computed as ffmpeg's filters do.
    """
    try:
        sys.exit(VideoCommand(reference, distorted, kwargs).run())
    finally:
        from ssimcli.io.video import stop_log_capture

        stop_log_capture()  # before the decoders are freed: no hang at exit


class _CtrlC:
    """Ctrl-C takes effect between frames: a frame scored is a frame written to every output,
    and the summary counts exactly those. A second Ctrl-C (a stuck decoder) stops at once."""

    def __init__(self) -> None:
        self.pressed = False
        self._previous: Any = None

    def __enter__(self) -> _CtrlC:
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._press)
        return self

    def __exit__(self, *exc: object) -> None:
        import signal

        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def _press(self, _signum: int, _frame: Any) -> None:
        if self.pressed:
            raise KeyboardInterrupt
        self.pressed = True

    def check(self) -> None:
        if self.pressed:
            raise KeyboardInterrupt


class VideoCommand:
    """One run: options in, outputs written, the exit code out."""

    def __init__(self, reference: str, distorted: str, kwargs: dict[str, Any]) -> None:
        self.reference, self.distorted = reference, distorted
        self.format = kwargs.pop("output_format")
        self.output = kwargs.pop("output")
        self.stats_path = kwargs.pop("stats_file")
        self.psnr_path = kwargs.pop("psnr_stats_file")
        self.maps_dir = kwargs.pop("maps_dir")
        self.plot_path = kwargs.pop("plot_path")
        self.html_path = kwargs.pop("html_path")
        self.junit_path = kwargs.pop("junit_path")
        self.github = kwargs.pop("github")
        self.options = _build_options(kwargs, keep_worst=bool(self.maps_dir or self.html_path))
        self.frames: list[dict[str, Any]] = []  # kept only for the outputs made at the end
        self.keep_frames = self.format in ("json", "csv") or bool(self.plot_path or self.html_path)
        self.scored = 0
        self.streams: list[tuple[Any, Any]] = []

    # ------------------------------------------------------------------ the run

    def run(self) -> int:
        from ssimcli.errors import ExitCode, SizeMismatch, UsageError
        from ssimcli.pipeline.video import compare_videos

        if self.plot_path:
            from ssimcli.reports.video import plot_format

            plot_format(self.plot_path)
        from ssimcli.io.output import is_stdout

        on_stdout = [p for p in (self.stats_path, self.psnr_path) if is_stdout(p)]
        if on_stdout and (len(on_stdout) > 1 or self.output is None or is_stdout(self.output)):
            raise UsageError("only one output can go to stdout ('-'): give the result "
                             "-o FILE, or the stats files file names")
        self._guard()
        try:
            run = compare_videos(self.reference, self.distorted, self.options)
        except SizeMismatch as exc:
            raise UsageError(f"{exc}; --scale-to ref scales the distorted frames to the "
                             "reference's size") from None
        self._open_streams()
        stopped = self._score(run)
        summary = run.summary
        self._finish(run, summary)
        if stopped == "interrupted":
            return int(ExitCode.INTERRUPTED)
        if stopped == "error":
            return int(ExitCode.BAD_INPUT)
        return int(ExitCode.OK if summary["passed"] else ExitCode.THRESHOLD_FAILED)

    def _score(self, run: Any) -> str | None:
        """Score every pair; returns ``"interrupted"``, ``"error"`` or None."""
        from ssimcli.cli.common import error
        from ssimcli.cli.progress import progress_bar
        from ssimcli.errors import SsimCliError

        frames = run.frames()
        with progress_bar(True, run.expected_pairs(), unit="frames") as progress, _CtrlC() as ctrl_c:
            try:
                for result in frames:
                    if run.sync is not None and not self.scored:
                        progress.print(_sync_line(run.sync))
                        progress.total(run.expected_pairs())
                    frame = result.to_dict()
                    if self.keep_frames:
                        self.frames.append(frame)
                    self.scored += 1
                    self._stream(frame)
                    progress.advance()
                    ctrl_c.check()  # here, between frames: no frame half written or unwritten
                ctrl_c.check()
            except KeyboardInterrupt:
                frames.close()  # the decoders and the scoring threads stop before the outputs are written
                run.interrupted = True
                progress.stop()
                error(f"interrupted after {self.scored} frames; writing what was scored")
                return "interrupted"
            except SsimCliError as exc:
                if run.error is None:
                    raise
                progress.stop()
                error(f"{exc}; writing the {self.scored} frames scored before it")
                return "error"
            if run.sync is not None and not self.scored:
                progress.print(_sync_line(run.sync))
        return None

    # ------------------------------------------------------------------ outputs

    def _guard(self) -> None:
        from ssimcli.io.guard import refuse_outputs_over_inputs
        from ssimcli.io.output import is_stdout, lock_output

        files = [self.output, self.stats_path, self.psnr_path, self.plot_path, self.html_path,
                 self.junit_path]
        refuse_outputs_over_inputs(files, (self.reference, self.distorted))
        for path in files:
            if path and not is_stdout(path):
                lock_output(path)

    def _open_streams(self) -> None:
        from ssimcli.io.output import open_stream
        from ssimcli.reports.video import frame_line, psnr_stats_line, ssim_stats_line

        if self.format == "jsonl":
            self.streams.append((open_stream(self.output), frame_line))
        if self.stats_path:
            self.streams.append((open_stream(self.stats_path), ssim_stats_line))
        if self.psnr_path:
            self.streams.append((open_stream(self.psnr_path), psnr_stats_line))

    def _stream(self, frame: dict[str, Any]) -> None:
        for stream, line in self.streams:
            stream.write(line(frame))

    def _finish(self, run: Any, summary: dict[str, Any]) -> None:
        from ssimcli.console import warning

        for text in summary["warnings"]:
            warning(text)
        self._write_result(summary)
        for stream, _ in self.streams:
            stream.close()
        self._write_reports(run, summary)
        self._tell(summary)

    def _write_result(self, summary: dict[str, Any]) -> None:
        from ssimcli.console import data
        from ssimcli.io.output import is_stdout, write_text
        from ssimcli.reports.video import summary_line, summary_tables, video_csv, video_json

        if self.format == "jsonl":
            self.streams[0][0].write(summary_line(summary))
            return
        text = {"json": lambda: video_json(summary, self.frames),
                "csv": lambda: video_csv(self.frames)}.get(self.format)
        to_file = self.output is not None and not is_stdout(self.output)
        if text is not None:
            write_text(self.output, text()) if to_file else data(text())
            return
        if to_file:
            from ssimcli.reports.terminal import render_text

            write_text(self.output, render_text(summary_tables(summary)))
        else:
            from ssimcli.reports.terminal import rich_console

            rich_console().print(summary_tables(summary))

    def _write_reports(self, run: Any, summary: dict[str, Any]) -> None:
        from ssimcli.io.output import write_bytes, write_text
        from ssimcli.reports import video as report

        pictures = self._pictures(run)
        if self.plot_path:
            write_bytes(self.plot_path, report.plot_bytes(self.frames, summary,
                                                          report.plot_format(self.plot_path)))
        if self.html_path:
            from ssimcli.reports.video_page import write_video_page

            write_video_page(self.html_path, summary, self.frames, pictures,
                             (self.reference, self.distorted))
        if self.junit_path:
            write_text(self.junit_path, report.junit_text(summary))
        if self.github or _github_env():
            from ssimcli.console import say

            for line in report.github_lines(summary):
                say(line)

    def _pictures(self, run: Any) -> dict[int, dict[str, bytes]]:
        """The worst frames' PNGs (only when --maps or --html wants them)."""
        if not (self.maps_dir or self.html_path):
            return {}
        from ssimcli.io.guard import guard_not_input
        from ssimcli.reports.video import picture_name, worst_pictures, write_pictures

        pictures = {w.result.index: worst_pictures(run, w) for w in run.worst_frames()}
        if self.maps_dir:
            for frame, files in pictures.items():
                for role in files:
                    guard_not_input(f"{self.maps_dir}/{picture_name(frame, role)}",
                                    (self.reference, self.distorted))
                write_pictures(self.maps_dir, frame, files)
        return pictures

    def _tell(self, summary: dict[str, Any]) -> None:
        from ssimcli.console import say
        from ssimcli.reports.video import describe_video_check, failing_frames_line

        for check in summary["thresholds"]:
            if not check["passed"]:
                say(f"threshold failed: {describe_video_check(check)}")
        for rule, frames in summary["failing_frames"].items():
            if frames:
                say(failing_frames_line(rule, frames))


def _build_options(kwargs: dict[str, Any], *, keep_worst: bool) -> Any:
    from ssimcli.pipeline.video import VideoLimits, VideoOptions

    limits = VideoLimits(**{k: kwargs.pop(k) for k in ("min_ssim", "min_frame_ssim", "min_psnr",
                                                          "min_frame_psnr")})
    sync = kwargs.pop("sync") == "auto"
    scale_to = kwargs.pop("scale_to")
    jobs = kwargs.pop("jobs")
    preset = kwargs.pop("preset")
    planes, frames = kwargs.pop("planes"), kwargs.pop("frame_range")
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    return VideoOptions.build(
        preset, planes=planes, frames=frames, sync=sync,
        scale_to_ref=scale_to == "ref", threads=jobs, limits=limits, keep_worst=keep_worst,
        **kwargs)


def _github_env() -> bool:
    from ssimcli.reports.check import github_enabled

    return github_enabled()


def _sync_line(sync: dict[str, Any]) -> str:
    offset = sync["offset"]
    which = ("distorted" if offset > 0 else "reference") if offset else "neither video"
    skipped = f"skipping {abs(offset)} leading frames of the {which}" if offset else \
        "no leading frames skipped"
    return f"sync: chose offset {offset} within +-{sync['window']} ({skipped})"
