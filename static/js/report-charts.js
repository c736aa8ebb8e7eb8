// Report charts with the vendored Chart.js. Readable without colour: each series has its own fill pattern
// (bars) or point shape and dash (lines), the legend names them, and every chart's figures are also in the
// table under it. Colours follow the page's light or dark theme.
(function () {
  "use strict";
  if (typeof window.Chart === "undefined") return;
  const canvases = document.querySelectorAll("canvas[data-chart]");
  if (!canvases.length) return;
  const styles = getComputedStyle(document.body);
  const text = styles.getPropertyValue("--bs-body-color").trim() || "#222";
  const grid = styles.getPropertyValue("--bs-border-color").trim() || "#ccc";
  const dark = document.documentElement.getAttribute("data-bs-theme") === "dark";
  const colours = dark ? ["#8fb3ff", "#f2c46d", "#b9e3a5", "#e6a1c9"] : ["#1f3b73", "#b7791f", "#2f7d32", "#9c2a6b"];
  const points = ["circle", "rect", "triangle", "rectRot"];
  const dashes = [[], [6, 4], [2, 3], [10, 3, 2, 3]];

  // A small tile repeated over a bar: solid, diagonal lines, dots, cross-hatch.
  function pattern(index, colour) {
    const tile = document.createElement("canvas");
    tile.width = tile.height = 10;
    const ctx = tile.getContext("2d");
    ctx.fillStyle = colour;
    ctx.globalAlpha = index === 0 ? 0.85 : 0.35;
    ctx.fillRect(0, 0, 10, 10);
    ctx.globalAlpha = 1;
    ctx.strokeStyle = colour;
    ctx.fillStyle = colour;
    ctx.lineWidth = 2;
    if (index % 4 === 1) {
      ctx.beginPath(); ctx.moveTo(0, 10); ctx.lineTo(10, 0); ctx.stroke();
    } else if (index % 4 === 2) {
      ctx.beginPath(); ctx.arc(5, 5, 2, 0, 2 * Math.PI); ctx.fill();
    } else if (index % 4 === 3) {
      ctx.beginPath(); ctx.moveTo(0, 0); ctx.lineTo(10, 10); ctx.moveTo(10, 0); ctx.lineTo(0, 10); ctx.stroke();
    }
    return ctx.createPattern(tile, "repeat");
  }

  canvases.forEach(function (canvas) {
    const source = document.getElementById(canvas.getAttribute("data-chart"));
    if (!source) return;
    const spec = JSON.parse(source.textContent);
    const line = spec.kind === "line";
    const datasets = spec.series.map(function (series, i) {
      const colour = colours[i % colours.length];
      return {
        label: series.name,
        data: series.values,
        borderColor: colour,
        backgroundColor: line ? colour : pattern(i, colour),
        borderWidth: line ? 2 : 1.5,
        borderDash: line ? dashes[i % dashes.length] : [],
        pointStyle: points[i % points.length],
        pointRadius: line ? 4 : 0,
        tension: 0
      };
    });
    const axis = function (title, stacked) {
      return {
        stacked: stacked,
        beginAtZero: true,
        title: { display: Boolean(title), text: title, color: text },
        ticks: { color: text, precision: 0 },
        grid: { color: grid }
      };
    };
    new window.Chart(canvas, {
      type: line ? "line" : "bar",
      data: { labels: spec.labels, datasets: datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        plugins: {
          legend: { labels: { color: text, usePointStyle: true } },
          tooltip: { enabled: true }
        },
        scales: {
          x: axis(spec.x_title, spec.stacked),
          y: Object.assign(axis(spec.y_title, spec.stacked), spec.percent ? { max: 100 } : {})
        }
      }
    });
    canvas.setAttribute("data-chart-drawn", "true");
  });
})();
