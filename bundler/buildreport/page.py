"""The build report as one self-contained HTML page: inline CSS and script, nothing fetched.

The treemap is laid out here (:mod:`bundler.buildreport.treemap`), so the page
shows it without running a line of script; the script only fills the detail
line when a box gets focus or the pointer. Every box of a layer, directory or
package is a link to its row in the contents tree below (keyboard: Tab, Enter),
the tree is made of ``<details>`` elements, and layers differ by their border
style and their label as well as by colour, so the page reads without colour.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Iterable, Sequence

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from bundler.buildreport.model import Item, Node, ReportData, tree
from bundler.buildreport.treemap import Rect, layout
from bundler.output import payload
from bundler.output.tree import REPORT_MARK
from bundler.report import human_size

WIDTH, HEIGHT = 1180, 680


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def node_id(node: Node) -> str:
    """A stable anchor for *node*: its kind, layer and path, hashed (paths hold any character)."""
    return "n-" + hashlib.sha256(f"{node.kind}\0{node.layer}\0{node.path}\0{node.name}".encode()).hexdigest()[:12]


def _size(stored: int, compressed: int | None) -> str:
    return human_size(stored) + ("" if compressed is None else f", {human_size(compressed)} compressed")


def _describe(node: Node) -> str:
    what = {"layer": "layer", "top": "directory", "package": "package", "file": "file", "rest": "the rest of"}[node.kind]
    return f"{what} {node.path} ({node.layer}): {_size(node.stored, node.compressed)}, {node.files} files"


def treemap_html(nodes: Sequence[Node]) -> str:
    placed = layout(nodes, Rect(0, 0, WIDTH, HEIGHT), lambda n: n.stored, lambda n: n.children)
    boxes = []
    for p in placed:
        n, r = p.node, p.rect
        linked = n.kind in ("layer", "top", "package")
        if not linked and (r.w < 1 or r.h < 1):
            continue  # a file too small to see; its package's box and the contents list still count it
        # every layer, directory and package keeps a box, however small: it is a stop on the keyboard's way
        style = f"left:{r.x:.1f}px;top:{r.y:.1f}px;width:{max(r.w, 1):.1f}px;height:{max(r.h, 1):.1f}px"
        label = _e(n.name) if r.w > 44 and r.h > 13 else ""
        attrs = (f'class="tm k-{n.kind} l-{_e(n.layer)} d{p.depth}" style="{style}" data-kind="{n.kind}" '
                 f'data-layer="{_e(n.layer)}" data-path="{_e(n.path)}" data-stored="{n.stored}" '
                 f'data-compressed="{"" if n.compressed is None else n.compressed}" data-files="{n.files}" '
                 f'title="{_e(_describe(n))}"')
        if linked:
            boxes.append(f'<a {attrs} href="#{node_id(n)}" aria-label="{_e(_describe(n))}"><span>{label}</span></a>')
        else:
            boxes.append(f'<div {attrs} aria-hidden="true"><span>{label}</span></div>')
    return (f'<div class="treemap" id="treemap-boxes" style="width:{WIDTH}px;height:{HEIGHT}px" '
            f'role="group" aria-label="Treemap of the unpacked runtime">' + "".join(boxes) + "</div>")


def _contents_tree(nodes: Sequence[Node], depth: int = 0) -> str:
    out = []
    for n in nodes:
        line = (f'<span class="name">{_e(n.name)}</span> <span class="num">{_e(_size(n.stored, n.compressed))}'
                f'</span> <span class="files">{n.files} files</span>')
        if n.children and n.kind != "package":
            out.append(f'<details id="{node_id(n)}" data-kind="{n.kind}"{" open" if depth == 0 else ""}>'
                       f'<summary>{line}</summary>{_contents_tree(n.children, depth + 1)}</details>')
        elif n.children:  # a package: its largest files
            files = "".join(f'<li>{_e(c.name)} <span class="num">{_e(_size(c.stored, c.compressed))}</span></li>'
                            for c in n.children)
            out.append(f'<details id="{node_id(n)}" data-kind="{n.kind}"><summary>{line}</summary>'
                       f'<ul>{files}</ul></details>')
        else:
            out.append(f'<div class="leaf" id="{node_id(n)}" data-kind="{n.kind}" tabindex="-1">{line}</div>')
    return "".join(out)


def _table(caption: str, head: Iterable[str], rows: Iterable[Iterable[str]], cls: str = "", row_ids: Iterable[str] | None = None) -> str:
    ids = list(row_ids) if row_ids is not None else None
    body = []
    for i, row in enumerate(rows):
        rid = f' id="{_e(ids[i])}"' if ids else ""
        body.append(f"<tr{rid}>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>")
    th = "".join(f'<th scope="col">{_e(h)}</th>' for h in head)
    return (f'<table class="{cls}"><caption>{_e(caption)}</caption><thead><tr>{th}</tr></thead>'
            f'<tbody>{"".join(body) or "<tr><td colspan=9>none</td></tr>"}</tbody></table>')


def _code(text: str) -> str:
    return f"<code>{_e(text)}</code>"


def _largest(items: Sequence[Item], n: int = 25) -> str:
    files = sorted((i for i in items if i.kind == payload.FILE), key=lambda i: (-i.size, i.path))[:n]
    rows = [[_code(i.path), _e(i.layer), _e(human_size(i.size)), _e("" if i.compressed is None else human_size(i.compressed))]
            for i in files]
    return _table(f"The {len(files)} largest files", ["file", "layer", "size", "compressed (its share of its frame)"],
                  rows, "largest")


def _wheels(data: ReportData) -> str:
    rows = []
    for w in data.manifest.contents.wheels:
        try:
            _n, _v, _b, tags = parse_wheel_filename(w.file)
            tag = ", ".join(sorted(str(t) for t in tags)) if len(tags) <= 3 else f"{sorted(str(t) for t in tags)[0]} (+{len(tags) - 1})"
        except InvalidWheelFilename:
            tag = "?"
        rows.append([_e(w.name), _e(w.version), _code(tag), _code(w.file),
                     _code(w.sha256) if w.sha256 else "built from the project (no lock hash)"])
    return _table("Wheels installed, as the lock selected them for this target",
                  ["name", "version", "tags", "file", "sha256 (from the lock)"], rows, "wheels")


def _libraries(data: ReportData) -> str:
    floor_kind = "glibc" if data.manifest.glibc_floor else "macOS" if data.manifest.macos_minimum else "floor"
    rows = []
    for lib in data.libraries:
        users = "".join(f"<li>{_code(u)}</li>" for u in lib.needed_by) or "<li>(no binary names it)</li>"
        rows.append([_code(lib.path), _code(lib.origin), f'<ul class="users">{users}</ul>',
                     _code(lib.sha256) if lib.sha256 else "missing from the tree",
                     _e(human_size(lib.size)), _e(lib.floor or "-")])
    ids = ["lib-" + lib.path.rsplit("/", 1)[-1] for lib in data.libraries]
    return _table("Libraries copied in from the build machine",
                  ["library", "came from", "needed by", "sha256", "size", f"needs {floor_kind}"], rows,
                  "libraries", ids)


def _left_out(data: ReportData) -> str:
    rows = [[_e(l.what), _e(l.files), _e(human_size(l.size))] for l in data.manifest.contents.left_out]
    excluded = data.manifest.excluded_libraries
    note = (f"<p>Left unresolved on purpose (<code>--exclude-lib</code>): {', '.join(_code(x) for x in excluded)}</p>"
            if excluded else "")
    return _table("What the build left out", ["what", "files", "size"], rows, "left-out") + note


def _layers(data: ReportData, layers: Sequence[Node]) -> str:
    rows = []
    frames = {l.name: len(l.frames) for l in data.manifest.payload.layers} if data.manifest.payload else {}
    for n in layers:
        ratio = f"{n.stored / n.compressed:.1f}x" if n.compressed else "-"
        rows.append([f'<a href="#{node_id(n)}">{_e(n.name)}</a>', _e(n.files), _e(human_size(n.stored)),
                     _e("-" if n.compressed is None else human_size(n.compressed)), _e(ratio), _e(frames.get(n.name, "-"))])
    return _table("Layers: unpacked and compressed", ["layer", "files", "unpacked", "compressed", "ratio", "frames"],
                  rows, "layers")


def _facts(data: ReportData, layers: Sequence[Node]) -> str:
    m = data.manifest
    facts: list[tuple[str, str]] = [
        ("target", _e(m.target)),
        ("Python", f"CPython {_e(m.python.version or '?')} ({_code(m.python.executable)})"),
    ]
    if m.glibc_floor:
        facts.append(("glibc floor", f"{_e(m.glibc_floor)}, set by " + (", ".join(_code(f) for f in data.floor_set_by) or "-")))
    if m.macos_minimum:
        facts.append(("macOS minimum", f"{_e(m.macos_minimum)}, set by " + (", ".join(_code(f) for f in data.floor_set_by) or "-")))
    facts.append(("entry points", ", ".join(_code(n) + (" (default)" if n == m.default_entry else "")
                                             for n, _p in m.entry_points) or "none"))
    stored = sum(n.stored for n in layers)
    files = sum(n.files for n in layers)
    facts.append(("unpacked", f"{files} files, {_e(human_size(stored))} ({stored} bytes)"))
    if m.payload is not None:
        facts.append(("payload", f"{_e(human_size(m.payload.length))} compressed ({m.payload.length} bytes), sha256 {_code(m.payload.sha256)}"))
    if data.artifact_size is not None:
        facts.append(("single file", f"{_e(human_size(data.artifact_size))} ({data.artifact_size} bytes)"))
    if m.stub is not None:
        s = m.stub
        facts.append(("stub", f"{_e(s.target)}{' (' + _e(s.variant) + ')' if s.variant else ''}, "
                              f"{'prebuilt' if s.prebuilt else 'compiled from source'} with Zig {_e(s.zig)}, "
                              f"sha256 {_code(s.sha256)}, sources sha256 {_code(s.source_sha256)}"))
    if m.build is not None:
        facts.append(("built by", f"bundler {_e(m.build.bundler)}, SOURCE_DATE_EPOCH {m.build.source_date_epoch}"))
    facts.append(("binaries", f"{data.binaries} native files of the target's format, "
                              f"{len(data.libraries)} of them copied in from the build machine"))
    return "<dl class=facts>" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts) + "</dl>"


def _timings(data: ReportData) -> str:
    if not data.timings:
        return "<p>Not recorded: the artifact does not keep its build's timings (only <code>bundler build --report</code> shows them).</p>"
    total = sum(s for _n, s in data.timings) or 1
    rows = [[_e(n), f"{s:.2f} s", f'<span class="bar" style="width:{max(1, round(200 * s / total))}px"></span> {100 * s / total:.0f}%']
            for n, s in data.timings]
    return _table("Seconds per stage of this build", ["stage", "seconds", "share"], rows, "timings")


CSS = """
:root{--fg:#111;--bg:#fff;--muted:#555;--line:#bbb}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--fg);background:var(--bg);margin:0;padding:16px 24px 48px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid var(--line)}
a{color:#0645ad}a:focus,summary:focus,.tm:focus{outline:3px solid #000;outline-offset:1px}
nav a{margin-right:14px}
code{font:12px/1.3 ui-monospace,"DejaVu Sans Mono",monospace;word-break:break-all}
table{border-collapse:collapse;margin:6px 0 12px;min-width:50%}
caption{text-align:left;font-weight:600;padding:4px 0}
th,td{border:1px solid var(--line);padding:3px 8px;text-align:left;vertical-align:top}
th{background:#eee}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px}dl.facts dt{font-weight:600}
.treemap{position:relative;border:1px solid #000;background:#fafafa;overflow:hidden}
.tm{position:absolute;overflow:hidden;display:block;color:#000;text-decoration:none;font-size:11px;line-height:13px}
.tm span{padding:1px 3px;white-space:nowrap;display:block;overflow:hidden;text-overflow:ellipsis}
.k-layer{border:3px solid #000}.k-layer>span{font-weight:700;font-size:12px}
.k-top{border:2px solid #222}.k-top>span{font-weight:600}
.k-package{border:1px solid #333}.k-file,.k-rest{border:1px solid #777}
.k-rest{background-image:repeating-linear-gradient(45deg,transparent 0 4px,rgba(0,0,0,.12) 4px 5px)}
.l-runtime.k-layer{border-style:solid}.l-dependencies.k-layer{border-style:dashed}.l-app.k-layer{border-style:double;border-width:5px}
.l-runtime{background:#dbe8f7}.l-runtime.k-package{background:#c3d8f0}.l-runtime.k-file{background:#a9c6ea}
.l-dependencies{background:#dcefd8}.l-dependencies.k-package{background:#c2e3bb}.l-dependencies.k-file{background:#a5d59b}
.l-app{background:#fbe3c8}.l-app.k-package{background:#f7cf9f}.l-app.k-file{background:#f3b877}
.legend span{display:inline-block;padding:2px 8px;margin-right:8px;border:3px solid #000}
#tm-detail{min-height:1.5em;font-weight:600}
details{margin-left:18px}details>summary{cursor:pointer}.leaf{margin-left:36px}
.num,.files{color:var(--muted)}.bar{display:inline-block;height:10px;background:#555;vertical-align:middle}
ul.users{margin:0;padding-left:16px}
@media (prefers-color-scheme: dark){:root{--fg:#eee;--bg:#161616;--muted:#aaa;--line:#555}th{background:#2a2a2a}a{color:#8ab4f8}
a:focus,summary:focus,.tm:focus{outline-color:#fff}}
"""

SCRIPT = """
(function(){
  var out=document.getElementById('tm-detail');
  function show(e){var t=e.target.closest('.tm'); if(t){out.textContent=t.getAttribute('title');}}
  var map=document.getElementById('treemap-boxes');
  map.addEventListener('mouseover',show); map.addEventListener('focusin',show);
  document.querySelectorAll('a[href^="#n-"]').forEach(function(a){a.addEventListener('click',function(){
    var d=document.getElementById(a.getAttribute('href').slice(1));
    while(d){if(d.tagName==='DETAILS'){d.open=true;} d=d.parentElement;}
  });});
})();
"""


def render(data: ReportData) -> str:
    """The whole page."""
    m = data.manifest
    layers = tree(data)
    title = f"{m.app.name} {m.app.version} for {m.target}"
    legend = ('<p class="legend">Layers: <span class="l-runtime" style="border-style:solid">runtime (solid border)</span>'
              '<span class="l-dependencies" style="border-style:dashed">dependencies (dashed)</span>'
              '<span class="l-app" style="border-style:double">app (double)</span> Box areas are unpacked bytes; '
              'hatched boxes gather a package\'s smaller files. Each box\'s title and the line below the map give '
              'its sizes; Tab moves through layers, directories and packages, Enter opens its row in the contents.</p>')
    sections = [
        ("summary", "Summary", _facts(data, layers) + _layers(data, layers)),
        ("treemap", "What takes the space", legend + treemap_html(layers) +
         '<p id="tm-detail" aria-live="polite">Point at or focus a box for its sizes.</p>'),
        ("contents", "Contents by layer, directory and package", _contents_tree(layers)),
        ("largest", "Largest files", _largest(data.items)),
        ("left-out", "Left out", _left_out(data)),
        ("libraries", "Vendored native libraries", _libraries(data)),
        ("wheels", "Wheels", _wheels(data)),
        ("timings", "Build timings", _timings(data)),
    ]
    nav = "".join(f'<a href="#{sid}">{_e(h)}</a>' for sid, h, _b in sections)
    body = "".join(f'<section id="{sid}" aria-labelledby="h-{sid}"><h2 id="h-{sid}">{_e(h)}</h2>{b}</section>'
                   for sid, h, b in sections)
    return (
        "<!doctype html>\n"
        f'<html lang="en"><head><meta charset="utf-8">{REPORT_MARK}<meta name="viewport" content="width=device-width">'
        f"<title>{_e(title)}: bundler build report</title><style>{CSS}</style></head>"
        f'<body><header><h1>{_e(title)}</h1><p>bundler build report</p></header>'
        f'<nav aria-label="Sections">{nav}</nav><main>{body}</main>'
        f"<script>{SCRIPT}</script></body></html>\n"
    )
