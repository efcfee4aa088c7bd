"""``bundler build --report`` and ``bundler inspect --report``, opened in headless Chromium.

The app is the suite's hello + click + PyYAML (built against Debian's libyaml,
which relocation vendors), on the pyenv CPython that runs the tests (whose
libssl, libffi, ... are vendored too). The page is read as Chromium shows it:
its DOM after the script ran, and a screenshot.
"""

from __future__ import annotations

import hashlib
import re
import sysconfig
from html.parser import HTMLParser
from pathlib import Path

import pytest
from support import browser
from support.e2e import REPORTED, run_bundler

from bundler.output import payload as pl

NAME = REPORTED
YAML_MODULE = f"yaml/_yaml{sysconfig.get_config_var('EXT_SUFFIX')}"


@pytest.fixture(scope="module")
def built(reported) -> Path:
    return reported


@pytest.fixture(scope="module")
def unpacked(built, tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("unpacked") / "rt"
    pl.extract(built / NAME, dest)
    return dest


@pytest.fixture(scope="module")
def dom(built) -> str:
    return browser.dump_dom(built / f"{NAME}.report.html")


class Boxes(HTMLParser):
    """The treemap's boxes (their data attributes and link) and every element id."""

    def __init__(self) -> None:
        super().__init__()
        self.boxes: list[dict[str, str]] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if "id" in a:
            self.ids.add(a["id"])
        if "tm" in a.get("class", "").split():
            self.boxes.append({**a, "tag": tag})


def _boxes(dom: str) -> Boxes:
    parser = Boxes()
    parser.feed(dom)
    return parser


def _text(fragment: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment))


def test_the_treemap_has_every_layer_and_its_sizes_add_up_to_the_manifest(built, dom):
    manifest = pl.read_manifest(built / NAME)
    assert manifest.payload is not None
    parsed = _boxes(dom)
    layers = {b["data-layer"]: b for b in parsed.boxes if b["data-kind"] == "layer"}
    assert set(layers) == {"runtime", "dependencies", "app"}
    for layer in manifest.payload.layers:
        box = layers[layer.name]
        assert int(box["data-stored"]) == layer.uncompressed_size
        assert int(box["data-compressed"]) == sum(f.length for f in layer.frames)
        assert int(box["data-files"]) == layer.files
        tops = [b for b in parsed.boxes if b["data-kind"] == "top" and b["data-layer"] == layer.name]
        assert tops and sum(int(b["data-stored"]) for b in tops) == layer.uncompressed_size
        assert sum(int(b["data-compressed"]) for b in tops) == sum(f.length for f in layer.frames)
        assert sum(int(b["data-files"]) for b in tops) == layer.files
    assert sum(int(b["data-stored"]) for b in layers.values()) == manifest.payload.uncompressed_size
    assert sum(int(b["data-compressed"]) for b in layers.values()) == manifest.payload.length
    packages = {b["data-path"] for b in parsed.boxes if b["data-kind"] == "package"}
    assert {"lib/python3.11/site-packages/yaml", "lib/python3.11/site-packages/click", "lib/bundled"} <= packages
    # every box of a layer, directory or package is a link to its row of the contents tree
    for box in parsed.boxes:
        if box["data-kind"] in ("layer", "top", "package"):
            assert box["tag"] == "a" and box["href"].startswith("#") and box["href"][1:] in parsed.ids, box


def test_the_vendored_library_row_names_its_importer_origin_and_sha256(dom, unpacked, built):
    manifest = pl.read_manifest(built / NAME)
    (yaml_lib,) = [v for v in manifest.contents.vendored_libraries if Path(v.path).name.startswith("libyaml")]
    assert yaml_lib.origin.startswith("/usr/lib/x86_64-linux-gnu/libyaml")
    row = re.search(rf'<tr id="lib-{re.escape(Path(yaml_lib.path).name)}">(.*?)</tr>', dom, re.S)
    assert row, "no row for the vendored libyaml"
    text = _text(row.group(1))
    assert yaml_lib.path in text and yaml_lib.origin in text
    assert f"lib/python3.11/site-packages/{YAML_MODULE}" in text
    assert hashlib.sha256((unpacked / yaml_lib.path).read_bytes()).hexdigest() in text
    assert re.search(r"\b2\.\d+\b", text)  # the glibc it needs
    # libssl: needed by the interpreter's _ssl module, from the build machine's file
    ssl = re.search(r'<tr id="lib-(libssl-[0-9a-f]{8}\.so\.3)">(.*?)</tr>', dom, re.S)
    assert ssl and "lib-dynload/_ssl" in _text(ssl.group(2))
    # what set the glibc floor, the wheels with their lock hashes, the stub
    assert f"{manifest.glibc_floor}, set by" in _text(dom)
    for wheel in manifest.contents.wheels:
        assert wheel.file in dom and (wheel.sha256 is None or wheel.sha256 in dom)
    assert manifest.stub is not None and manifest.stub.sha256 in dom
    assert "Seconds per stage" in dom  # a build's report has its timings


def test_a_screenshot_of_the_page_is_not_blank(built, tmp_path):
    from PIL import Image

    png = browser.screenshot(built / f"{NAME}.report.html", tmp_path / "report.png")
    with Image.open(png) as im:
        rgb = im.convert("RGB")
        colours = rgb.getcolors(maxcolors=1 << 20) or []
        width, height = rgb.size
        non_white = sum(n for n, c in colours if c != (255, 255, 255))
    assert len(colours) > 50, f"{len(colours)} colours: a blank or unstyled page"
    assert non_white > 0.1 * width * height  # the treemap alone covers more than this


def test_inspect_report_makes_the_same_page_from_the_artifact(built, tmp_path):
    dest = tmp_path / "again.html"
    proc = run_bundler("inspect", str(built / NAME), "--report", "--output", str(dest))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(dest)
    first = (built / f"{NAME}.report.html").read_text()
    again = dest.read_text()

    def section(page: str, name: str) -> str:
        return page.split(f'<section id="{name}"', 1)[1].split("</section>", 1)[0]

    for name in ("summary", "treemap", "contents", "largest", "left-out", "libraries", "wheels"):
        assert section(first, name) == section(again, name), name
    assert "Not recorded" in section(again, "timings") and "Not recorded" not in section(first, "timings")


def test_inspect_report_refuses_a_runtime_directory_and_output_without_report(built, tmp_path):
    (tmp_path / "rt").mkdir()
    (tmp_path / "rt" / "bundler.json").write_text("{}")
    proc = run_bundler("inspect", str(tmp_path / "rt"), "--report")
    assert proc.returncode == 3 and "--report reads a single file" in proc.stderr, proc.stderr
    proc = run_bundler("inspect", str(built / NAME), "--output", str(tmp_path / "x.html"))
    assert proc.returncode == 2 and "--output is for --report" in proc.stderr, proc.stderr
