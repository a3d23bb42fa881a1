#!/usr/bin/env python3
"""Checks, in a real browser's rendering, that the HTML report draws its charts.

  html_report_check.py probe REPORT PROBE      writes PROBE: the report plus a script that
                                               lists each chart's box and marks into the page
  html_report_check.py check DOM PNG           reads the probed DOM (chromium --dump-dom) and
                                               the screenshot of the unmodified report, and
                                               fails unless every chart has drawn marks
  html_report_check.py crop PNG TOP HEIGHT OUT a slice of a tall screenshot, to look at

Standard library only: the PNG is decoded here (8-bit RGB or RGBA, not interlaced, which
is what Chromium writes).
"""

import json
import re
import struct
import sys
import zlib

# Appended to a copy of the report only: the report itself carries no script.
PROBE = """
<script>
(function () {
  var charts = [];
  document.querySelectorAll('figure.chart').forEach(function (f) {
    var svg = f.querySelector('svg');
    var r = (svg || f).getBoundingClientRect();
    var points = 0;
    f.querySelectorAll('polyline').forEach(function (p) {
      points += (p.getAttribute('points') || '').trim().split(/\\s+/).length;
    });
    charts.push({
      title: ((f.querySelector('text') || {}).textContent || '').trim(),
      x: r.left + window.scrollX, y: r.top + window.scrollY, width: r.width, height: r.height,
      circles: f.querySelectorAll('circle').length,
      rects: f.querySelectorAll('rect').length,
      line_points: points
    });
  });
  var banner = document.getElementById('verdict').getBoundingClientRect();
  var out = document.createElement('pre');
  out.id = 'probe';
  out.textContent = JSON.stringify({
    height: document.documentElement.scrollHeight,
    banner: { x: banner.left, y: banner.top, width: banner.width, height: banner.height },
    charts: charts
  });
  document.body.appendChild(out);
})();
</script>
"""


def probe(report, out):
    with open(report, encoding="utf-8") as f:
        html = f.read()
    if "<script" in html:
        sys.exit("FAIL: the report carries a script of its own; it must be static")
    with open(out, "w", encoding="utf-8") as f:
        f.write(html.replace("</body>", PROBE + "</body>"))


def read_png(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        sys.exit(f"FAIL: {path} is not a PNG")
    pos, idat, header = 8, [], None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + length
    width, height, depth, color, _, _, interlace = header
    channels = {2: 3, 6: 4}.get(color)
    if depth != 8 or channels is None or interlace:
        sys.exit(f"FAIL: {path}: unsupported PNG (depth {depth}, colour type {color}, interlace {interlace})")
    raw = zlib.decompress(b"".join(idat))
    stride = width * channels
    rows, prev = [], bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, channels, rows


def write_png(path, width, channels, rows):
    raw = b"".join(b"\x00" + r for r in rows)
    color = {3: 2, 4: 6}[channels]
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, len(rows), 8, color, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 6)))
        f.write(chunk(b"IEND", b""))


def coloured(rows, channels, box, image_width, image_height):
    """Pixels of clear colour inside a box: data marks (blue dots and bars, green and dark
    lines over white); axes, grid and text are grey, so they do not count."""
    x0, y0 = max(0, int(box["x"])), max(0, int(box["y"]))
    x1 = min(image_width, int(box["x"] + box["width"]))
    y1 = min(image_height, int(box["y"] + box["height"]))
    n = 0
    for y in range(y0, y1):
        row = rows[y]
        for x in range(x0, x1):
            r, g, b = row[x * channels], row[x * channels + 1], row[x * channels + 2]
            if max(r, g, b) - min(r, g, b) > 40:
                n += 1
    return n


def check(dom_path, png_path):
    with open(dom_path, encoding="utf-8") as f:
        dom = f.read()
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    if not found:
        sys.exit("FAIL: the probe found nothing: the page did not load in the browser")
    text = found.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    info = json.loads(text)
    charts = info["charts"]
    width, height, channels, rows = read_png(png_path)
    problems = []
    if len(charts) < 3:
        problems.append(f"{len(charts)} charts on the page, expected a time chart and histograms")
    banner = coloured(rows, channels, info["banner"], width, height)
    if banner < info["banner"]["width"] * info["banner"]["height"] * 0.5:
        problems.append(f"the verdict banner is not coloured ({banner} coloured pixels)")
    time_charts = 0
    for c in charts:
        if c["y"] + c["height"] > height:
            problems.append(f"chart '{c['title']}' lies below the screenshot ({height} px)")
            continue
        pixels = coloured(rows, channels, c, width, height)
        # A time chart draws a dot per request; a histogram, bars.
        is_time = c["circles"] > 0
        time_charts += is_time
        print(f"  chart '{c['title']}': {c['width']:.0f}x{c['height']:.0f} px at y={c['y']:.0f}, "
              f"{c['circles']} dots, {c['line_points']} line points, {c['rects']} rects, {pixels} coloured pixels")
        # A run of three requests draws three dots: ask less of it than of a full chart.
        if pixels < (150 if c["circles"] >= 10 or not is_time else 40):
            problems.append(f"chart '{c['title']}' shows no data in the screenshot ({pixels} coloured pixels)")
        if c["width"] < 300 or c["height"] < 150:
            problems.append(f"chart '{c['title']}' is drawn too small ({c['width']:.0f}x{c['height']:.0f})")
        if is_time and c["circles"] < 3:
            problems.append(f"time chart '{c['title']}' has only {c['circles']} dots")
        if not is_time and c["rects"] < 3:
            problems.append(f"histogram '{c['title']}' has no bars")
    # The soak's chart: a dot per request and the sampled memory drawn as a line.
    if not any(c["circles"] >= 20 and c["line_points"] >= 60 for c in charts):
        problems.append("no time chart with a dot per request and a sampled series")
    if problems:
        for p in problems:
            print(f"FAIL: {p}")
        sys.exit(1)
    print(f"ok: {len(charts)} charts drawn ({time_charts} over time), banner coloured, page {info['height']} px high")


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "probe" and len(sys.argv) == 4:
        probe(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 2 and sys.argv[1] == "check" and len(sys.argv) == 4:
        check(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 2 and sys.argv[1] == "crop" and len(sys.argv) == 6:
        width, _, channels, rows = read_png(sys.argv[2])
        top, h = int(sys.argv[3]), int(sys.argv[4])
        write_png(sys.argv[5], width, channels, rows[top:top + h])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
