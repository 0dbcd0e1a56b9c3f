"""The review page's fixed style sheet and script (`ssimcli.reports.review_page` writes the markup).

The script never builds markup from strings: it only moves existing elements, sets ``data-``
attributes, classes and inline sizes. The page's Content-Security-Policy allows exactly this
script (by its SHA-256), so nothing that slipped into the markup could run.
"""

from __future__ import annotations

import base64
import hashlib

CSS = """
:root{--ok:#17773a;--bad:#b3261e;--new:#8a5a00;--line:#d8d8d8;--muted:#5b5b5b;--box:#ff1f8f}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d1d1d;
 background:#f4f4f2}
header.run{background:#fff;border-bottom:1px solid var(--line);padding:14px 24px}
main{padding:8px 24px 40px}
h1{margin:0 0 6px;font-size:22px}.verdict-pass{color:var(--ok)}.verdict-fail{color:var(--bad)}
h2{font-size:17px;margin:22px 0 8px}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
.name{word-break:break-all}
.ctl{color:#a0007a;background:#fde7f6;border-radius:2px;padding:0 1px}
.settings{display:grid;grid-template-columns:repeat(auto-fit,minmax(290px,1fr));gap:4px 24px;
 margin:8px 0}
.settings dl{margin:0;display:grid;grid-template-columns:max-content 1fr;gap:1px 10px;
 align-content:start}
.settings dt{color:var(--muted)}.settings dd{margin:0;word-break:break-all}
.counts{display:flex;flex-wrap:wrap;gap:6px;margin:8px 0 2px;padding:0;list-style:none}
.counts li{border:1px solid var(--line);border-radius:12px;padding:1px 10px;background:#fafafa}
.counts .n{font-weight:700}
.legends{display:flex;flex-wrap:wrap;gap:10px 36px;align-items:flex-start;margin-top:8px}
.legend{font-size:12px;color:var(--muted)}
.legend .bar{width:260px;height:12px;border:1px solid #777}
.legend .ticks{position:relative;width:260px;height:16px}
.legend .ticks span{position:absolute;transform:translateX(-50%);top:1px}
.legend .ticks span:first-child{transform:none}.legend .ticks span:last-child{transform:translateX(-100%)}
.swatch{display:inline-block;width:12px;height:12px;border:1px solid #777;vertical-align:-2px;
 margin:0 3px 0 10px}
.swatch.box{border:2px solid var(--box);background:transparent}
.toolbar{display:flex;flex-wrap:wrap;gap:6px;align-items:center;margin:10px 0}
button{font:inherit;font-size:13px;border:1px solid #aaa;background:#fff;border-radius:4px;
 padding:2px 10px;cursor:pointer}
button:hover{background:#eef}button[aria-pressed=true]{background:#1d1d1d;color:#fff;border-color:#1d1d1d}
table{border-collapse:collapse;background:#fff}
th,td{border:1px solid var(--line);padding:3px 8px;text-align:left;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
th.sortable{cursor:pointer;user-select:none;background:#eef}th.sortable:hover{background:#dde}
.st{font-weight:700;white-space:nowrap}
.st-pass{color:var(--ok)}.st-fail,.st-error,.st-missing,.st-size{color:var(--bad)}
.st-new{color:var(--new)}.st-accepted{color:var(--muted)}
.bad{color:var(--bad)}
details.results{margin:10px 0}details.results summary{cursor:pointer;font-weight:600}
#cards{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}
.card{background:#fff;border:1px solid var(--line);border-left:6px solid var(--ok);
 padding:10px 14px;width:100%}
.card.k-fail,.card.k-error,.card.k-missing{border-left-color:var(--bad)}
.card.k-new{border-left-color:#e0a800}
.card.k-pass{width:272px;padding:8px 10px}
.card.k-pass h3{font-size:13px}
.card h3{font-size:16px;margin:0 0 4px;word-break:break-all}
.card .why{margin:2px 0 6px}
.card .paths{color:var(--muted);font-size:12px;margin:0 0 4px;word-break:break-all}
body.hide-pass .card.k-pass,body.hide-pass tr.k-pass{display:none}
.views{overflow:auto;max-height:none}
.card.actual .views{max-height:85vh}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,460px),1fr));gap:14px 18px}
.card.actual .grid{grid-template-columns:max-content}
figure{margin:0;padding:4px}
figcaption{color:var(--muted);font-size:12px;margin-top:3px}
figcaption a{color:inherit}
.frame{position:relative;line-height:0;width:100%;max-width:var(--w);outline:1px solid #ccc}
.card.actual .frame,.card.actual .stage{width:var(--w);max-width:none}
.frame img,.stage img{display:block;width:100%;height:auto;image-rendering:auto}
.card.actual .frame img,.card.actual .stage img{image-rendering:pixelated}
.region{position:absolute;outline:2px solid var(--box);outline-offset:0;pointer-events:none;
 box-shadow:0 0 0 4px rgba(255,255,255,.7)}
.compare{display:none;padding:6px 4px}
.card[data-view=slider] .compare,.card[data-view=flip] .compare{display:block}
.card[data-view=slider] .grid,.card[data-view=flip] .grid{display:none}
.stage{position:relative;line-height:0;width:100%;max-width:var(--w);outline:1px solid #ccc;
 user-select:none}
.stage img.over{position:absolute;left:0;top:0}
.stage .split{position:absolute;top:0;bottom:0;width:0;border-left:2px solid #fff;
 box-shadow:0 0 0 1px #000;pointer-events:none}
.card[data-view=flip] .split,.card[data-view=slider] .flip-only{display:none}
.card[data-view=flip] .slide-only{display:none}
.compare input[type=range]{width:100%;max-width:var(--w);margin:6px 0 0}
.compare .which{font-weight:600}
.thumb{display:block;max-width:100%;height:auto;outline:1px solid #ccc}
.checks{margin-top:8px;font-size:13px}
.note{color:var(--muted)}
"""

