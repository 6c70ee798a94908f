/* The latent-space explorer of chapter 10 (Fig. 4 of Kingma & Welling, App. A), hand-written, no dependencies.

   Jupyter Book adds every script of _static/ to every page; this one acts only where the page holds an element
   <div data-aevb-explorer="NAME"> with its data (aevb/book/explorer.py writes them): the trained decoder's
   weights (float16 or float32, base64), the test encodings (and MNIST's labels), the Fig. 4 grid. For each it
   draws the latent plane with the encodings scattered over it, the decoder's mean image p(x|z) at the current
   point, and an interpolation strip between two points A and B, in plain canvas.

   The decoder (App. C): h = tanh(W0 z + b0), ..., mean = sigmoid(WL h + bL), computed in float64 from the stored
   weights. Contract (tests/test_browser.py): window.aevbExplorer.decode(name, [z1, z2]) returns the mean image
   as an array of D numbers in [0, 1], row-major. */
(function () {
  "use strict";

  var TAB10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
               "#bcbd22", "#17becf"];
  var STRIP = 10;           // images in the interpolation strip, A and B included
  var PLAY_MS = 2500;       // one walk from A to B
  var models = {};          // name -> decoder, from the page's data

  function bytesOf(b64) {
    var bin = atob(b64), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  function half(h) {  // IEEE 754 binary16 -> number
    var s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, f = h & 0x3ff;
    if (e === 0) return s * f * Math.pow(2, -24);
    if (e === 31) return f ? NaN : s * Infinity;
    return s * (1 + f / 1024) * Math.pow(2, e - 15);
  }

  function floats(b64, dtype) {  // little-endian float16 / float32 -> Float64Array
    var bytes = bytesOf(b64), view = new DataView(bytes.buffer), n, out, i;
    if (dtype === "float16") {
      n = bytes.length / 2; out = new Float64Array(n);
      for (i = 0; i < n; i++) out[i] = half(view.getUint16(2 * i, true));
    } else {
      n = bytes.length / 4; out = new Float64Array(n);
      for (i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
    }
    return out;
  }

  function model(data) {
    var layers = data.layers.map(function (l) {
      return {rows: l.rows, cols: l.cols, w: floats(l.weight, data.dtype), b: floats(l.bias, data.dtype)};
    });
    var width = Math.max.apply(null, layers.map(function (l) { return l.rows; }));
    return {data: data, layers: layers, d: layers[layers.length - 1].rows,
            buffers: [new Float64Array(width), new Float64Array(width)],
            encodings: floats(data.encodings, "float32"),
            labels: data.labels ? bytesOf(data.labels) : null};
  }

  function decodeInto(m, z1, z2, out) {  // out: Float64Array(D), the decoder's mean at z = (z1, z2)
    var x = [z1, z2], L = m.layers.length;
    for (var l = 0; l < L; l++) {
      var layer = m.layers[l], w = layer.w, b = layer.b, rows = layer.rows, cols = layer.cols;
      var y = l === L - 1 ? out : m.buffers[l % 2];
      for (var r = 0; r < rows; r++) {
        var s = b[r], o = r * cols;
        for (var c = 0; c < cols; c++) s += w[o + c] * x[c];
        y[r] = l === L - 1 ? 1 / (1 + Math.exp(-s)) : Math.tanh(s);
      }
      x = y;
    }
    return out;
  }

  window.aevbExplorer = {
    names: function () { return Object.keys(models); },
    decode: function (name, z) {
      var m = models[name];
      if (!m) throw new Error("aevbExplorer.decode: no explorer named " + name + " on this page");
      return Array.from(decodeInto(m, +z[0], +z[1], new Float64Array(m.d)));
    }
  };

  // ---- drawing ---------------------------------------------------------------------------------------------

  function el(tag, attrs, parent, text) {
    var e = document.createElement(tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }

  function ink(node) {  // the page's text colour, light or dark mode
    return getComputedStyle(node).color || "#000";
  }

  function paper(node) {  // the page's background colour: the first opaque one from node up
    for (var n = node; n && n.nodeType === 1; n = n.parentElement) {
      var c = getComputedStyle(n).backgroundColor;
      if (c && c !== "transparent" && !/rgba\(.*,\s*0\)$/.test(c)) return c;
    }
    return "#fff";
  }

  function fit(canvas) {  // backing store at the canvas's CSS size times the device's pixel ratio
    var r = canvas.getBoundingClientRect(), k = window.devicePixelRatio || 1;
    var w = Math.max(1, Math.round(r.width * k)), h = Math.max(1, Math.round(r.height * k));
    if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
    return {w: w, h: h, k: k};
  }

  function paintImage(ctx, mean, shape, x0, y0, scale) {  // grey levels as Fig. 4: 0 black, 1 white
    var img = ctx.createImageData(shape[1], shape[0]);
    for (var i = 0; i < mean.length; i++) {
      var g = Math.round(Math.min(1, Math.max(0, mean[i])) * 255);
      img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = g;
      img.data[4 * i + 3] = 255;
    }
    var tmp = document.createElement("canvas");
    tmp.width = shape[1]; tmp.height = shape[0];
    tmp.getContext("2d").putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(tmp, x0, y0, shape[1] * scale, shape[0] * scale);
  }

  function Explorer(root, m) {
    var self = this, data = m.data, name = data.name;
    this.root = root; this.m = m; this.z = [0, 0]; this.a = null; this.b = null; this.playing = null;
    this.mean = new Float64Array(m.d);
    root.classList.add("aevb-explorer-live");
    var title = el("p", {"class": "aevb-x-title"}, root);
    el("strong", {}, title, data.title);
    var main = el("div", {"class": "aevb-x-main"}, root);
    var planeBox = el("div", {"class": "aevb-x-plane-box"}, main);
    this.plane = el("canvas", {"class": "aevb-x-plane", tabindex: "0", role: "application",
                               "aria-roledescription": "latent plane",
                               "aria-label": "latent plane of " + data.title + ": move the pointer, drag, or " +
                               "use the arrow keys (Shift: larger steps) to move z"}, planeBox);
    var side = el("div", {"class": "aevb-x-side"}, main);
    this.image = el("canvas", {"class": "aevb-x-image", "data-shape": data.shape.join("x"),
                               role: "img", "aria-label": "decoder mean image at z"}, side);
    this.image.style.aspectRatio = data.shape[1] + " / " + data.shape[0];
    this.image.style.maxWidth = (8 * data.shape[1]) + "px";  // 8 screen pixels per image pixel
    this.readout = el("p", {"class": "aevb-x-z", "aria-live": "polite"}, side);
    var controls = el("div", {"class": "aevb-x-controls"}, side);
    var gridLabel = el("label", {}, controls);
    this.gridBox = el("input", {type: "checkbox"}, gridLabel);
    gridLabel.appendChild(document.createTextNode(" Fig. 4 grid"));
    var buttons = el("div", {"class": "aevb-x-buttons"}, controls);
    this.setA = el("button", {type: "button"}, buttons, "A = z");
    this.setB = el("button", {type: "button"}, buttons, "B = z");
    this.pair = el("button", {type: "button"}, buttons, "Two test images");
    this.play = el("button", {type: "button"}, buttons, "Walk A \u2192 B");
    if (m.labels) {
      var legend = el("div", {"class": "aevb-x-legend", "aria-label": "digit classes"}, side);
      for (var c = 0; c < 10; c++) {
        var item = el("span", {}, legend);
        el("span", {"class": "aevb-x-swatch", style: "background:" + TAB10[c]}, item);
        item.appendChild(document.createTextNode(String(c)));
      }
    }
    var stripBox = el("div", {"class": "aevb-x-strip-box"}, root);
    this.stripNote = el("p", {"class": "aevb-x-strip-note"}, stripBox);
    this.strip = el("canvas", {"class": "aevb-x-strip", role: "img",
                               "aria-label": "decoded images along the straight line from A to B"}, stripBox);
    this.strip.style.aspectRatio = (STRIP * (data.shape[1] + 2)) + " / " + (data.shape[0] + 2);
    var fallback = root.querySelector(".aevb-explorer-fallback");
    if (fallback) fallback.remove();

    function at(ev) {
      var r = self.plane.getBoundingClientRect(), e = data.extent;
      return [((ev.clientX - r.left) / r.width * 2 - 1) * e, (1 - (ev.clientY - r.top) / r.height * 2) * e];
    }
    this.plane.addEventListener("pointermove", function (ev) {
      if (ev.pointerType === "mouse" || ev.buttons) self.moveTo(at(ev));
    });
    this.plane.addEventListener("pointerdown", function (ev) {
      self.plane.focus();
      if (ev.pointerType !== "mouse") self.plane.setPointerCapture(ev.pointerId);
      self.moveTo(at(ev));
    });
    this.plane.addEventListener("keydown", function (ev) {
      var step = ev.shiftKey ? 0.25 : 0.05, d = {ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, 1],
                                                     ArrowDown: [0, -1]}[ev.key];
      if (!d) return;
      ev.preventDefault();
      self.moveTo([self.z[0] + d[0] * step, self.z[1] + d[1] * step]);
    });
    this.gridBox.addEventListener("change", function () { self.drawPlane(); });
    this.setA.addEventListener("click", function () { self.a = self.z.slice(); self.pairNote = ""; self.path(); });
    this.setB.addEventListener("click", function () { self.b = self.z.slice(); self.pairNote = ""; self.path(); });
    this.pair.addEventListener("click", function () { self.randomPair(); });
    this.play.addEventListener("click", function () { self.walk(); });
    if (window.ResizeObserver) new ResizeObserver(function () { self.drawAll(); }).observe(root);
    new MutationObserver(function () { self.drawAll(); })
      .observe(document.documentElement, {attributes: true, attributeFilter: ["data-theme", "data-mode"]});
    this.seed = 1;
    this.randomPair();
  }

  Explorer.prototype.random = function () {  // a small seeded generator: the same first pair on every visit
    this.seed = (this.seed * 1103515245 + 12345) % 2147483648;
    return this.seed / 2147483648;
  };

  Explorer.prototype.encoding = function (i) {
    return [this.m.encodings[2 * i], this.m.encodings[2 * i + 1]];
  };

  Explorer.prototype.randomPair = function () {  // two test images (MNIST: of two different classes)
    var n = this.m.encodings.length / 2, i = Math.floor(this.random() * n), j = i, tries = 0;
    while ((j === i || (this.m.labels && this.m.labels[j] === this.m.labels[i])) && tries++ < 100) {
      j = Math.floor(this.random() * n);
    }
    this.a = this.encoding(i); this.b = this.encoding(j);
    this.pairNote = this.m.labels ? "test digits " + this.m.labels[i] + " and " + this.m.labels[j]
                                  : "test frames " + i + " and " + j;
    this.z = this.a.slice();
    this.path();
  };

  Explorer.prototype.path = function () {
    if (this.a && this.b) this.drawStrip();
    this.drawAll();
  };

  Explorer.prototype.moveTo = function (z) {
    var e = this.m.data.extent;
    this.z = [Math.max(-e, Math.min(e, z[0])), Math.max(-e, Math.min(e, z[1]))];
    this.drawPlane(); this.drawImage();
  };

  Explorer.prototype.walk = function () {
    var self = this;
    if (this.playing) { cancelAnimationFrame(this.playing); this.playing = null; return; }
    if (!this.a || !this.b) return;
    var start = null;
    function frame(t) {
      if (start === null) start = t;
      var s = Math.min(1, (t - start) / PLAY_MS);
      self.moveTo([self.a[0] + s * (self.b[0] - self.a[0]), self.a[1] + s * (self.b[1] - self.a[1])]);
      self.playing = s < 1 ? requestAnimationFrame(frame) : null;
    }
    this.playing = requestAnimationFrame(frame);
  };

  Explorer.prototype.drawAll = function () {
    this.drawPlane(); this.drawImage();
    if (this.a && this.b) this.drawStrip();
  };

  Explorer.prototype.drawPlane = function () {
    var s = fit(this.plane), ctx = this.plane.getContext("2d"), m = this.m, e = m.data.extent, fg = ink(this.root);
    var px = function (z1) { return (z1 / e + 1) / 2 * s.w; }, py = function (z2) { return (1 - z2 / e) / 2 * s.h; };
    ctx.clearRect(0, 0, s.w, s.h);
    ctx.globalAlpha = 0.15; ctx.strokeStyle = fg; ctx.lineWidth = s.k;
    ctx.beginPath(); ctx.moveTo(px(0), 0); ctx.lineTo(px(0), s.h); ctx.moveTo(0, py(0)); ctx.lineTo(s.w, py(0));
    ctx.stroke();
    ctx.globalAlpha = 1;
    var r = 1.3 * s.k, n = m.encodings.length / 2;
    ctx.globalAlpha = m.labels ? 0.55 : 0.8;
    for (var i = 0; i < n; i++) {
      ctx.fillStyle = m.labels ? TAB10[m.labels[i]] : fg;
      ctx.fillRect(px(m.encodings[2 * i]) - r, py(m.encodings[2 * i + 1]) - r, 2 * r, 2 * r);
    }
    ctx.globalAlpha = 1;
    if (this.gridBox.checked) {  // the cell centres of the paper's Fig. 4 grid: small dots in the page's ink
      ctx.fillStyle = fg;
      var g = m.data.grid, q = 1.1 * s.k;
      for (var a = 0; a < g.length; a++) for (var b = 0; b < g.length; b++) {
        ctx.beginPath(); ctx.arc(px(g[a]), py(g[b]), q, 0, 2 * Math.PI); ctx.fill();
      }
    }
    if (this.a && this.b) {
      ctx.strokeStyle = fg; ctx.lineWidth = 1.5 * s.k; ctx.setLineDash([4 * s.k, 3 * s.k]);
      ctx.beginPath(); ctx.moveTo(px(this.a[0]), py(this.a[1])); ctx.lineTo(px(this.b[0]), py(this.b[1]));
      ctx.stroke(); ctx.setLineDash([]);
      ctx.fillStyle = fg; ctx.font = (12 * s.k) + "px sans-serif";
      ctx.fillText("A", px(this.a[0]) + 4 * s.k, py(this.a[1]) - 4 * s.k);
      ctx.fillText("B", px(this.b[0]) + 4 * s.k, py(this.b[1]) - 4 * s.k);
    }
    ctx.fillStyle = fg; ctx.strokeStyle = fg; ctx.lineWidth = s.k; ctx.font = (11 * s.k) + "px sans-serif";
    ctx.fillText("z\u2081 \u2192", s.w - 34 * s.k, py(0) - 4 * s.k);
    ctx.fillText("z\u2082 \u2191", px(0) + 4 * s.k, 13 * s.k);
    ctx.beginPath();  // ticks at the integers of both axes, labelled at \u00b12
    for (var t = -Math.floor(e); t <= Math.floor(e); t++) {
      if (t === 0) continue;
      ctx.moveTo(px(t), py(0) - 3 * s.k); ctx.lineTo(px(t), py(0) + 3 * s.k);
      ctx.moveTo(px(0) - 3 * s.k, py(t)); ctx.lineTo(px(0) + 3 * s.k, py(t));
      if (Math.abs(t) === 2) {
        ctx.fillText(String(t), px(t) - 5 * s.k, py(0) + 14 * s.k);
        ctx.fillText(String(t), px(0) + 5 * s.k, py(t) + 4 * s.k);
      }
    }
    ctx.stroke();
    var cx = px(this.z[0]), cy = py(this.z[1]);  // the current point: a ring in the page's colour, and white
    ctx.lineWidth = 3.5 * s.k; ctx.strokeStyle = fg;
    ctx.beginPath(); ctx.arc(cx, cy, 6 * s.k, 0, 2 * Math.PI); ctx.stroke();
    ctx.lineWidth = 1.5 * s.k; ctx.strokeStyle = paper(this.root);
    ctx.beginPath(); ctx.arc(cx, cy, 6 * s.k, 0, 2 * Math.PI); ctx.stroke();
    this.plane.setAttribute("aria-valuetext", "z = (" + this.z[0].toFixed(2) + ", " + this.z[1].toFixed(2) + ")");
  };

  Explorer.prototype.drawImage = function () {
    var s = fit(this.image), ctx = this.image.getContext("2d"), shape = this.m.data.shape;
    decodeInto(this.m, this.z[0], this.z[1], this.mean);
    ctx.clearRect(0, 0, s.w, s.h);
    paintImage(ctx, this.mean, shape, 0, 0, s.w / shape[1]);
    this.readout.textContent = "z = (" + this.z[0].toFixed(2) + ", " + this.z[1].toFixed(2) + ")";
  };

  Explorer.prototype.drawStrip = function () {
    var s = fit(this.strip), ctx = this.strip.getContext("2d"), shape = this.m.data.shape;
    var cell = s.w / STRIP, scale = (cell - 2 * s.k) / shape[1], out = new Float64Array(this.m.d);
    ctx.clearRect(0, 0, s.w, s.h);
    for (var i = 0; i < STRIP; i++) {
      var t = i / (STRIP - 1);
      decodeInto(this.m, this.a[0] + t * (this.b[0] - this.a[0]), this.a[1] + t * (this.b[1] - this.a[1]), out);
      paintImage(ctx, out, shape, i * cell + s.k, s.k, scale);
    }
    this.stripNote.textContent = "From A (" + this.a[0].toFixed(2) + ", " + this.a[1].toFixed(2) + ") to B (" +
      this.b[0].toFixed(2) + ", " + this.b[1].toFixed(2) + ") in " + (STRIP - 1) + " equal steps" +
      (this.pairNote ? ", the encodings of " + this.pairNote : "") + ".";
  };

  function start() {
    var roots = document.querySelectorAll("[data-aevb-explorer]");
    for (var i = 0; i < roots.length; i++) {
      var root = roots[i], script = root.querySelector("script.aevb-explorer-data");
      if (!script || root.classList.contains("aevb-explorer-live")) continue;
      var data = JSON.parse(script.textContent);
      models[data.name] = model(data);
      root.aevbExplorer = new Explorer(root, models[data.name]);
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
