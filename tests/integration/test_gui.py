"""A tkinter app (examples/gui), bundled as one file, draws its window in a clean room.

The X server (Xvfb) runs on the host; the room sees only its unix socket (bind
mount, ``CleanRoom.run(binds=...)``; Xvfb's abstract socket is turned off so
nothing else can reach it). While the window is up the host reads Xvfb's
framebuffer (``-fbdir``: the screen as an XWD file) and counts the window's
colour.

The room models a desktop machine: the bare room (policy system libraries
only) plus what every machine with an X display has and a bundle cannot carry:

* the dependencies of the system library ``libX11.so.6`` (``libxcb``,
  ``libXau``, ``libXdmcp``, ...): the policy promises libX11, and no system
  has a libX11 that cannot load; the bundle itself only needs libX11 and
  vendors everything else (``libtcl``, ``libtk``, ``libXft``, ``libfontconfig``,
  ``libfreetype``, ...);
* a fontconfig configuration with one font: Tk (Xft) crashes with SIGSEGV when
  fontconfig finds no font at all.

The room has no ``/usr/share/tcltk``: Tcl and Tk must find ``init.tcl`` and
``tk.tcl`` inside the runtime (``lib/tcl8.6``, ``lib/tk8.6``) by themselves.

Host needs (Debian): ``xvfb``, ``fonts-dejavu-core``, ``python3-tk`` (for
Debian's python3.11 base).
"""

from __future__ import annotations

import array
import dataclasses
import json
import os
import shutil
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import pytest
from support.cleanroom import CleanRoom, require_root_tools, resolve_host_library
from support.e2e import BASES, REPO, run_bundler

from bundler.base.model import TclTk
from bundler.base.probe import probe
from bundler.binfmt.elf import ElfFormat
from bundler.runtime.stage import copy_tcltk

GUI = REPO / "examples" / "gui"
ART = "gui-demo-1.0.0-linux-x86_64"
PLACE = f"/opt/gui demo/{ART}"
COLOUR = 0x1E90FF  # examples/gui/src/gui_demo/app.py COLOUR
WIDTH, HEIGHT = 400, 300
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
FONTS_CONF = """<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">
<fontconfig>
  <dir>/usr/share/fonts</dir>
  <cachedir>~/.cache/fontconfig</cachedir>
</fontconfig>
"""


def _require(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise RuntimeError(f"{tool} not found: apt-get install -y {package}")
    return path


# --------------------------------------------------------------------------- the X server


class Xvfb:
    """An Xvfb on a free display, listening only on its unix socket, screen readable as XWD."""

    def __init__(self, fbdir: Path) -> None:
        exe = _require("Xvfb", "xvfb")
        self.fbdir = fbdir
        fbdir.mkdir(parents=True, exist_ok=True)
        for number in range(71, 120):
            if os.path.lexists(f"/tmp/.X11-unix/X{number}") or os.path.lexists(f"/tmp/.X{number}-lock"):
                continue
            self.proc = subprocess.Popen(
                [exe, f":{number}", "-screen", "0", "800x600x24", "-nolisten", "tcp", "-nolisten", "local",
                 "-fbdir", str(fbdir)],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )
            self.number = number
            self.socket = Path(f"/tmp/.X11-unix/X{number}")
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and self.proc.poll() is None:
                if self.socket.exists() and (fbdir / "Xvfb_screen0").exists():
                    return
                time.sleep(0.05)
            err = self.stop()
            if "already active" in err or "server already running" in err:
                continue  # lost a race for this display number
            raise RuntimeError(f"Xvfb :{number} did not start: {err.strip()[-500:]}")
        raise RuntimeError("no free X display number in :71-:119")

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""

    def screen(self) -> "Screen":
        return Screen.from_xwd((self.fbdir / "Xvfb_screen0").read_bytes())


class Screen:
    """A 24-bit screen image as 0xRRGGBB integers, row by row."""

    def __init__(self, width: int, height: int, pixels: array.array) -> None:
        self.width, self.height, self.pixels = width, height, pixels

    @classmethod
    def from_xwd(cls, data: bytes) -> "Screen":
        (header_size, version, fmt, _depth, width, height, _xoff, byte_order, _unit, _bit_order, _pad,
         bpp, bytes_per_line, _visual, red, green, blue, _bits_rgb, _entries, ncolors) = struct.unpack(
            ">20I", data[:80])
        assert (version, fmt, bpp, red, green, blue) == (7, 2, 32, 0xFF0000, 0xFF00, 0xFF), "unexpected XWD layout"
        start = header_size + 12 * ncolors
        pad = 3 if byte_order == 0 else 0  # the unused top byte of each 32-bit pixel
        pixels = array.array("I")
        for y in range(height):
            row = bytearray(data[start + y * bytes_per_line: start + y * bytes_per_line + 4 * width])
            row[pad::4] = bytes(width)
            row = array.array("I", row)
            if (byte_order == 0) != (sys.byteorder == "little"):
                row.byteswap()
            pixels.extend(row)
        return cls(width, height, pixels)

    def count(self, colour: int, box: tuple[int, int, int, int] | None = None) -> int:
        x0, y0, x1, y1 = box or (0, 0, self.width, self.height)
        return sum(row.count(colour) for row in (
            self.pixels[y * self.width + x0: y * self.width + x1] for y in range(y0, y1)))

    def png(self) -> bytes:
        def chunk(kind: bytes, body: bytes) -> bytes:
            return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

        raw = bytearray()
        for y in range(self.height):
            raw.append(0)
            for p in self.pixels[y * self.width:(y + 1) * self.width]:
                raw += bytes(((p >> 16) & 0xFF, (p >> 8) & 0xFF, p & 0xFF))
        ihdr = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(raw), 6)) + chunk(b"IEND", b"")


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def gui_artifacts(tmp_path_factory, cache_dir) -> dict[str, Path]:
    """base name -> the single file of examples/gui built on that base."""
    built = {}
    for name, python in BASES.items():
        out = tmp_path_factory.mktemp(f"gui-{name}")
        proc = run_bundler(
            "build", str(GUI), "--python", python, "--format", "onefile", "--output-dir", str(out),
            "--cache-dir", str(cache_dir), "--compression-level", "3",
        )
        assert proc.returncode == 0, f"{name}: {proc.stderr}"
        built[name] = out / ART
    return built