JS = """
(function(){
  'use strict';
  function key(el, by){
    var d = el.dataset;
    if (by === 'name') return [d.name || ''];
    if (by === 'score') return [parseFloat(d.score)];
    if (by === 'score-desc') return [-parseFloat(d.score)];
    return [parseInt(d.rank, 10), parseFloat(d.score)];
  }
  function cmp(a, b){
    for (var i = 0; i < a.length; i++){
      if (a[i] < b[i]) return -1; if (a[i] > b[i]) return 1;
    }
    return 0;
  }
  function sortAll(by){
    ['results-body', 'cards'].forEach(function(id){
      var box = document.getElementById(id); if (!box) return;
      var items = Array.prototype.slice.call(box.children);
      items.sort(function(a, b){
        var r = cmp(key(a, by), key(b, by));
        return r !== 0 ? r : parseInt(a.dataset.order, 10) - parseInt(b.dataset.order, 10);
      });
      items.forEach(function(el){ box.appendChild(el); });
    });
    document.body.dataset.sorted = by;
  }
  document.querySelectorAll('[data-sort]').forEach(function(el){
    el.addEventListener('click', function(){
      var by = el.dataset.sort;
      if (by === 'score' && document.body.dataset.sorted === 'score') by = 'score-desc';
      sortAll(by);
    });
  });
  var hide = document.getElementById('hide-pass');
  if (hide) hide.addEventListener('click', function(){
    var on = document.body.classList.toggle('hide-pass');
    hide.setAttribute('aria-pressed', on ? 'true' : 'false');
  });

  function press(card, attr, value){
    card.querySelectorAll('[' + attr + ']').forEach(function(b){
      b.setAttribute('aria-pressed', b.getAttribute(attr) === value ? 'true' : 'false');
    });
  }
  function showSide(card, candidate){
    var over = card.querySelector('.stage img.over');
    var which = card.querySelector('.compare .which');
    if (!over) return;
    card.dataset.showing = candidate ? 'candidate' : 'baseline';
    over.style.visibility = candidate ? 'visible' : 'hidden';
    if (which) which.textContent = candidate ? 'candidate' : 'baseline';
  }
  function slide(card, percent){
    var over = card.querySelector('.stage img.over');
    var split = card.querySelector('.stage .split');
    if (!over) return;
    over.style.visibility = 'visible';
    over.style.clipPath = 'inset(0 0 0 ' + percent + '%)';
    if (split) split.style.left = percent + '%';
  }
  function setView(card, view){
    card.dataset.view = view;
    press(card, 'data-view-button', view);
    stopBlink(card);
    var range = card.querySelector('.compare input[type=range]');
    if (view === 'slider') slide(card, range ? range.value : 50);
    if (view === 'flip'){
      var over = card.querySelector('.stage img.over');
      if (over) over.style.clipPath = 'none';
      showSide(card, card.dataset.showing !== 'baseline');
    }
  }
  var timers = new WeakMap();
  function stopBlink(card){
    var t = timers.get(card); if (t){ clearInterval(t); timers.delete(card); }
    var box = card.querySelector('input.blink'); if (box) box.checked = false;
  }
  document.querySelectorAll('.card').forEach(function(card){
    card.querySelectorAll('[data-view-button]').forEach(function(b){
      b.addEventListener('click', function(){ setView(card, b.getAttribute('data-view-button')); });
    });
    var range = card.querySelector('.compare input[type=range]');
    if (range) range.addEventListener('input', function(){ slide(card, range.value); });
    var flip = card.querySelector('button.flip');
    function toggle(){ showSide(card, card.dataset.showing === 'baseline'); }
    if (flip) flip.addEventListener('click', toggle);
    var stage = card.querySelector('.stage');
    if (stage) stage.addEventListener('click', function(){
      if (card.dataset.view === 'flip') toggle();
    });
    var blink = card.querySelector('input.blink');
    if (blink) blink.addEventListener('change', function(){
      if (blink.checked){ timers.set(card, setInterval(toggle, 600)); }
      else { var t = timers.get(card); if (t) clearInterval(t); timers.delete(card); }
    });
    var zoom = card.querySelector('button.zoom');
    if (zoom) zoom.addEventListener('click', function(){
      var on = card.classList.toggle('actual');
      zoom.setAttribute('aria-pressed', on ? 'true' : 'false');
    });
  });
  // A link may ask for an order: report.html#sort=score (or name, score-desc, failures).
  function sortFromHash(){
    var wanted = /[#&]sort=([a-z-]+)/.exec(window.location.hash);
    sortAll(wanted ? wanted[1] : 'failures');
  }
  window.addEventListener('hashchange', sortFromHash);
  sortFromHash();
  document.body.dataset.ready = '1';
})();
"""


def script_hash(script: str = JS) -> str:
    """The CSP source that allows exactly ``script`` inline: ``'sha256-...'``."""
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"
