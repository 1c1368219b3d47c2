/* audiogate report: sortable tables and the paged utterance lists (data in <script> JSON). */
(function () {
  "use strict";
  var PAGE = 50;

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        if (k === "text") node.textContent = attrs[k];
        else if (k === "cls") node.className = attrs[k];
        else node.setAttribute(k, attrs[k]);
      });
    }
    (children || []).forEach(function (c) {
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return node;
  }

  var collator = new Intl.Collator(undefined, { numeric: true });

  function cmp(a, b) {
    if (typeof a === "number" && typeof b === "number") return a - b;
    return collator.compare(String(a), String(b));
  }

  /* --- static tables: click a header to sort by its column ----------------------------- */
  function cellValue(td) {
    var v = td.hasAttribute("data-v") ? td.getAttribute("data-v") : td.textContent.trim();
    var n = parseFloat(v);
    return v !== "" && !isNaN(n) && isFinite(v) ? n : v;
  }

  function sortable(table) {
    var heads = table.querySelectorAll("thead th");
    heads.forEach(function (th, col) {
      th.addEventListener("click", function () {
        var desc = th.getAttribute("aria-sort") === "ascending";
        heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", desc ? "descending" : "ascending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var r = cmp(cellValue(a.cells[col]), cellValue(b.cells[col]));
          return desc ? -r : r;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  }

  /* --- alignments --------------------------------------------------------------------- */
  function opsNode(ops, sep) {
    var span = el("span", { cls: "txt" });
    (ops || []).forEach(function (o, i) {
      if (i > 0 && sep) span.appendChild(document.createTextNode(sep));
      if (typeof o === "string") { span.appendChild(document.createTextNode(o)); return; }
      if (o[0] === "s") {
        span.appendChild(el("span", { cls: "op sub", "data-op": "sub", "data-ref": o[1],
          "data-hyp": o[2], title: "substitution: " + o[1] + " → " + o[2] },
          [el("del", { text: o[1] }), el("ins", { text: o[2] })]));
      } else if (o[0] === "d") {
        span.appendChild(el("span", { cls: "op del", "data-op": "del", "data-ref": o[1],
          "data-hyp": "", title: "deletion: " + o[1] }, [el("del", { text: o[1] })]));
      } else {
        span.appendChild(el("span", { cls: "op ins", "data-op": "ins", "data-ref": "",
          "data-hyp": o[1], title: "insertion: " + o[1] }, [el("ins", { text: o[1] })]));
      }
    });
    return span;
  }

  function side(ops, sep, which) {
    var out = [];
    (ops || []).forEach(function (o) {
      if (typeof o === "string") out.push(o);
      else if (o[0] === "s") out.push(which === "ref" ? o[1] : o[2]);
      else if ((o[0] === "d") === (which === "ref")) out.push(o[1]);
    });
    return out.join(sep);
  }

  function line(cls, label, content) {
    return el("div", { cls: "line " + cls }, [el("span", { cls: "lbl", text: label }),
      typeof content === "string" ? el("span", { cls: "txt", text: content }) : content]);
  }

  /* --- one pair's utterance list ------------------------------------------------------ */
  function UttList(root, data) {
    this.root = root;
    this.data = data;
    this.acc = data.metric === "acc";
    this.items = data.utts.map(function (u, index) {
      var d = u.b === undefined ? null : u.e - u.b;
      var text = u.i + " " + u.g.join(" ") + " " + (this.acc
        ? [u.r, u.h, u.bh].join(" ")
        : [side(u.c, data.sep, "ref"), side(u.c, data.sep, "hyp"),
           u.o ? side(u.o, data.sep, "hyp") : ""].join(" "));
      return { u: u, index: index, delta: d, rate: u.n ? 100 * u.e / u.n : 0,
               rank: u.k === undefined ? Infinity : u.k, text: text.toLowerCase() };
    }, this);
    this.changed = this.items.filter(function (x) { return x.u.k !== undefined; });
    this.view = data.baseline && this.changed.length ? "changed" : "all";
    this.sortKey = this.view === "changed" ? "rank" : "rate";
    this.desc = this.sortKey !== "rank";
    this.filter = "";
    this.page = 0;
    this.build();
    this.update();
  }

  UttList.prototype.columns = function () {
    var cols = [["rank", "#"], ["id", this.acc ? "item" : "utterance"]];
    if (this.data.baseline) cols.push(["delta", this.acc ? "change" : "Δ errors"]);
    cols.push(["errors", this.acc ? "result" : "errors"]);
    if (!this.acc) cols.push(["n", "tokens"], ["rate", this.data.metric.toUpperCase() + " %"]);
    this.data.keys.forEach(function (k, i) { cols.push(["g" + i, k]); });
    cols.push(["align", this.acc ? "answers" : "alignment (ref · baseline · this run)"]);
    return cols;
  };

  UttList.prototype.build = function () {
    var self = this;
    var controls = el("div", { cls: "controls" });
    if (this.data.baseline) {
      this.viewButtons = {};
      [["changed", "Changed vs baseline (" + this.changed.length + ")"],
       ["all", "All utterances (" + this.items.length + ")"]].forEach(function (v) {
        var b = el("button", { type: "button", "data-view": v[0], text: v[1] });
        b.addEventListener("click", function () {
          self.view = v[0]; self.page = 0;
          self.sortKey = v[0] === "changed" ? "rank" : "rate"; self.desc = v[0] !== "changed";
          self.update();
        });
        self.viewButtons[v[0]] = b;
        controls.appendChild(b);
      });
    }
    this.input = el("input", { type: "search", cls: "filter",
      placeholder: "filter: utterance id or text", "aria-label": "filter utterances" });
    var timer = null;
    this.input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        self.filter = self.input.value.trim().toLowerCase(); self.page = 0; self.update();
      }, 120);
    });
    controls.appendChild(this.input);
    this.prev = el("button", { type: "button", cls: "prev", text: "‹ prev" });
    this.next = el("button", { type: "button", cls: "next", text: "next ›" });
    this.prev.addEventListener("click", function () { self.page--; self.update(); });
    this.next.addEventListener("click", function () { self.page++; self.update(); });
    this.shown = el("span", { cls: "shown" });
    [this.prev, this.next, this.shown].forEach(function (n) { controls.appendChild(n); });
    this.table = el("table", { cls: "utts-table" });
    var tr = el("tr");
    this.heads = {};
    this.columns().forEach(function (c) {
      var th = el("th", { "data-key": c[0], text: c[1] });
      if (c[0] !== "align") {
        th.addEventListener("click", function () {
          if (self.sortKey === c[0]) self.desc = !self.desc;
          else { self.sortKey = c[0]; self.desc = c[0] !== "id" && c[0] !== "rank"; }
          self.page = 0; self.update();
        });
      }
      self.heads[c[0]] = th;
      tr.appendChild(th);
    });
    this.table.appendChild(el("thead", null, [tr]));
    this.body = el("tbody");
    this.table.appendChild(this.body);
    this.root.appendChild(controls);
    this.root.appendChild(this.table);
  };

  UttList.prototype.key = function (x) {
    var k = this.sortKey;
    if (k === "rank") return x.rank === Infinity ? 1e12 + x.index : x.rank;
    if (k === "id") return x.u.i;
    if (k === "delta") return x.delta === null ? -1e12 : x.delta;
    if (k === "errors") return x.u.e;
    if (k === "n") return x.u.n;
    if (k === "rate") return x.rate;
    return x.u.g[parseInt(k.slice(1), 10)];
  };

  UttList.prototype.update = function () {
    var self = this;
    var pool = this.view === "changed" ? this.changed : this.items;
    var f = this.filter;
    var rows = f ? pool.filter(function (x) { return x.text.indexOf(f) !== -1; }) : pool.slice();
    rows.sort(function (a, b) {
      var r = cmp(self.key(a), self.key(b));
      if (self.desc) r = -r;
      return r || a.index - b.index;
    });
    var pages = Math.max(1, Math.ceil(rows.length / PAGE));
    this.page = Math.min(Math.max(this.page, 0), pages - 1);
    var start = this.page * PAGE;
    var slice = rows.slice(start, start + PAGE);
    var body = el("tbody");
    slice.forEach(function (x, i) { body.appendChild(self.row(x, start + i + 1)); });
    this.table.replaceChild(body, this.body);
    this.body = body;
    this.shown.textContent = rows.length
      ? "showing " + (start + 1) + "–" + (start + slice.length) + " of " + rows.length +
        " (page " + (this.page + 1) + " of " + pages + ")"
      : "no utterance matches";
    this.shown.setAttribute("data-count", String(rows.length));
    this.shown.setAttribute("data-filter", f);  // what the count is of (typing is debounced)
    this.prev.disabled = this.page === 0;
    this.next.disabled = this.page >= pages - 1;
    Object.keys(this.heads).forEach(function (k) {
      if (k === self.sortKey) self.heads[k].setAttribute("aria-sort",
        self.desc ? "descending" : "ascending");
      else self.heads[k].removeAttribute("aria-sort");
    });
    if (this.viewButtons) {
      Object.keys(this.viewButtons).forEach(function (v) {
        self.viewButtons[v].className = v === self.view ? "on" : "";
      });
    }
  };

  UttList.prototype.row = function (x, position) {
    var u = x.u, data = this.data, acc = this.acc;
    var tr = el("tr", { cls: "utt", "data-id": u.i });
    tr.appendChild(el("td", { cls: "num", text: String(position) }));
    tr.appendChild(el("td", { cls: "id", text: u.i }));
    if (data.baseline) {
      var dcls = "num delta" + (x.delta > 0 ? " worse" : x.delta < 0 ? " better" : "");
      var dtext = x.delta === null ? "only here"
        : acc ? (x.delta > 0 ? "correct → wrong" : x.delta < 0 ? "wrong → correct" : "")
        : (x.delta > 0 ? "+" : "") + x.delta;
      tr.appendChild(el("td", { cls: dcls, text: dtext }));
    }
    if (acc) {
      tr.appendChild(el("td", { text: u.e ? "✗ wrong" : "✓ correct" }));
    } else {
      tr.appendChild(el("td", { cls: "num",
        text: u.b === undefined ? String(u.e) : u.b + " → " + u.e }));
      tr.appendChild(el("td", { cls: "num", text: String(u.n) }));
      tr.appendChild(el("td", { cls: "num", text: x.rate.toFixed(1) }));
    }
    u.g.forEach(function (g) { tr.appendChild(el("td", { text: g })); });
    var cell = el("td", { cls: "align" });
    if (acc) {
      cell.appendChild(line("ref", "key", u.r || ""));
      if (u.bh !== undefined) cell.appendChild(line("base", "baseline", u.bh || "(none)"));
      cell.appendChild(line("cand", "this run", u.h || "(empty)"));
    } else {
      cell.appendChild(line("ref", "ref", side(u.c, data.sep, "ref")));
      if (u.o) cell.appendChild(line("base", "baseline", opsNode(u.o, data.sep)));
      else if (u.b !== undefined && u.b !== u.e) {
        cell.appendChild(line("base", "baseline", "(" + u.b + " errors; no words kept)"));
      }
      cell.appendChild(line("cand", "this run", opsNode(u.c, data.sep)));
    }
    if (u.w !== undefined) cell.appendChild(line("written", "written", u.w || "(empty)"));
    var players = [["a", "produced"], ["in", "input"], ["p", "voice prompt"]]
      .filter(function (k) { return u[k[0]]; })
      .map(function (k) {
        return el("span", { cls: "clip" }, [el("span", { cls: "lbl", text: k[1] }),
          el("audio", { controls: "", preload: "none", src: u[k[0]], "data-kind": k[0] })]);
      });
    if (players.length) cell.appendChild(el("div", { cls: "line listen" }, players));
    tr.appendChild(cell);
    return tr;
  };

  function start() {
    document.querySelectorAll("table.sortable").forEach(sortable);
    document.querySelectorAll("div.utts[data-src]").forEach(function (root) {
      var src = document.getElementById(root.getAttribute("data-src"));
      if (src) root.audiogate = new UttList(root, JSON.parse(src.textContent));
    });
    document.body.setAttribute("data-ready", "1");
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