@pytest.fixture(scope="module")
def desktop_room(tmp_path_factory) -> CleanRoom:
    """The bare room plus libX11's own dependencies and one font (see the module docstring)."""
    require_root_tools()
    if not FONT.is_file():
        raise RuntimeError(f"{FONT} missing: apt-get install -y fonts-dejavu-core")
    room = CleanRoom.create(tmp_path_factory.mktemp("gui-room") / "root")
    assert "libX11.so.6" in room.libraries, "the host has no libX11.so.6: apt-get install -y libx11-6"
    libdir = str(Path(room.libraries["libc.so.6"]).parent)
    fmt, todo, seen = ElfFormat(), ["libX11.so.6"], set()
    while todo:
        soname = todo.pop()
        if soname in seen:
            continue
        seen.add(soname)
        src = resolve_host_library(soname)
        assert src is not None, f"host library {soname} not found"
        if soname not in room.libraries:
            room.add_file(src, f"{libdir}/{soname}")
        todo.extend(fmt.read(src).needed)
    room.add_file(FONTS_CONF.encode(), "/etc/fonts/fonts.conf")
    room.add_file(FONT, f"/usr/share/fonts/truetype/{FONT.name}")
    assert not room.host_path("/usr/share/tcltk").exists() and not room.host_path("/usr/lib/tcltk").exists()
    return room


@pytest.fixture
def xvfb(tmp_path):
    server = Xvfb(tmp_path / "fb")
    try:
        yield server
    finally:
        server.stop()


# --------------------------------------------------------------------------- the test


