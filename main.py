"""Launch the Generative Models Playground.

python main.py                                  # the app
python main.py --tab draw --screenshot out.png  # render offscreen after the tab's demo, save, exit
python main.py --tab draw --present --size 1920x1080 --screenshot out.png  # the tab's presentation view
python main.py --lesson FILE [--export-slides DIR]  # open a lesson, or write one PNG per slide and exit
python main.py --build-lessons DIR                # write the shipped lessons (resources/lessons)
"""

from __future__ import annotations

import argparse
import os
import sys


def parse_args(argv):
    p = argparse.ArgumentParser(description="Generative Models Playground")
    p.add_argument("--tab", default=None, help="tab to open (e.g. draw, training)")
    p.add_argument("--screenshot", default=None, help="save a PNG of the window after the tab's demo and exit")
    p.add_argument("--size", default=None, help="WxH for --screenshot (1400x860) and --export-slides (1920x1080)")
    p.add_argument("--present", "--presentation", dest="present", action="store_true",
                   help="the presentation view (title, figure, caption); with --screenshot at --size")  # fmt: skip
    p.add_argument("--state", default=None, help='tab state as JSON, e.g. \'{"mode": "reconstruct", "step": 11}\'')
    p.add_argument("--lesson", default=None, help="open a *.lesson file")
    p.add_argument("--export-slides", default=None, help="with --lesson: write DIR/slide-NN.png (2x) and exit")
    p.add_argument("--handout", default=None, help="with --lesson: write a PDF handout (slides and notes) and exit")
    p.add_argument("--build-lessons", default=None, help="write the shipped lessons into DIR and exit")

    def one_line_error(message):
        p.exit(2, f"error: {message}\n")

    p.error = one_line_error
    args = p.parse_args(argv)
    size = args.size or ("1920x1080" if args.export_slides or args.handout else "1400x860")
    try:
        w, h = (int(v) for v in size.lower().split("x"))
        if not (320 <= w <= 7680 and 240 <= h <= 4320):
            raise ValueError
    except ValueError:
        p.error(f"--size must look like 1920x1080 (320x240 to 7680x4320), not '{size}'")
    args.size = (w, h)
    if args.state is not None:
        import json

        try:
            args.state = json.loads(args.state)
        except ValueError:
            args.state = None
        if not isinstance(args.state, dict):
            p.error("--state must be a JSON object")
    return args


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.build_lessons:
        return _build_lessons(args.build_lessons)
    if (args.export_slides or args.handout) and not args.lesson:
        print("error: --export-slides and --handout need --lesson FILE", file=sys.stderr)
        return 2
    headless = args.screenshot or args.export_slides or args.handout
    if headless and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Generative Models Playground")
    from engines.resources import ResourceError

    try:
        return _run(args, app)
    except ResourceError as e:  # a damaged or missing shipped file: one line, not a traceback
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        from app.worker import Worker

        Worker.cancel_all_and_wait(5000)  # never tear Python down under a running worker thread


def _build_lessons(folder: str) -> int:
    from pathlib import Path

    from app.lesson import save_lesson, shipped_lessons
    from engines.resources import RESOURCES_DIR, register

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    shipping = folder.resolve() == (RESOURCES_DIR / "lessons").resolve()  # then the manifest lists them
    for name, lesson in shipped_lessons().items():
        path = folder / f"{name}.lesson"
        save_lesson(path, lesson)
        if shipping:
            register(
                f"lesson-{name}", path, kind="lesson", command="python main.py --build-lessons resources/lessons",
                source=f"app/lesson.py shipped_lessons(): '{lesson.title}', slides over the shipped checkpoints",
                licence="MIT (this project)", metrics={"slides": len(lesson.slides)},
            )  # fmt: skip
        print(path)
    return 0


def _lesson(args, window, app) -> int:
    """Open ``--lesson`` in the window; with ``--export-slides`` write the slides and return 0 (1 with a reason
    on one line when the file cannot be opened or a slide cannot be shown)."""
    from app.lesson import LessonError, load_lesson

    try:
        lesson = load_lesson(args.lesson, set(window.model_tabs))
    except LessonError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if not (args.export_slides or args.handout):
        window.open_lesson(lesson)
        return -1
    window.resize(*args.size)
    window.show()
    app.processEvents()
    window.lesson_player.lesson = lesson
    try:
        written = window.lesson_player.export_slides(args.export_slides, size=args.size) if args.export_slides else []
        if args.handout:
            window.lesson_player.export_handout(args.handout, size=args.size)
            written.append(args.handout)
    except Exception as e:  # one line for the user, not a traceback
        print(f"error: exporting {args.lesson} failed: {e}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    problems = window.lesson_player.problems()
    if problems:
        print("error: " + "; ".join(problems), file=sys.stderr)
        return 1
    window.close()
    return 0


def _run(args, app) -> int:
    from app.main_window import MainWindow

    window = MainWindow()
    if args.lesson:
        code = _lesson(args, window, app)
        if code >= 0:
            return code
    if args.tab:
        try:
            window.select_tab(args.tab)
        except KeyError as e:
            print(f"error: {e.args[0]}", file=sys.stderr)
            return 2
    if args.screenshot:
        window.resize(*args.size)
        window.show()
        app.processEvents()
        tab = window.tabs.currentWidget()
        if hasattr(tab, "run_demo_blocking"):
            try:
                if args.state is not None and hasattr(tab, "set_state"):
                    tab.set_state({**tab.state(), **args.state})
                else:
                    tab.run_demo_blocking()
            except Exception as e:  # one line, not a traceback: the reason is for the user
                print(f"error: {args.tab} demo failed: {e}", file=sys.stderr)
                return 1
        if args.present:
            window.set_presentation(True, full_screen=False)
            tab.refresh_stage() if hasattr(tab, "refresh_stage") else None
        for _ in range(2):  # twice: a plot's axis widens for its tick labels one event after the data arrive
            app.processEvents()
        if not window.grab().save(args.screenshot):
            print(f"error: could not write {args.screenshot}", file=sys.stderr)
            return 1
        if window.last_error:
            print(f"error: {window.last_error}", file=sys.stderr)
            return 1
        window.close()
        return 0
    if args.present:
        window.set_presentation(True)
    else:
        window.resize(1400, 860)
        window.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
