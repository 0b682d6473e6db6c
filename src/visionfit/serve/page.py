"""The page at `/`: one self-contained HTML document (inline CSS and JS, no external resources).

Choose or drop an image; it is posted to /predict and the answer drawn: the top classes with
probability bars, the predicted mask over the image with its RLE, or a predicted value.
"""

from __future__ import annotations

import html
import json

_CSS = """
*{box-sizing:border-box}[hidden]{display:none!important}
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;
margin:0;background:#f6f7f9;color:#1d2330}header{background:#1d2330;color:#fff;padding:14px 24px}
header h1{margin:0;font-size:20px}header p{margin:4px 0 0;color:#c9d1e0;font-size:13px}
main{max-width:980px;margin:0 auto;padding:16px 24px;display:grid;gap:16px;
grid-template-columns:minmax(280px,1fr) minmax(280px,1fr)}
.card{background:#fff;border:1px solid #dde1e8;border-radius:6px;padding:14px 16px}
#drop{border:2px dashed #9aa4b5;border-radius:6px;padding:26px 10px;text-align:center;
cursor:pointer}
#drop.over{background:#eef3ff;border-color:#2456c8}
#view{position:relative;margin-top:12px;display:none}#view img{width:100%;display:block;
image-rendering:pixelated;border-radius:4px}#overlay{position:absolute;left:0;top:0;width:100%}
.bar{display:grid;grid-template-columns:9em 1fr 4.2em;gap:8px;align-items:center;margin:5px 0}
.bar .track{background:#eceef2;border-radius:3px;height:16px}
.bar .fill{background:#2456c8;height:16px;border-radius:3px}.bar.top .fill{background:#1a8f4c}
.bar .name{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}.num{text-align:right;
font-variant-numeric:tabular-nums}#pred{font-size:22px;font-weight:650;margin:4px 0 10px}
#status{color:#667085;min-height:1.4em}#status.err{color:#b42318;font-weight:600}
textarea{width:100%;height:7em;font:12px monospace}table{font-size:13px;border-collapse:collapse}
td,th{padding:2px 8px;text-align:left;border-bottom:1px solid #eceef2}
@media (max-width:700px){main{grid-template-columns:1fr}}
"""

_JS = """
const INFO = JSON.parse(document.getElementById('info').textContent);
const $ = (id) => document.getElementById(id);
const input = $('file'), drop = $('drop');
drop.addEventListener('click', () => input.click());
drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault(); drop.classList.remove('over');
  if (e.dataTransfer.files.length) send(e.dataTransfer.files[0]);
});
input.addEventListener('change', () => { if (input.files.length) send(input.files[0]); });
$('showmask').addEventListener('change', (e) => { $('overlay').hidden = !e.target.checked; });

function status(text, err) { const s = $('status'); s.textContent = text;
  s.className = err ? 'err' : ''; }

async function send(file) {
  $('result').hidden = true; $('pred').textContent = ''; $('bars').innerHTML = '';
  $('overlay').hidden = true;
  $('preview').src = URL.createObjectURL(file); $('view').style.display = 'block';
  status('predicting ' + file.name + ' ...', false);
  const body = new FormData(); body.append('file', file);
  let res, data;
  try { res = await fetch('predict', {method: 'POST', body});
        data = await res.json(); }
  catch (e) { status('request failed: ' + e, true); return; }
  if (!res.ok) { status(res.status + ': ' + (data.detail && typeof data.detail === 'string'
      ? data.detail : JSON.stringify(data.detail)), true); return; }
  status(file.name + ' (' + data.size[0] + ' x ' + data.size[1] + ' px)', false);
  $('result').hidden = false;
  // the task's JSON says what it is: a mask to draw over the image, or classes to list
  if (data.view === 'mask') showMask(data);
  else if (data.view === 'value') showValue(data);
  else showClasses(data);
}

function showValue(data) {  // a number (regression): the target's name and the prediction
  $('pred').textContent = data.target + ' = ' + Number(data.prediction).toPrecision(4);
  $('seg').hidden = true;
}

function showClasses(data) {
  $('pred').textContent = data.pred || '(no label above its threshold)';
  const bars = $('bars');
  data.top.forEach((t, i) => {
    const row = document.createElement('div'); row.className = 'bar' + (i === 0 ? ' top' : '');
    const name = document.createElement('span'); name.className = 'name';
    name.textContent = t.class; name.title = t.class;
    const track = document.createElement('span'); track.className = 'track';
    const fill = document.createElement('span'); fill.className = 'fill';
    fill.style.display = 'block'; fill.style.width = (100 * t.prob).toFixed(1) + '%';
    track.appendChild(fill);
    const num = document.createElement('span'); num.className = 'num';
    num.textContent = (100 * t.prob).toFixed(1) + '%';
    row.append(name, track, num); bars.appendChild(row);
  });
  $('seg').hidden = true;
}

function showMask(data) {
  $('pred').textContent = (100 * data.foreground_share).toFixed(1) + '% of pixels foreground';
  const ov = $('overlay'); ov.src = 'data:image/png;base64,' + data.overlay_png;
  ov.hidden = !$('showmask').checked;
  $('rle').value = data.rle || '(empty mask)';
  $('maskpng').href = 'data:image/png;base64,' + data.mask_png;
  $('seg').hidden = false;
}
"""


def render_page(info: dict) -> str:
    """The page for one model; `info` is what GET /model returns."""
    esc = html.escape
    size = info.get("img_size")
    chans = info.get("in_chans", 3)
    rows = {
        "run": info.get("run"),
        "task": info.get("task"),
        "model": info.get("model"),
        "input": f"{size} x {size} px, {chans} channel(s)" if size else f"{chans} channel(s)",
        "classes": ", ".join(info.get("classes") or []),
    }
    if info.get("members"):
        rows["ensemble"] = f"{len(info['members'])} fold models, probabilities averaged"
    table = "".join(f"<tr><th>{esc(k)}</th><td>{esc(str(v))}</td></tr>" for k, v in rows.items())
    limit_mb = info.get("max_upload_bytes", 0) / (1 << 20)
    # The JSON sits in a non-executed script tag; "</" is escaped so no value can close it.
    data = json.dumps(info).replace("</", "<\\/")
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>visionfit: {esc(str(info.get("run")))}</title><style>{_CSS}</style></head><body>
<header><h1>visionfit · {esc(str(info.get("model")))}</h1>
<p>{esc(str(info.get("run")))} · {esc(str(info.get("task")))}</p></header>
<main>
<div class="card"><div id="drop">Drop an image here, or <u>choose a file</u>
<input id="file" type="file" accept="image/*" hidden></div>
<p class="num" style="text-align:left;color:#667085;font-size:12px">up to {limit_mb:.0f} MB,
{int(info.get("max_pixels") or 0):,} pixels</p>
<div id="view"><img id="preview" alt="the uploaded image"><img id="overlay" alt="predicted mask"
hidden></div></div>
<div class="card"><div id="status">No image yet.</div>
<div id="result" hidden><div id="pred"></div><div id="bars"></div>
<div id="seg" hidden><label><input id="showmask" type="checkbox" checked> show the predicted
mask (tinted) over the image</label>
<p>RLE of the mask (<a id="maskpng" download="mask.png">mask PNG</a>):</p>
<textarea id="rle" readonly></textarea></div></div>
<h3>Model</h3><table>{table}</table>
<p style="font-size:12px"><a href="docs">API docs</a> · <a href="model">/model</a> ·
<a href="health">/health</a></p></div>
</main>
<script id="info" type="application/json">{data}</script>
<script>{_JS}</script></body></html>"""
