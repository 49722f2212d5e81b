// headgate web UI: zoom and pan on the lineage graph, live run pages. No library.
"use strict";

(function () {
  // ---- zoom and pan: the graph's viewBox follows the wheel, a drag, the buttons, the keys
  function panZoom(viewport) {
    var svg = viewport.querySelector("svg");
    if (!svg) return;
    var full = svg.viewBox.baseVal;
    var W = full.width, H = full.height;
    var box = { x: 0, y: 0, w: W, h: H };
    svg.removeAttribute("width");
    svg.removeAttribute("height");

    function apply() {
      svg.setAttribute("viewBox", [box.x, box.y, box.w, box.h].map(function (v) { return v.toFixed(1); }).join(" "));
    }
    function aspect() {
      var r = viewport.getBoundingClientRect();
      return r.width > 0 && r.height > 0 ? r.width / r.height : 1;
    }
    function fit() {
      var a = aspect();
      if (W / H > a) { box.w = W; box.h = W / a; } else { box.h = H; box.w = H * a; }
      box.x = (W - box.w) / 2; box.y = (H - box.h) / 2;
      apply();
    }
    function zoom(factor, cx, cy) {
      var nw = Math.min(Math.max(box.w * factor, 80), Math.max(W, H) * 4);
      var f = nw / box.w;
      if (cx === undefined) { cx = box.x + box.w / 2; cy = box.y + box.h / 2; }
      box.x = cx - (cx - box.x) * f; box.y = cy - (cy - box.y) * f;
      box.w *= f; box.h *= f;
      apply();
    }
    function toGraph(clientX, clientY) {
      var r = viewport.getBoundingClientRect();
      return { x: box.x + (clientX - r.left) / r.width * box.w, y: box.y + (clientY - r.top) / r.height * box.h };
    }
    function centerOn(x, y, width) {
      var a = aspect();
      box.w = width; box.h = width / a;
      box.x = x - box.w / 2; box.y = y - box.h / 2;
      apply();
    }

    viewport.addEventListener("wheel", function (e) {
      e.preventDefault();
      var p = toGraph(e.clientX, e.clientY);
      zoom(e.deltaY > 0 ? 1.15 : 1 / 1.15, p.x, p.y);
    }, { passive: false });

    var drag = null, moved = false;
    viewport.addEventListener("pointerdown", function (e) {
      if (e.button !== 0) return;
      drag = { x: e.clientX, y: e.clientY, bx: box.x, by: box.y };
      moved = false;
    });
    window.addEventListener("pointermove", function (e) {
      if (!drag) return;
      var dx = e.clientX - drag.x, dy = e.clientY - drag.y;
      if (!moved && Math.abs(dx) + Math.abs(dy) < 4) return;
      if (!moved) viewport.classList.add("dragging");
      moved = true;
      var r = viewport.getBoundingClientRect();
      box.x = drag.bx - dx / r.width * box.w;
      box.y = drag.by - dy / r.height * box.h;
      apply();
    });
    window.addEventListener("pointerup", function () {
      drag = null;
      viewport.classList.remove("dragging");
    });
    // a drag that ends on a node does not follow its link
    viewport.addEventListener("click", function (e) {
      if (moved) { e.preventDefault(); e.stopPropagation(); moved = false; }
    }, true);

    viewport.addEventListener("keydown", function (e) {
      var step = box.w / 10;
      var keys = {
        "+": function () { zoom(1 / 1.25); }, "=": function () { zoom(1 / 1.25); },
        "-": function () { zoom(1.25); }, "0": fit,
        "ArrowLeft": function () { box.x -= step; apply(); },
        "ArrowRight": function () { box.x += step; apply(); },
        "ArrowUp": function () { box.y -= step; apply(); },
        "ArrowDown": function () { box.y += step; apply(); }
      };
      if (keys[e.key] && e.target === viewport) { e.preventDefault(); keys[e.key](); }
    });

    var tools = document.querySelector("[data-graph-tools='" + viewport.id + "']");
    if (tools) {
      tools.querySelectorAll("button[data-zoom]").forEach(function (b) {
        b.addEventListener("click", function () {
          var what = b.getAttribute("data-zoom");
          if (what === "in") zoom(1 / 1.3); else if (what === "out") zoom(1.3); else fit();
        });
      });
      var search = tools.querySelector("input[type=search]");
      if (search) {
        search.addEventListener("input", function () { find(search.value, false); });
        search.addEventListener("keydown", function (e) {
          if (e.key === "Enter") { e.preventDefault(); find(search.value, true); }
        });
      }
    }

    function find(text, go) {
      var wanted = text.trim().toLowerCase();
      var first = null;
      svg.querySelectorAll("a.node").forEach(function (node) {
        var hit = wanted !== "" && node.getAttribute("data-name").indexOf(wanted) !== -1;
        node.classList.toggle("hit", hit);
        if (hit && !first) first = node;
      });
      var count = document.getElementById(viewport.id + "-found");
      if (count) {
        var n = svg.querySelectorAll("a.node.hit").length;
        count.textContent = wanted === "" ? "" : n + " found";
      }
      if (first) {
        var r = first.querySelector("rect");
        var x = parseFloat(r.getAttribute("x")) + parseFloat(r.getAttribute("width")) / 2;
        var y = parseFloat(r.getAttribute("y"));
        centerOn(x, y, Math.min(W, viewport.getBoundingClientRect().width * 1.25));
        if (go) first.focus();
      }
    }

    var focus = svg.querySelector("a.node.focus");
    if (focus && viewport.hasAttribute("data-center-focus")) {
      var fr = focus.querySelector("rect");
      centerOn(parseFloat(fr.getAttribute("x")) + 115, parseFloat(fr.getAttribute("y")),
        Math.min(Math.max(W, 400), viewport.getBoundingClientRect().width * 1.25));
    } else {
      fit();
    }
    window.addEventListener("resize", fit);
  }

  // ---- a live part of a page: fetched again every second while data-live says running
  function live(section) {
    var url = section.getAttribute("data-live-url");
    function tick() {
      if (section.getAttribute("data-live") !== "running") return;
      fetch(url, { headers: { "Accept": "text/html" } }).then(function (r) {
        if (!r.ok) throw new Error(r.status);
        return r.text();
      }).then(function (html) {
        var holder = document.createElement("div");
        holder.innerHTML = html;
        var fresh = holder.querySelector("[data-live]");
        if (fresh) {
          section.innerHTML = fresh.innerHTML;
          section.setAttribute("data-live", fresh.getAttribute("data-live"));
        }
        setTimeout(tick, 1000);
      }).catch(function () { setTimeout(tick, 3000); });
    }
    setTimeout(tick, 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".viewport").forEach(panZoom);
    document.querySelectorAll("[data-live-url]").forEach(live);
  });
})();
