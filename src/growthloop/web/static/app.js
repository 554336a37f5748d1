// Draws every figure of the page with plotly.js (served by growthloop itself) and marks it drawn.
"use strict";

function openPost(event) {
  // a post marked on the follower curve opens its own page
  var point = event.points && event.points[0];
  if (!point || point.customdata === undefined) return;
  var account = new URLSearchParams(window.location.search).get("account");
  window.location.href = "/posts/" + point.customdata + (account ? "?account=" + encodeURIComponent(account) : "");
}

document.addEventListener("DOMContentLoaded", function () {
  var config = { responsive: true, displaylogo: false };
  document.querySelectorAll("div.chart[data-figure]").forEach(function (div) {
    var spec = JSON.parse(document.getElementById(div.dataset.figure).textContent);
    window.Plotly.newPlot(div, spec.data, spec.layout, config).then(function () {
      div.on("plotly_click", openPost);
      div.dataset.rendered = "1";
    });
  });
  var account = document.getElementById("account");
  if (account) {
    account.addEventListener("change", function () { account.form.submit(); });
  }
});
