"""gui-demo: one window, a solid blue canvas and a greeting.

Options (for demos and automated checks):

  --quit-after SECONDS   close the window by itself SECONDS after it was drawn
                         (also: the GUI_DEMO_QUIT_AFTER environment variable)
  --size WxH             window size (default 400x300)

Once the window is drawn it prints one line, ``drawn <tcl_library> <tk_library>``,
so a script can tell the window is up and where Tcl/Tk found their script libraries.
"""

from __future__ import annotations

import argparse
import os
import sys

COLOUR = "#1E90FF"  # dodger blue: what a screenshot of the window is checked for


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gui-demo", description="A small bundled tkinter app.")
    parser.add_argument(
        "--quit-after", type=float, metavar="SECONDS",
        default=float(os.environ["GUI_DEMO_QUIT_AFTER"]) if os.environ.get("GUI_DEMO_QUIT_AFTER") else None,
        help="close the window SECONDS after it was drawn (env: GUI_DEMO_QUIT_AFTER)",
    )
    parser.add_argument("--size", default="400x300", metavar="WxH", help="window size (default 400x300)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        print(f"gui-demo: --size {args.size!r}: expected WIDTHxHEIGHT, e.g. 400x300", file=sys.stderr)
        return 2
    import tkinter

    try:
        root = tkinter.Tk(className="GuiDemo")
    except tkinter.TclError as exc:
        print(f"gui-demo: cannot open a window ({exc}); is a display available (DISPLAY)?", file=sys.stderr)
        return 1
    root.title("gui-demo")
    root.geometry(f"{width}x{height}+0+0")
    canvas = tkinter.Canvas(root, width=width, height=height, background=COLOUR, highlightthickness=0, borderwidth=0)
    canvas.pack(fill="both", expand=True)
    canvas.create_text(width // 2, height // 2, text="Hello from a bundled Tk app", fill="white")
    label = tkinter.Label(root, text=f"Python {sys.version.split()[0]}, Tk {tkinter.TkVersion}")
    label.place(x=8, y=8)

    def drawn() -> None:
        print("drawn", root.tk.eval("info library"), root.tk.eval("set tk_library"), flush=True)
        if args.quit_after is not None:
            root.after(int(args.quit_after * 1000), root.destroy)

    root.update()
    root.after_idle(drawn)
    root.mainloop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
