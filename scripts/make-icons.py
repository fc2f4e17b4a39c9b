#!/usr/bin/env python3
"""Renders icons/kiln.svg to icons/kiln-<N>.png for N in 16, 32, 48, 64, 128, 256 and 512.

Pure standard library (no SVG toolkit needed): the SVG's flat-filled shapes are turned into
polygons and scan-converted with exact horizontal coverage and 16 sub-rows per pixel, then
composited in document order and written as 8-bit RGBA PNGs.

Supported subset, which is all the master uses: <svg viewBox>, <g> (no transforms), <rect>
(x, y, width, height, rx, ry), <circle>, <ellipse>, <polygon> and <path> with every path command
(M L H V C S Q T A Z, absolute and relative), filled with a #rgb/#rrggbb colour, an optional
opacity / fill-opacity, and the nonzero or evenodd fill rule. A stroke is refused.

Usage: python3 scripts/make-icons.py [SVG] [OUTDIR] [SIZE...]
  defaults: icons/kiln.svg, icons/, and the seven sizes above.
"""

import math
import os
import re
import struct
import sys
import xml.etree.ElementTree as ET
import zlib

SIZES = (16, 32, 48, 64, 128, 256, 512)
SUBROWS = 16
SVG_NS = "{http://www.w3.org/2000/svg}"


# ---------------------------------------------------------------------------------------------
# Geometry: everything becomes a list of closed polygons (lists of (x, y)) in SVG user units.


def flatten_cubic(p0, p1, p2, p3, steps):
    out = []
    for i in range(1, steps + 1):
        t = i / steps
        u = 1 - t
        out.append((
            u * u * u * p0[0] + 3 * u * u * t * p1[0] + 3 * u * t * t * p2[0] + t * t * t * p3[0],
            u * u * u * p0[1] + 3 * u * u * t * p1[1] + 3 * u * t * t * p2[1] + t * t * t * p3[1],
        ))
    return out


def flatten_arc(p0, rx, ry, phi_deg, large, sweep, p1, tolerance):
    """SVG elliptical arc (endpoint parameterisation, SVG 1.1 F.6.5) as line-segment ends."""
    if p0 == p1:
        return []
    rx, ry = abs(rx), abs(ry)
    if rx == 0 or ry == 0:
        return [p1]
    phi = math.radians(phi_deg)
    cos_p, sin_p = math.cos(phi), math.sin(phi)
    dx, dy = (p0[0] - p1[0]) / 2, (p0[1] - p1[1]) / 2
    x1p = cos_p * dx + sin_p * dy
    y1p = -sin_p * dx + cos_p * dy
    lam = (x1p * x1p) / (rx * rx) + (y1p * y1p) / (ry * ry)
    if lam > 1:
        s = math.sqrt(lam)
        rx, ry = rx * s, ry * s
    num = rx * rx * ry * ry - rx * rx * y1p * y1p - ry * ry * x1p * x1p
    den = rx * rx * y1p * y1p + ry * ry * x1p * x1p
    coef = math.sqrt(max(0.0, num / den)) if den else 0.0
    if large == sweep:
        coef = -coef
    cxp = coef * rx * y1p / ry
    cyp = -coef * ry * x1p / rx
    cx = cos_p * cxp - sin_p * cyp + (p0[0] + p1[0]) / 2
    cy = sin_p * cxp + cos_p * cyp + (p0[1] + p1[1]) / 2

    def angle(ux, uy, vx, vy):
        a = math.atan2(ux * vy - uy * vx, ux * vx + uy * vy)
        return a

    theta1 = angle(1, 0, (x1p - cxp) / rx, (y1p - cyp) / ry)
    dtheta = angle((x1p - cxp) / rx, (y1p - cyp) / ry, (-x1p - cxp) / rx, (-y1p - cyp) / ry)
    if not sweep and dtheta > 0:
        dtheta -= 2 * math.pi
    elif sweep and dtheta < 0:
        dtheta += 2 * math.pi
    # Segments short enough that the chord stays within `tolerance` of the curve.
    r = max(rx, ry)
    step = 2 * math.acos(max(-1.0, min(1.0, 1 - tolerance / r))) if r > tolerance else math.pi / 2
    steps = max(2, int(math.ceil(abs(dtheta) / max(step, 1e-3))))
    out = []
    for i in range(1, steps + 1):
        t = theta1 + dtheta * i / steps
        x, y = rx * math.cos(t), ry * math.sin(t)
        out.append((cos_p * x - sin_p * y + cx, sin_p * x + cos_p * y + cy))
    out[-1] = p1
    return out


