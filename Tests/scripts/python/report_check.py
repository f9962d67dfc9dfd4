"""Helpers of Tests/scripts/report-test.sh.

  pictures DIR        a PNG (boxes drawn with Pillow) and an SVG, as a detection run
                      would leave them
  check RUN DOM PNG   the rendered DOM (chromium --dump-dom) holds every section,
                      chart, table row and picture the run folder calls for, nothing
                      external, and the screenshot is not blank
"""
import json
import os
import sys
from html.parser import HTMLParser


def fail(msg):
    print(f"FAIL report-test: {msg}")
    sys.exit(1)


def pictures(d):
    from PIL import Image, ImageDraw
    os.makedirs(d, exist_ok=True)
    im = Image.new("RGB", (224, 160), (90, 90, 90))
    dr = ImageDraw.Draw(im)
    dr.rectangle([20, 30, 100, 120], outline=(255, 60, 60), width=3)
    dr.rectangle([120, 20, 200, 90], outline=(60, 200, 60), width=3)
    im.save(os.path.join(d, "detections.png"))
    with open(os.path.join(d, "segmentation.svg"), "w") as f:
        f.write('<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="160" height="100" id="seg-svg">'
                '<rect width="160" height="100" fill="#223"/><circle cx="60" cy="50" r="30" fill="#e4572e"/></svg>')


class Dom(HTMLParser):
    """Every element with its attributes and the ids/classes of its open ancestors."""

    def __init__(self):
        super().__init__()
        self.elements, self.stack = [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.elements.append((tag, a, [x[1] for x in self.stack]))
        if tag not in ("circle", "line", "rect", "polyline", "img", "meta", "br", "path"):
            self.stack.append((tag, a))

    def handle_startendtag(self, tag, attrs):
        self.elements.append((tag, dict(attrs), [x[1] for x in self.stack]))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break


def check(run, dom_path, png_path):
    dom = Dom()
    dom.feed(open(dom_path, encoding="utf-8").read())
    els = dom.elements
    classes = lambda a: (a.get("class") or "").split()
    ids = {a["id"] for _, a, _ in els if "id" in a}
    want = ["summary", "curves", "quantization", "histograms", "parity", "pictures", "config",
            "chart-loss", "chart-accuracy", "chart-lr", "chart-throughput", "quant-table",
            "parity-summary", "parity-layers", "card-final-accuracy"]
    missing = [i for i in want if i not in ids]
    if missing:
        fail(f"DOM lacks ids {missing}")
    for cid in want[7:11]:
        lines = [t for t, a, anc in els if t == "polyline" and any(x.get("id") == cid for x in anc)]
        marks = [t for t, a, anc in els if "phase-mark" in classes(a) and any(x.get("id") == cid for x in anc)]
        ticks = [t for t, a, anc in els if "tick" in classes(a) and any(x.get("id") == cid for x in anc)]
        if not lines or len(marks) != 1 or len(ticks) < 6:
            fail(f"{cid}: {len(lines)} polylines, {len(marks)} phase marks (want 1: fp32 -> w4a4), {len(ticks)} tick labels")
    q = json.load(open(os.path.join(run, "quantization.json")))
    names = [l["name"] for l in q["layers"]]
    rows = [a.get("data-layer") for t, a, _ in els if t == "tr" and "quant-layer" in classes(a)]
    if rows != names:
        fail(f"quantization rows {rows} != layers of quantization.json {names}")
    nh = sum((l.get("weight_histogram_before") is not None) + (l.get("weight_histogram_after") is not None) for l in q["layers"])
    hists = [a for t, a, _ in els if t == "svg" and "histogram" in classes(a)]
    if len(hists) != nh or nh == 0:
        fail(f"{len(hists)} histogram charts, quantization.json has {nh} histograms")
    p = json.load(open(os.path.join(run, "parity.json")))
    prow = [a.get("data-layer") for t, a, _ in els if t == "tr" and "parity-layer" in classes(a)]
    if prow != [l["name"] for l in p["layers"]] or not prow:
        fail(f"parity rows {prow} != parity.json layers {[l['name'] for l in p['layers']]}")
    pics = [a.get("data-file") for t, a, _ in els if t == "figure" and "picture" in classes(a)]
    if pics != sorted(os.listdir(os.path.join(run, "pictures"))):
        fail(f"pictures {pics}")
    if "seg-svg" not in ids or not any(t == "img" and a.get("src", "").startswith("data:image/png;base64,") for t, a, _ in els):
        fail("the SVG picture is not inline or the PNG is not a data: URI")
    if any(t == "script" for t, _, _ in els):
        fail("the page has a script")
    ext = [(t, k, v) for t, a, _ in els for k, v in a.items() if k in ("src", "href") and v and not v.startswith("data:")]
    if ext:
        fail(f"external references {ext[:3]}")

    from PIL import Image
    im = Image.open(png_path).convert("RGB")
    if im.size != (1280, 2400):
        fail(f"screenshot is {im.size}, not 1280x2400")
    colours = im.getcolors(maxcolors=1 << 24)
    white = sum(n for n, c in colours if c == (255, 255, 255))
    inked = 1 - white / (im.size[0] * im.size[1])
    top = im.crop((0, 0, 1280, 600)).getcolors(maxcolors=1 << 24)
    if len(colours) < 64 or not 0.02 < inked < 0.9 or len(top) < 16:
        fail(f"screenshot looks blank: {len(colours)} colours, {inked:.1%} non-white, {len(top)} colours in the top 600 rows")
    print(f"report-test: DOM has all {len(want)} ids, 4 charts with phase marks, {len(rows)} quantization rows, "
          f"{len(hists)} histograms, {len(prow)} parity rows, {len(pics)} pictures; "
          f"screenshot 1280x2400 with {len(colours)} colours, {inked:.1%} non-white")


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "pictures":
        pictures(sys.argv[2])
    elif cmd == "check":
        check(*sys.argv[2:5])
    else:
        fail(f"usage: {__doc__}")
