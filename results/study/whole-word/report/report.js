// rift-bench HTML report: sortable tables, leaderboard filters and the paper toggle, the example browser.
// Plain JavaScript, no dependencies, no network. Record text is never parsed as HTML here (no innerHTML).
(function () {
  "use strict";

  // A cell's sort key: data-value (a number) when present, else its text; empty numbers sort last.
  function key(row, index, numeric) {
    var cell = row.cells[index];
    if (!cell) return null;
    if (numeric) {
      var v = cell.getAttribute("data-value");
      return v === null || v === "" ? null : parseFloat(v);
    }
    return cell.textContent.trim().toLowerCase();
  }

  function sortTable(table, th) {
    var numeric = th.getAttribute("data-type") === "num";
    var current = th.getAttribute("aria-sort");
    // numbers first sort high to low (best accuracy first), text A to Z; a second click reverses
    var descending = current ? current === "ascending" : numeric;
    var index = th.cellIndex;
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", descending ? "descending" : "ascending");
    Array.prototype.forEach.call(table.tBodies, function (body) {
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = key(a, index, numeric), y = key(b, index, numeric);
        if (x === null || y === null) return x === y ? 0 : (x === null ? 1 : -1); // missing last, either way
        var order = x < y ? -1 : x > y ? 1 : 0;
        return descending ? -order : order;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  }

  function setupSortable(table) {
    var header = table.tHead && table.tHead.rows[0];
    if (!header) return;
    Array.prototype.forEach.call(header.cells, function (th) {
      if (!th.hasAttribute("data-type")) return;
      th.tabIndex = 0;
      th.addEventListener("click", function () { sortTable(table, th); });
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") sortTable(table, th); });
    });
  }

  function selected(name) {
    var el = document.querySelector('select[data-filter="' + name + '"]');
    return el ? el.value : "";
  }

  function filterLeaderboard(table) {
    var attack = selected("attack");
    Array.prototype.forEach.call(table.querySelectorAll("[data-attack]"), function (cell) {
      cell.hidden = attack !== "" && cell.getAttribute("data-attack") !== attack;
    });
    var shown = 0, rows = table.tBodies[0].rows;
    Array.prototype.forEach.call(rows, function (row) {
      var visible = ["dataset", "model", "method"].every(function (name) {
        var want = selected(name);
        return want === "" || row.getAttribute("data-" + name) === want;
      });
      if (visible && attack !== "") { // an entry without a result under the chosen attack is not listed
        visible = Array.prototype.some.call(row.cells, function (c) {
          return c.getAttribute("data-attack") === attack && !c.classList.contains("paper") && c.hasAttribute("data-value");
        });
      }
      row.hidden = !visible;
      if (visible) shown += 1;
    });
    count("leaderboard", shown, rows.length, "entries");
  }

  function count(name, shown, total, noun) {
    var el = document.querySelector('[data-count="' + name + '"]');
    if (el) el.textContent = shown + " of " + total + " " + noun + " shown";
  }

  function setupLeaderboard() {
    var table = document.getElementById("leaderboard");
    if (!table) return;
    Array.prototype.forEach.call(document.querySelectorAll("select[data-filter]"), function (el) {
      el.addEventListener("change", function () { filterLeaderboard(table); });
    });
    var toggle = document.querySelector('input[data-toggle="paper"]');
    if (toggle) {
      var apply = function () { table.classList.toggle("show-paper", toggle.checked); };
      toggle.addEventListener("change", apply);
      apply();
    }
    filterLeaderboard(table);
  }

  // The example browser: filter by status, sort by a data-* number (unknown values last).
  function setupExamples() {
    var box = document.getElementById("examples");
    if (!box) return;
    var items = Array.prototype.slice.call(box.querySelectorAll(".ex"));
    var status = document.querySelector('select[data-filter="status"]');
    var sortKey = document.querySelector("select[data-sort-key]");
    var descending = document.querySelector("input[data-sort-descending]");
    function update() {
      var k = sortKey.value, down = descending.checked;
      var ordered = items.slice();
      if (k) {
        ordered.sort(function (a, b) {
          var x = a.getAttribute("data-" + k), y = b.getAttribute("data-" + k);
          if (x === "" || y === "") return x === y ? 0 : (x === "" ? 1 : -1);
          var d = parseFloat(x) - parseFloat(y);
          return down ? -d : d;
        });
      } else if (down) {
        ordered.reverse();
      }
      var shown = 0;
      ordered.forEach(function (el) {
        el.hidden = status.value !== "" && el.getAttribute("data-status") !== status.value;
        if (!el.hidden) shown += 1;
        box.appendChild(el);
      });
      count("examples", shown, items.length, "examples");
    }
    [status, sortKey, descending].forEach(function (el) { el.addEventListener("change", update); });
    update();
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), setupSortable);
    setupLeaderboard();
    setupExamples();
  });
})();