TOKEN = re.compile(r"[MmLlHhVvCcSsQqTtAaZz]|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def path_polygons(d, tolerance):
    tokens = TOKEN.findall(d)
    polys, current = [], []
    pos = start = (0.0, 0.0)
    last_ctrl = None
    last_cmd = ""
    cmd = None
    i = 0
    curve_steps = 48

    def num():
        nonlocal i
        v = float(tokens[i])
        i += 1
        return v

    def flag():
        # Arc flags may be written without separators ("a1 1 0 011 1"); the tokenizer keeps
        # "011" as one number, so split it here.
        nonlocal i
        tok = tokens[i]
        if len(tok) > 1 and tok[0] in "01":
            tokens[i] = tok[1:]
            return int(tok[0])
        i += 1
        return int(float(tok))

    def close():
        nonlocal current
        if len(current) > 2:
            polys.append(current)
        current = []

    while i < len(tokens):
        if tokens[i].isalpha():
            cmd = tokens[i]
            i += 1
        elif cmd is None:
            raise ValueError("path data must start with a command")
        rel = cmd.islower()
        c = cmd.upper()
        ox, oy = pos if rel else (0.0, 0.0)
        if c == "Z":
            close()
            pos = start
            current = []
            last_ctrl, last_cmd = None, "Z"
            continue
        if c == "M":
            close()
            pos = (ox + num(), oy + num())
            start = pos
            current = [pos]
            cmd = "l" if rel else "L"  # further pairs are implicit line-tos
            last_ctrl, last_cmd = None, "M"
            continue
        if not current:
            current = [pos]
        if c == "L":
            pos = (ox + num(), oy + num())
            current.append(pos)
            last_ctrl = None
        elif c == "H":
            pos = ((ox if rel else 0.0) + num(), pos[1])
            current.append(pos)
            last_ctrl = None
        elif c == "V":
            pos = (pos[0], (oy if rel else 0.0) + num())
            current.append(pos)
            last_ctrl = None
        elif c in "CS":
            if c == "C":
                c1 = (ox + num(), oy + num())
            elif last_ctrl is not None and last_cmd in "CS":
                c1 = (2 * pos[0] - last_ctrl[0], 2 * pos[1] - last_ctrl[1])
            else:
                c1 = pos
            c2 = (ox + num(), oy + num())
            end = (ox + num(), oy + num())
            current.extend(flatten_cubic(pos, c1, c2, end, curve_steps))
            last_ctrl, pos = c2, end
        elif c in "QT":
            if c == "Q":
                q = (ox + num(), oy + num())
            elif last_ctrl is not None and last_cmd in "QT":
                q = (2 * pos[0] - last_ctrl[0], 2 * pos[1] - last_ctrl[1])
            else:
                q = pos
            end = (ox + num(), oy + num())
            c1 = (pos[0] + 2 / 3 * (q[0] - pos[0]), pos[1] + 2 / 3 * (q[1] - pos[1]))
            c2 = (end[0] + 2 / 3 * (q[0] - end[0]), end[1] + 2 / 3 * (q[1] - end[1]))
            current.extend(flatten_cubic(pos, c1, c2, end, curve_steps))
            last_ctrl, pos = q, end
        elif c == "A":
            rx, ry, rot = num(), num(), num()
            large, sweep = flag(), flag()
            end = (ox + num(), oy + num())
            current.extend(flatten_arc(pos, rx, ry, rot, large, sweep, end, tolerance))
            pos = end
            last_ctrl = None
        else:
            raise ValueError(f"unsupported path command {cmd!r}")
        last_cmd = c
    close()
    return polys


def rect_polygons(el, tolerance):
    x, y = fnum(el, "x"), fnum(el, "y")
    w, h = fnum(el, "width"), fnum(el, "height")
    rx, ry = el.get("rx"), el.get("ry")
    rx = float(rx) if rx is not None else None
    ry = float(ry) if ry is not None else None
    if rx is None:
        rx = ry or 0.0
    if ry is None:
        ry = rx
    rx, ry = min(rx, w / 2), min(ry, h / 2)
    if rx <= 0 or ry <= 0:
        return [[(x, y), (x + w, y), (x + w, y + h), (x, y + h)]]
    d = (
        f"M{x + rx} {y} H{x + w - rx} A{rx} {ry} 0 0 1 {x + w} {y + ry} V{y + h - ry} "
        f"A{rx} {ry} 0 0 1 {x + w - rx} {y + h} H{x + rx} A{rx} {ry} 0 0 1 {x} {y + h - ry} "
        f"V{y + ry} A{rx} {ry} 0 0 1 {x + rx} {y} Z"
    )
    return path_polygons(d, tolerance)


def ellipse_polygons(cx, cy, rx, ry, tolerance):
    d = f"M{cx - rx} {cy} A{rx} {ry} 0 1 1 {cx + rx} {cy} A{rx} {ry} 0 1 1 {cx - rx} {cy} Z"
    return path_polygons(d, tolerance)


def fnum(el, name, default=0.0):
    v = el.get(name)
    return float(v) if v is not None else default


# ---------------------------------------------------------------------------------------------
# Styles


def style_of(el, inherited):
    # Strokes are not drawn: refuse one rather than render the icon without it.
    stroke = el.get("stroke") or next(
        (d.split(":", 1)[1].strip() for d in (el.get("style") or "").split(";")
         if d.split(":", 1)[0].strip() == "stroke" and ":" in d), None)
    if stroke not in (None, "none"):
        raise ValueError(f"<{el.tag}> has a stroke ({stroke}); strokes are not supported")
    st = dict(inherited)
    for k in ("fill", "fill-opacity", "opacity", "fill-rule"):
        if el.get(k) is not None:
            st[k] = el.get(k).strip()
    for decl in (el.get("style") or "").split(";"):
        if ":" in decl:
            k, v = decl.split(":", 1)
            if k.strip() in ("fill", "fill-opacity", "opacity", "fill-rule"):
                st[k.strip()] = v.strip()
    return st


def parse_colour(value):
    value = value.strip()
    if value.startswith("#"):
        h = value[1:]
        if len(h) == 3:
            h = "".join(ch * 2 for ch in h)
        if len(h) == 6:
            return tuple(int(h[j:j + 2], 16) for j in (0, 2, 4))
    named = {"black": (0, 0, 0), "white": (255, 255, 255)}
    if value in named:
        return named[value]
    raise ValueError(f"unsupported colour {value!r}")


def shapes(svg_root, tolerance):
    """(polygons, (r, g, b), alpha, evenodd) for each filled shape, in paint order."""
    out = []

    def walk(el, inherited):
        tag = el.tag.replace(SVG_NS, "")
        st = style_of(el, inherited)
        if tag in ("svg", "g"):
            if el.get("transform"):
                raise ValueError("transforms are not supported")
            # opacity does not inherit; multiply it into the group's children.
            group = dict(st)
            group["_alpha"] = inherited.get("_alpha", 1.0) * float(st.get("opacity", 1.0))
            group.pop("opacity", None)
            for child in el:
                walk(child, group)
            return
        if tag in ("title", "desc", "metadata", "defs"):
            return
        if el.get("transform"):
            raise ValueError("transforms are not supported")
        if tag == "rect":
            polys = rect_polygons(el, tolerance)
        elif tag == "circle":
            r = fnum(el, "r")
            polys = ellipse_polygons(fnum(el, "cx"), fnum(el, "cy"), r, r, tolerance)
        elif tag == "ellipse":
            polys = ellipse_polygons(
                fnum(el, "cx"), fnum(el, "cy"), fnum(el, "rx"), fnum(el, "ry"), tolerance)
        elif tag == "polygon":
            nums = [float(v) for v in re.split(r"[\s,]+", el.get("points", "").strip()) if v]
            polys = [list(zip(nums[0::2], nums[1::2]))]
        elif tag == "path":
            polys = path_polygons(el.get("d", ""), tolerance)
        else:
            raise ValueError(f"unsupported element <{tag}>")
        fill = st.get("fill", "#000")
        if fill == "none":
            return
        alpha = (st.get("_alpha", 1.0) * float(st.get("opacity", 1.0))
                 * float(st.get("fill-opacity", 1.0)))
        out.append((polys, parse_colour(fill), alpha, st.get("fill-rule") == "evenodd"))

    walk(svg_root, {"_alpha": 1.0})
    return out


# ---------------------------------------------------------------------------------------------
# Scan conversion


def coverage(polys, size, evenodd):
    """Per-pixel coverage in [0, 1] (list of rows of floats), or None outside the bbox rows."""
    edges = []  # (y0, y1, x at y0, dx/dy, direction)
    for poly in polys:
        n = len(poly)
        for k in range(n):
            (xa, ya), (xb, yb) = poly[k], poly[(k + 1) % n]
            if ya == yb:
                continue
            direction = 1
            if ya > yb:
                xa, ya, xb, yb = xb, yb, xa, ya
                direction = -1
            edges.append((ya, yb, xa, (xb - xa) / (yb - ya), direction))
    if not edges:
        return {}
    # Bucket the edges by the pixel rows they touch.
    rows = {}
    for e in edges:
        r0 = max(0, int(math.floor(e[0])))
        r1 = min(size - 1, int(math.ceil(e[1])) - 1)
        for r in range(r0, r1 + 1):
            rows.setdefault(r, []).append(e)
    result = {}
    w = 1.0 / SUBROWS
    for r, row_edges in rows.items():
        cov = [0.0] * (size + 2)
        delta = [0.0] * (size + 2)
        for s in range(SUBROWS):
            y = r + (s + 0.5) * w
            xs = []
            for (y0, y1, x0, slope, direction) in row_edges:
                if y0 <= y < y1:
                    xs.append((x0 + (y - y0) * slope, direction))
            if not xs:
                continue
            xs.sort()
            wind = 0
            for j in range(len(xs) - 1):
                wind = (wind + 1) if evenodd else (wind + xs[j][1])
                inside = (wind % 2 == 1) if evenodd else (wind != 0)
                if not inside:
                    continue
                xa = min(max(xs[j][0], 0.0), float(size))
                xb = min(max(xs[j + 1][0], 0.0), float(size))
                if xb <= xa:
                    continue
                ia, ib = int(xa), int(xb)
                if ia == ib:
                    cov[ia] += (xb - xa) * w
                else:
                    cov[ia] += (ia + 1 - xa) * w
                    delta[ia + 1] += w
                    delta[ib] -= w
                    cov[ib] += (xb - ib) * w
        run = 0.0
        line = [0.0] * size
        for x in range(size):
            run += delta[x]
            v = cov[x] + run
            line[x] = 1.0 if v > 1.0 else (0.0 if v < 1e-6 else v)
        result[r] = line
    return result


def render(svg_path, size):
    root = ET.parse(svg_path).getroot()
    vb = root.get("viewBox")
    if vb:
        vx, vy, vw, vh = (float(v) for v in re.split(r"[\s,]+", vb.strip()))
    else:
        vx, vy, vw, vh = 0.0, 0.0, fnum(root, "width"), fnum(root, "height")
    scale_x, scale_y = size / vw, size / vh
    # Flatten curves to within a twentieth of an output pixel.
    tolerance = 0.05 / min(scale_x, scale_y)
    # Straight-alpha RGBA, as floats.
    img = [[[0.0, 0.0, 0.0, 0.0] for _ in range(size)] for _ in range(size)]
    for polys, rgb, alpha, evenodd in shapes(root, tolerance):
        scaled = [[((x - vx) * scale_x, (y - vy) * scale_y) for x, y in p] for p in polys]
        for r, line in coverage(scaled, size, evenodd).items():
            row = img[r]
            for x, c in enumerate(line):
                if c <= 0.0:
                    continue
                a = c * alpha
                px = row[x]
                da = px[3]
                oa = a + da * (1 - a)
                if oa <= 0:
                    continue
                k = da * (1 - a)
                px[0] = (rgb[0] * a + px[0] * k) / oa
                px[1] = (rgb[1] * a + px[1] * k) / oa
                px[2] = (rgb[2] * a + px[2] * k) / oa
                px[3] = oa
    out = []
    for row in img:
        line = bytearray()
        for r_, g_, b_, a_ in row:
            a8 = int(round(a_ * 255))
            if a8 == 0:
                line += b"\0\0\0\0"
            else:
                line += bytes((int(round(r_)), int(round(g_)), int(round(b_)), a8))
        out.append(bytes(line))
    return out


# ---------------------------------------------------------------------------------------------
# PNG


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def filter_rows(rows, bpp=4):
    """Each row with the PNG filter whose output has the smallest sum of absolute values."""
    out = bytearray()
    prev = bytes(len(rows[0]))
    for row in rows:
        n = len(row)
        candidates = [
            (0, row),
            (1, bytes((row[i] - (row[i - bpp] if i >= bpp else 0)) & 0xFF for i in range(n))),
            (2, bytes((row[i] - prev[i]) & 0xFF for i in range(n))),
            (3, bytes((row[i] - (((row[i - bpp] if i >= bpp else 0) + prev[i]) >> 1)) & 0xFF
                      for i in range(n))),
            (4, bytes((row[i] - paeth(row[i - bpp] if i >= bpp else 0, prev[i],
                                      prev[i - bpp] if i >= bpp else 0)) & 0xFF
                      for i in range(n))),
        ]
        kind, data = min(candidates, key=lambda kd: sum(v if v < 128 else 256 - v for v in kd[1]))
        out.append(kind)
        out += data
        prev = row
    return bytes(out)


def write_png(path, rows):
    height, width = len(rows), len(rows[0]) // 4

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    png = b"\x89PNG\r\n\x1a\n"
    png += chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(filter_rows(rows), 9))
    png += chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(here)
    svg = argv[1] if len(argv) > 1 else os.path.join(repo, "icons", "kiln.svg")
    outdir = argv[2] if len(argv) > 2 else os.path.dirname(os.path.abspath(svg))
    sizes = [int(s) for s in argv[3:]] or list(SIZES)
    stem = os.path.splitext(os.path.basename(svg))[0]
    for size in sizes:
        path = os.path.join(outdir, f"{stem}-{size}.png")
        write_png(path, render(svg, size))
        print(f"{os.path.relpath(path)}: {size}x{size}, {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main(sys.argv)