@pytest.mark.parametrize("base", sorted(BASES))
def test_gui_app_draws_its_window_in_a_clean_room(base, gui_artifacts, desktop_room, xvfb, tmp_path):
    room = desktop_room
    room.add_file(gui_artifacts[base], PLACE, mode=0o755)
    try:
        info = room.run([PLACE], env={"BUNDLER_STUB": "info"})
        assert info.returncode == 0, info.stderr.decode()
        assert json.loads(info.stdout)["gui"] is True

        socket = str(xvfb.socket)
        result: dict[str, subprocess.CompletedProcess] = {}
        runner = threading.Thread(target=lambda: result.setdefault("proc", room.run(
            [PLACE, "--quit-after", "2"], env={"DISPLAY": f":{xvfb.number}"}, binds={socket: socket}, timeout=90,
        )))
        runner.start()
        best, shot = 0, None
        while runner.is_alive():
            screen = xvfb.screen()
            blue = screen.count(COLOUR, (0, 0, WIDTH, HEIGHT))
            if blue > best:
                best, shot = blue, screen
            time.sleep(0.2)
        runner.join()
        proc = result["proc"]
        assert proc.returncode == 0, proc.stderr.decode()[-3000:]

        # Tcl and Tk ran their script libraries from the runtime (the room has none elsewhere)
        drawn = [line.split() for line in proc.stdout.decode().splitlines() if line.startswith("drawn ")]
        assert len(drawn) == 1, proc.stdout.decode()
        _, tcl_library, tk_library = drawn[0]
        (tree,) = room.host_path("/home/user/.cache/bundler/gui-demo").iterdir()
        runtime = f"/home/user/.cache/bundler/gui-demo/{tree.name}"
        assert (tcl_library, tk_library) == (f"{runtime}/lib/tcl8.6", f"{runtime}/lib/tk8.6")

        # Tcl's encodings, modules (msgcat) and locale catalogues come from the runtime too
        code = (
            "import tkinter; t = tkinter.Tcl()\n"
            "print(t.eval('encoding dirs'))\n"
            "print(t.eval('package ifneeded msgcat [package require msgcat]').split()[-1])\n"
            "print(t.eval('encoding convertto cp1252 \\u20ac') == '\\x80', t.eval('clock format 0 -format %B -locale de -gmt 1'))\n"
        )
        tcl = room.run([PLACE, "-c", code], env={"BUNDLER_STUB": "python"})
        assert tcl.returncode == 0, tcl.stderr.decode()
        assert tcl.stdout.decode().splitlines() == [
            f"{runtime}/lib/tcl8.6/encoding", f"{runtime}/lib/tcl8/8.6/msgcat-1.6.1.tm", "True Januar"]

        # the window was on the screen: its canvas colour covers most of its 400x300 pixels
        assert shot is not None, "the window's colour never appeared on the X screen"
        (tmp_path / "screen.png").write_bytes(shot.png())
        assert best >= 0.8 * WIDTH * HEIGHT, f"only {best} pixels of #1E90FF; see {tmp_path / 'screen.png'}"
        assert shot.count(COLOUR) == best, "the colour outside the window's 400x300 area"
        # the label and the greeting are drawn on top (something that is not the canvas colour)
        assert best < WIDTH * HEIGHT
    finally:
        shutil.rmtree(room.host_path("/opt"), ignore_errors=True)
        shutil.rmtree(room.host_path("/home/user/.cache"), ignore_errors=True)


# --------------------------------------------------------------------------- staging details


def test_probe_without_tkinter_reports_no_tcltk(tmp_path):
    """A base Python without tkinter still probes (and stages) fine: the runtime just has no Tcl/Tk."""
    wrapper = tmp_path / "python-without-tk"
    wrapper.write_text(
        "#!/bin/sh\n"
        f"exec {BASES['debian']} -I -c 'import sys; sys.modules[\"_tkinter\"] = None; "
        "exec(compile(sys.argv.pop(1), \"<probe>\", \"exec\"))' \"$3\"\n"
    )
    wrapper.chmod(0o755)
    assert probe(wrapper).tcltk is None
    assert probe(Path(BASES["debian"])).tcltk is not None


def test_tcltk_layout_and_pruning(tmp_path):
    """Script libraries land where Tcl and Tk look; demos, tests and C sources are left out;
    module dirs inside the Tcl library (Debian) move to lib/tcl8/8.6, upstream ones keep their place."""
    share = tmp_path / "share"
    files = [
        "tcl8.6/init.tcl", "tcl8.6/encoding/cp1252.enc", "tcl8.6/tclAppInit.c", "tcl8.6/tcl8/msgcat-1.6.1.tm",
        "tcl8/8.5/tcltest-2.5.5.tm", "tk8.6/tk.tcl", "tk8.6/ttk/ttk.tcl", "tk8.6/images/logo.gif",
        "tk8.6/demos/widget", "tk8.6/tests/all.tcl", "tk8.6/tkAppInit.c",
    ]
    for f in files:
        (share / f).parent.mkdir(parents=True, exist_ok=True)
        (share / f).write_text(f)
    interp = probe(Path(sys.executable))
    fake = TclTk(
        tcl_library=share / "tcl8.6", tcl_version="8.6", tcl_patchlevel="8.6.13",
        tcl_modules=(share / "tcl8.6" / "tcl8", share / "tcl8" / "8.5"), tk_library=share / "tk8.6", tk_version="8.6",
    )
    root = tmp_path / "rt"
    root.mkdir()
    done = copy_tcltk(dataclasses.replace(interp, tcltk=fake), root)
    assert set(done) == {"lib/tcl8.6", "lib/tk8.6", "lib/tcl8/8.6", "lib/tcl8/8.5"}
    got = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert got == [
        "lib/tcl8.6/encoding/cp1252.enc", "lib/tcl8.6/init.tcl",
        "lib/tcl8/8.5/tcltest-2.5.5.tm", "lib/tcl8/8.6/msgcat-1.6.1.tm",
        "lib/tk8.6/images/logo.gif", "lib/tk8.6/tk.tcl", "lib/tk8.6/ttk/ttk.tcl",
    ]
    assert copy_tcltk(dataclasses.replace(interp, tcltk=None), tmp_path / "none") == ()
