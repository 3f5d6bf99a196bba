"""The share image of a reveal, drawn in the browser (no server round trip, no file kept).

After the vote the server puts the image's data in a hidden field (made by
:func:`arena.ui.reveal.share_data`: names, verdict, the cards' key numbers, and under
``private`` the prompt and short excerpts). The 「結果をシェア」 button runs
:data:`SHARE_JS`: it draws a 1200x630 PNG on a canvas in the page's font (Noto Sans CJK
for Japanese), leaving ``private`` out unless the volunteer ticked the box, then offers it
to the Web Share API where the browser can share files, else downloads it; a preview is
shown under the button. What was drawn is kept in ``window.__taShare`` (its lines), so a
test can check that the prompt is absent unless opted in.
"""

from __future__ import annotations

import json


def share_js(row_id: str) -> str:
    """JS of the share button; the preview goes after the element ``row_id`` (the share
    row of the tab). Inputs: the share data (JSON) and the opt-in checkbox."""
    return SHARE_JS.replace("ROW_ID", json.dumps(row_id))


SHARE_JS = """async (raw, withPrompt) => {
  let data;
  try { data = JSON.parse(raw || ""); } catch (e) { return []; }
  if (!data || !data.sides) return [];
  const W = 1200, H = 630, PAD = 48;
  const canvas = document.createElement("canvas");
  canvas.width = W; canvas.height = H;
  const g = canvas.getContext("2d");
  const FONT = '"Noto Sans CJK JP", "Noto Sans JP", "Hiragino Sans", "Yu Gothic", sans-serif';
  const lines = [];
  const font = (px, bold) => { g.font = `${bold ? "700" : "400"} ${px}px ${FONT}`; };
  // Wrap between characters of Japanese and between Latin words (a word longer than a
  // line is cut); at most `max` lines, the last ending in "…".
  const wrap = (text, width, max) => {
    const out = []; let cur = "";
    const pieces = text.match(/[!-~]+|\\s+|[^]/gu) || [];
    for (const piece of pieces) {
      if (g.measureText(cur + piece).width <= width) { cur += piece; continue; }
      if (cur.trim()) out.push(cur.trimEnd());
      cur = "";
      for (const ch of Array.from(piece.trimStart())) {
        if (g.measureText(cur + ch).width > width && cur) { out.push(cur); cur = ch; }
        else cur += ch;
      }
    }
    if (cur) out.push(cur);
    if (out.length > max) { out.length = max; out[max - 1] = out[max - 1].slice(0, -1) + "…"; }
    return out;
  };
  const write = (text, x, y, width, px, color, bold = false, max = 1) => {
    font(px, bold); g.fillStyle = color;
    for (const line of wrap(text, width, max)) {
      g.fillText(line, x, y); lines.push(line); y += Math.round(px * 1.35);
    }
    return y;
  };
  g.fillStyle = "#ffffff"; g.fillRect(0, 0, W, H);
  g.fillStyle = "#1f2937"; g.fillRect(0, 0, W, 84);
  g.textBaseline = "top";
  write(data.title, PAD, 22, W - 2 * PAD, 34, "#ffffff", true);
  let y = write(data.verdict, PAD, 104, W - 2 * PAD, 30, "#111827", true);
  const colW = (W - 3 * PAD) / 2, top = y + 16;
  const COLORS = { a: ["#1d4ed8", "#eff6ff"], b: ["#c2410c", "#fff7ed"] };
  const priv = withPrompt && data.private ? data.private : null;
  const boxH = priv ? 280 : 380;
  data.sides.forEach((s, k) => {
    const x = PAD + k * (colW + PAD);
    const [ink, bg] = COLORS[s.side] || COLORS.a;
    g.fillStyle = bg; g.fillRect(x, top, colW, boxH);
    g.strokeStyle = ink; g.lineWidth = s.chosen ? 6 : 2; g.strokeRect(x, top, colW, boxH);
    let yy = write(s.label + (s.chosen ? "  ★ " + data.chosen : ""), x + 20, top + 16,
                   colW - 40, 24, ink, true);
    yy = write(s.name, x + 20, yy + 4, colW - 40, 32, "#111827", true, 2);
    for (const fact of s.facts) {
      yy = write(fact, x + 20, yy + 6, colW - 40, 21, "#374151", false, 2);
    }
    if (priv && priv.answers && priv.answers[s.side]) {
      write("“" + priv.answers[s.side] + "”", x + 20, top + boxH + 12, colW - 40, 19,
            "#4b5563", false, 2);
    }
  });
  if (priv && priv.prompt) {
    write(priv.prompt_label + priv.prompt, PAD, H - 104, W - 2 * PAD, 22, "#111827",
          true, 2);
  }
  font(18, false); g.fillStyle = "#6b7280";
  g.fillText(location.host, PAD, H - 34);
  const blob = await new Promise((r) => canvas.toBlob(r, "image/png"));
  const url = canvas.toDataURL("image/png");
  window.__taShare = { lines, width: W, height: H, withPrompt: !!priv, size: blob.size };
  const row = document.getElementById(ROW_ID) || document.body;
  for (const old of document.querySelectorAll(".ta-share-preview")) old.remove();
  const img = document.createElement("img");
  img.className = "ta-share-preview"; img.id = "arena-share-image";
  img.alt = data.title; img.src = url;
  row.after(img);
  const file = new File([blob], "tanuki-arena-result.png", { type: "image/png" });
  if (navigator.canShare && navigator.canShare({ files: [file] })) {
    try { await navigator.share({ files: [file], title: data.title }); return []; }
    catch (e) { /* dismissed: the download below still works */ }
  }
  const a = document.createElement("a");
  a.href = url; a.download = file.name;
  document.body.appendChild(a); a.click(); a.remove();
  return [];
}"""

#: JS run when a battle is left: the share preview goes with it.
UNSHARE_JS = """() => {
  for (const el of document.querySelectorAll(".ta-share-preview")) el.remove();
  window.__taShare = null;
  return [];
}"""

#: CSS of the preview under the share button.
SHARE_CSS = """
.ta-share-preview { display: block; max-width: min(600px, 100%); height: auto; margin: 8px 0;
  border: 1px solid var(--border-color-primary); border-radius: 8px; }
"""
