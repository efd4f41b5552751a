"""HTML rendering: one self-contained page (inline CSS, inline SVG charts, no external asset)."""

from __future__ import annotations

from html import escape

from meters.reports import fmt
from meters.reports.charts import label_indices, nice_max, short_label, tick_label, ticks
from meters.reports.compose import compose
from meters.reports.document import BarChart, Block, Document, Figures, Paragraph, Table
from meters.reports.model import Report

_CSS = """
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:#1d2a24;background:#f4f6f3}main{max-width:1160px;margin:0 auto;padding:28px 32px;background:#fff}
h1{font-size:24px;margin:0 0 6px;color:#12452f}h2{font-size:18px;margin:34px 0 10px;padding-bottom:4px;
border-bottom:2px solid #2e7d57;color:#12452f}.meta{display:flex;flex-wrap:wrap;gap:4px 22px;color:#4b5a53;
font-size:13px;margin-bottom:14px}.meta b{color:#1d2a24;font-weight:600}.cards{display:grid;
grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:10px;margin:12px 0}.card{border:1px solid #d5e2da;
border-radius:6px;padding:10px 12px;background:#f7fbf8}.card .k{font-size:12px;color:#4b5a53;text-transform:uppercase;
letter-spacing:.03em}.card .v{font-size:19px;font-weight:650;margin:2px 0}.card .d{font-size:12px;color:#4b5a53}
p{margin:8px 0}p.note{color:#4b5a53;font-size:13px}ul{margin:6px 0 6px 20px;padding:0}li{margin:3px 0}
.tw{overflow-x:auto;margin:10px 0 16px}table{border-collapse:collapse;width:100%;font-size:12px}
caption{text-align:left;font-weight:600;padding:4px 0 6px;font-size:13px}th{background:#e4efe8;text-align:left;
padding:5px 6px;border-bottom:1px solid #b9cfc2;vertical-align:bottom}td{padding:4px 6px;border-bottom:1px solid #e6ece8;
vertical-align:top}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tbody tr:nth-child(even){background:#fafcfb}.tnote{font-size:12px;color:#4b5a53;margin-top:4px}
figure{margin:14px 0}figcaption{font-weight:600;font-size:13px;margin-bottom:4px}svg text{font:11px system-ui,sans-serif;
fill:#33413a}@media print{body{background:#fff}main{padding:0}thead{display:table-header-group}tr{break-inside:avoid}
h2{break-after:avoid}}
"""

_BAR = "#2e7d57"


def _svg_horizontal(chart: BarChart) -> str:
    width, label_w, row_h = 1000, 260, 22
    top = nice_max(max((value for _, value in chart.bars), default=0.0))
    plot_w = width - label_w - 90
    height = row_h * len(chart.bars) + 30
    parts = [
        f'<svg viewBox="0 0 {width} {height}" width="100%" role="img" aria-label="{escape(chart.title)}">'
    ]
    for tick in ticks(top):
        x = label_w + plot_w * tick / top
        parts.append(f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height - 22}" stroke="#e1e8e3"/>')
        parts.append(
            f'<text x="{x:.1f}" y="{height - 6}" text-anchor="middle">{escape(tick_label(tick, top))}</text>'
        )
    for index, (label, value) in enumerate(chart.bars):
        y = index * row_h + 4
        w = max(plot_w * value / top, 0.0)
        parts.append(f'<text x="{label_w - 8}" y="{y + 13}" text-anchor="end">{escape(label)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{row_h - 7}" fill="{_BAR}"/>')
        parts.append(f'<text x="{label_w + w + 6:.1f}" y="{y + 13}">{escape(fmt.number(value))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _svg_vertical(chart: BarChart) -> str:
    width, height, left, bottom = 1000, 240, 70, 34
    plot_w, plot_h = width - left - 10, height - bottom - 10
    top = nice_max(max((value for _, value in chart.bars), default=0.0))
    parts = [
        f'<svg viewBox="0 0 {width} {height}" width="100%" role="img" aria-label="{escape(chart.title)}">'
    ]
    for tick in ticks(top):
        y = 10 + plot_h * (1 - tick / top)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" stroke="#e1e8e3"/>')
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(tick_label(tick, top))}</text>'
        )
    count = max(len(chart.bars), 1)
    slot = plot_w / count
    for index, (_, value) in enumerate(chart.bars):
        h = plot_h * value / top
        x = left + index * slot + slot * 0.1
        parts.append(
            f'<rect x="{x:.2f}" y="{10 + plot_h - h:.2f}" width="{max(slot * 0.8, 0.5):.2f}" '
            f'height="{h:.2f}" fill="{_BAR}"/>'
        )
    labels = [label for label, _ in chart.bars]
    for index in label_indices(labels):
        x = left + index * slot + slot / 2
        parts.append(
            f'<text x="{x:.1f}" y="{height - 14}" text-anchor="middle">'
            f"{escape(short_label(labels[index]))}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _table(table: Table) -> str:
    head = "".join(f'<th class="{"n" if c.numeric else ""}">{escape(c.title)}</th>' for c in table.columns)
    numeric = [c.numeric for c in table.columns]
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{escape(cell)}</td>' if numeric[i] else f"<td>{escape(cell)}</td>"
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in table.rows
    )
    caption = f"<caption>{escape(table.caption)}</caption>" if table.caption else ""
    note = f'<div class="tnote">{escape(table.note)}</div>' if table.note else ""
    if not table.rows:
        body = f'<tr><td colspan="{len(table.columns)}">none</td></tr>'
    return f'<div class="tw"><table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}</div>'


def _block(block: Block, bullets: list[str]) -> str:
    if isinstance(block, Paragraph) and block.kind == "bullet":
        bullets.append(f"<li>{escape(block.text)}</li>")
        return ""
    flushed = f"<ul>{''.join(bullets)}</ul>" if bullets else ""
    bullets.clear()
    if isinstance(block, Paragraph):
        css = ' class="note"' if block.kind == "note" else ""
        return flushed + f"<p{css}>{escape(block.text)}</p>"
    if isinstance(block, Table):
        return flushed + _table(block)
    if isinstance(block, Figures):
        cards = "".join(
            f'<div class="card"><div class="k">{escape(k)}</div><div class="v">{escape(v)}</div>'
            f'<div class="d">{escape(d)}</div></div>'
            for k, v, d in block.items
        )
        return flushed + f'<div class="cards">{cards}</div>'
    svg = _svg_horizontal(block) if block.horizontal else _svg_vertical(block)
    title = f"{block.title} ({block.unit})"
    return flushed + f"<figure><figcaption>{escape(title)}</figcaption>{svg}</figure>"


def document_html(document: Document) -> str:
    out = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>{escape(document.title)}</title><style>{_CSS}</style></head><body><main>",
        f"<h1>{escape(document.title)}</h1>",
        '<div class="meta">'
        + "".join(f"<span>{escape(k)}: <b>{escape(v)}</b></span>" for k, v in document.meta)
        + "</div>",
    ]
    for section in document.sections:
        out.append(f"<section><h2>{escape(section.title)}</h2>")
        bullets: list[str] = []
        for block in section.blocks:
            out.append(_block(block, bullets))
        if bullets:
            out.append(f"<ul>{''.join(bullets)}</ul>")
        out.append("</section>")
    out.append("</main></body></html>")
    return "".join(out)


def render_html(report: Report) -> bytes:
    return document_html(compose(report)).encode("utf-8")
