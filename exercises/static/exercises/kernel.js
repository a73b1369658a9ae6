// Live preview of the student's kernel: the same valid cross-correlation Keras' Conv2D
// computes, drawn with the target image's grey scale so the two pictures compare directly.
(function () {
  "use strict";

  function parseCoef(text) {
    text = (text || "").trim().replace(",", ".");
    if (text === "") return 0;
    var frac = text.match(/^(-?\d+(?:\.\d+)?)\s*\/\s*(\d+(?:\.\d+)?)$/);
    if (frac) return parseFloat(frac[1]) / parseFloat(frac[2]);
    if (!/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(text)) return NaN;
    return parseFloat(text);
  }

  function correlate(img, k) {
    var h = img.length - 2, w = img[0].length - 2, out = [];
    for (var y = 0; y < h; y++) {
      var row = [];
      for (var x = 0; x < w; x++) {
        var s = 0;
        for (var i = 0; i < 3; i++) for (var j = 0; j < 3; j++) s += img[y + i][x + j] * k[i * 3 + j];
        row.push(s);
      }
      out.push(row);
    }
    return out;
  }

  function range(arr) {
    var lo = Infinity, hi = -Infinity;
    arr.forEach(function (r) { r.forEach(function (v) { if (v < lo) lo = v; if (v > hi) hi = v; }); });
    if (hi - lo < 1e-9) { hi = lo + 1; }
    return [lo, hi];
  }

  function draw(canvas, arr, lohi) {
    var h = arr.length, w = arr[0].length, ctx = canvas.getContext("2d");
    var data = ctx.createImageData(w, h);
    for (var y = 0; y < h; y++) for (var x = 0; x < w; x++) {
      var v = Math.round(255 * (arr[y][x] - lohi[0]) / (lohi[1] - lohi[0]));
      v = Math.max(0, Math.min(255, v));
      var p = (y * w + x) * 4;
      data.data[p] = data.data[p + 1] = data.data[p + 2] = v; data.data[p + 3] = 255;
    }
    ctx.putImageData(data, 0, 0);
  }

  function init() {
    var input = document.getElementById("kernel-input");
    var target = document.getElementById("kernel-target");
    var preview = document.getElementById("kernel-preview");
    if (!input || !target || !preview || preview.dataset.ready) return;
    preview.dataset.ready = "1";
    var img = JSON.parse(input.dataset.array), out = JSON.parse(target.dataset.array);
    draw(input, img, [0, 255]);
    var scale = range(out);
    draw(target, out, scale);
    var coefs = Array.prototype.slice.call(document.querySelectorAll(".kernel-coef"));
    var message = document.getElementById("kernel-preview-error");
    function update() {
      var k = coefs.map(function (el) { return parseCoef(el.value); });
      var bad = k.findIndex(function (v) { return !isFinite(v); });
      if (bad >= 0) { message.textContent = "k" + bad + ": ?"; return; }
      message.textContent = "";
      draw(preview, correlate(img, k), scale);
      preview.dataset.kernel = JSON.stringify(k);
    }
    coefs.forEach(function (el) { el.addEventListener("input", update); });
    update();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
  document.addEventListener("htmx:afterSettle", init);
})();
