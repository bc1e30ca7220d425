/* The workload dashboard (/map/dashboard/, docs/workload.md): for one node (its grids) or one
   segment (its nodes), a choropleth by households against the target, bar charts of households
   within the target band, of the visits the five colours owe a month and of open incidents, the
   staffing table, and for planners the rebalance proposal drawn on the map, with its moves and a
   way to apply them. Strings come translated from the page (#dashboard-i18n); what it shares
   with the other map pages is in gridmap/mapkit.js (GridMapKit). */
(function () {
  "use strict";

  const kit = window.GridMapKit;
  const { h, fill, num, withQuery } = kit;
  const { cfg, t, map, groups } = kit.page("dashboard");
  const UNIT = cfg.unit;
  const IS_NODE = UNIT.level === "node";
  const TOLERANCE = cfg.tolerance;
  const ROLE = Object.fromEntries(cfg.roles);

  // The planner's load colours (gridmap/plan.js), so a grid looks the same on both pages.
  const FLAG_COLOR = { under: "#74add1", ok: "#66bd63", over: "#f46d43", none: "#cfd8dc" };
  // The five colours as the planner's chips show them (gridmap/plan.css).
  const HOUSEHOLD_COLOR = { red: "#d32f2f", orange: "#f57c00", yellow: "#fbc02d", blue: "#1976d2", green: "#388e3c" };

  const { request, fetchAll } = kit.client({ t: t, csrfToken: cfg.csrfToken, detail: bilingual });

  kit.createPanes(map, [["db-load", 401], ["db-area", 420], ["db-buildings", 425], ["db-arrows", 430]], ["db-area", "db-arrows"]);
  const labels = L.layerGroup().addTo(map);

  const el = {
    status: document.getElementById("db-status"),
    kpis: document.getElementById("db-kpis"),
    households: document.getElementById("db-households"),
    visits: document.getElementById("db-visits"),
    incidents: document.getElementById("db-incidents"),
    staffing: document.getElementById("db-staffing"),
    rebalance: document.getElementById("db-rebalance"),
    proposal: document.getElementById("db-proposal"),
  };
  const status = kit.statusLine(el.status);

  const state = {
    rows: [],        // one a grid (node page) or a node (segment page), lowest code first
    shapes: null,    // their GeoJSON features
    layers: {},      // unit id → its Leaflet layer on the choropleth
    proposal: null,
  };

  function failed(err) {
    if (err.name !== "AbortError") status(err.message, "error");
  }

  // The API's texts are "中文 / English": the page shows the part in its own language.
  function bilingual(text) {
    if (!text) return "";
    const at = String(text).indexOf(" / ");
    if (at < 0) return String(text);
    return kit.chinese ? text.slice(0, at) : text.slice(at + 3);
  }

  function percent(ratio) {
    return ratio === null || ratio === undefined ? "–" : num(ratio * 100) + "%";
  }

  function sum(list, key) {
    return list.reduce(function (s, x) { return s + (x[key] || 0); }, 0);
  }

  // ---- the figures ---------------------------------------------------------------------------

  function gridRow(g) {
    return {
      id: g.id, code: g.code, name: g.name, households: g.households, target: g.target,
      band: g.band, ratio: g.ratio, flag: g.flag, visits: g.visits_owed_per_month,
      visitsByColor: g.visits_by_color, overdue: g.overdue_visits, incidents: g.open_incidents,
    };
  }

  // A node of a segment: its load from the staffing answer, its visits and incidents summed over
  // its grids.
  function nodeRow(node, grids) {
    const own = grids.filter(function (g) { return g.node === node.id; });
    const byColor = {};
    cfg.colors.forEach(function (pair) {
      byColor[pair[0]] = own.reduce(function (s, g) { return s + g.visits_by_color[pair[0]]; }, 0);
    });
    return {
      id: node.id, code: node.code, name: node.name, households: node.households, target: node.target,
      band: [node.target * (1 - TOLERANCE), node.target * (1 + TOLERANCE)],
      ratio: node.ratio, flag: node.flag || "none", visits: sum(own, "visits_owed_per_month"),
      visitsByColor: byColor, overdue: sum(own, "overdue_visits"), incidents: sum(own, "open_incidents"),
    };
  }

  async function load() {
    const scope = {};
    scope[UNIT.level] = UNIT.id;
    let grids, nodes, shapes;
    try {
      [grids, nodes, shapes] = await Promise.all([
        request(withQuery(cfg.api.grids, scope)),
        request(withQuery(cfg.api.nodes, scope)),
        fetchAll(withQuery(cfg.api.units, {
          level: IS_NODE ? "grid" : "node", parent: UNIT.code, page_size: 5000,
        }), "shapes"),
      ]);
    } catch (err) {
      failed(err);
      fill(el.kpis, []);
      return;
    }
    state.rows = IS_NODE ? grids.grids.map(gridRow) : nodes.nodes.map(function (n) { return nodeRow(n, grids.grids); });
    state.shapes = shapes.features;
    renderKpis(grids.total, nodes.nodes);
    renderCharts();
    renderStaffing(nodes.nodes);
    drawChoropleth();
  }

  // ---- key figures ---------------------------------------------------------------------------

  function kpi(label, value, note, extraClass) {
    return h("div", { class: "kpi" + (extraClass ? " " + extraClass : "") }, [
      h("span", { class: "kpi-label" }, label),
      h("span", { class: "kpi-value" }, value),
      note ? h("span", { class: "kpi-note" }, note) : null,
    ]);
  }

  function renderKpis(total, nodes) {
    const required = sum(nodes, "required_staff");
    const assigned = sum(nodes, "assigned_staff");
    fill(el.kpis, [
      kpi(t("kpi_households"), num(total.households), t("kpi_residents", { n: num(total.residents) })),
      kpi(t("kpi_grids"), num(total.grids), t("grids_flagged", { over: total.over, under: total.under }),
        total.over + total.under ? "warn" : "ok"),
      kpi(t("kpi_visits"), num(total.visits_owed_per_month), t("kpi_overdue", { n: num(total.overdue_visits) })),
      kpi(t("kpi_incidents"), num(total.open_incidents)),
      kpi(t("kpi_staff"), num(assigned) + " / " + num(required), t("kpi_staff_note"), assigned < required ? "warn" : "ok"),
    ]);
  }

  // ---- charts: CSS bars, one row a grid (or node); a click shows it on the map ---------------

  function chartRow(row, track, value, title) {
    return h("li", {}, h("button", {
      type: "button", class: "bar", "data-id": row.id, title: title,
      onclick: function () { focus(row.id); },
    }, [h("span", { class: "label" }, row.name), h("span", { class: "track" }, track), h("span", { class: "value" }, value)]));
  }

  function scale(max) {
    return function (v) { return (100 * Math.max(0, v) / max).toFixed(2) + "%"; };
  }

  function householdsChart(rows) {
    const at = scale(Math.max(1, ...rows.map(function (r) { return Math.max(r.households, r.band[1]); })) * 1.05);
    return h("figure", { class: "db-fig" }, [
      h("ul", { class: "db-chart households", "aria-label": t("chart_households") }, rows.map(function (r) {
        return chartRow(r, [
          h("span", { class: "band", style: "left:" + at(r.band[0]) + ";width:" + at(r.band[1] - r.band[0]) }),
          h("span", { class: "fill flag-" + r.flag, style: "width:" + at(r.households) }),
          h("span", { class: "target", style: "left:" + at(r.target) }),
        ], num(r.households) + " / " + num(r.target),
        r.name + " " + r.code + "：" + t("households_of_target", { households: num(r.households), target: num(r.target) })
          + " · " + t("ratio", { pct: r.ratio === null ? "–" : num(r.ratio * 100) }) + " · " + t("flag_" + r.flag));
      })),
      h("figcaption", { class: "muted" }, [
        h("span", { class: "key" }, [h("span", { class: "swatch-inline flag-over" }), t("flag_over")]),
        h("span", { class: "key" }, [h("span", { class: "swatch-inline flag-ok" }), t("flag_ok")]),
        h("span", { class: "key" }, [h("span", { class: "swatch-inline flag-under" }), t("flag_under")]),
        h("br"), t("chart_households"),
      ]),
    ]);
  }

  function visitsChart(rows) {
    const at = scale(Math.max(1, ...rows.map(function (r) { return r.visits; })));
    return h("figure", { class: "db-fig" }, [
      h("ul", { class: "db-chart visits", "aria-label": t("chart_visits") }, rows.map(function (r) {
        const parts = cfg.colors.map(function (pair) {
          const v = r.visitsByColor[pair[0]] || 0;
          return h("span", {
            class: "part", title: pair[1] + "：" + t("per_month", { n: num(v, 1) }),
            style: "width:" + at(v) + ";background:" + HOUSEHOLD_COLOR[pair[0]],
          });
        });
        const title = r.name + "：" + cfg.colors.map(function (pair) {
          return pair[1] + " " + num(r.visitsByColor[pair[0]] || 0, 1);
        }).join("，");
        return chartRow(r, h("span", { class: "stack" }, parts), num(r.visits, 1), title);
      })),
      h("figcaption", { class: "muted" }, [
        cfg.colors.map(function (pair) {
          return h("span", { class: "key" }, [h("span", { class: "swatch-inline", style: "background:" + HOUSEHOLD_COLOR[pair[0]] }), pair[1]]);
        }),
        h("br"), t("chart_visits"),
      ].flat()),
    ]);
  }

  function incidentsChart(rows) {
    const at = scale(Math.max(1, ...rows.map(function (r) { return r.incidents; })));
    return h("figure", { class: "db-fig" }, [
      h("ul", { class: "db-chart incidents", "aria-label": t("chart_incidents") }, rows.map(function (r) {
        return chartRow(r, h("span", { class: "fill incidents", style: "width:" + at(r.incidents) }),
          num(r.incidents), r.name + "：" + t("incidents_n", { n: num(r.incidents) }));
      })),
      h("figcaption", { class: "muted" }, t("chart_incidents")),
    ]);
  }

  function renderCharts() {
    const rows = state.rows;
    if (!rows.length) {
      [el.households, el.visits, el.incidents].forEach(function (x) { fill(x, h("p", { class: "muted" }, t("no_grids"))); });
      return;
    }
    fill(el.households, householdsChart(rows));
    fill(el.visits, visitsChart(rows));
    fill(el.incidents, incidentsChart(rows));
  }

  // ---- staffing ------------------------------------------------------------------------------

  function renderStaffing(nodes) {
    const table = h("table", { class: "data staffing" }, [
      h("thead", {}, h("tr", {}, [
        h("th", {}, t("node")), h("th", { class: "n" }, t("households")),
        h("th", { class: "n" }, t("required_staff")), h("th", { class: "n" }, t("assigned_staff")),
        h("th", { class: "n" }, t("staff_gap")), h("th", { class: "n" }, t("grid_workers")),
        h("th", {}, t("grid")),
      ])),
      h("tbody", {}, nodes.map(function (n) {
        const roles = cfg.standardRoles.map(function (role) {
          return ROLE[role] + " " + n.staff_by_role[role];
        }).join(" · ");
        return h("tr", { class: n.staff_gap < 0 ? "short" : "" }, [
          h("td", {}, IS_NODE ? n.name : h("a", { href: withQuery(cfg.page, { unit: n.id }) }, n.name)),
          h("td", { class: "n" }, num(n.households)),
          h("td", { class: "n" }, num(n.required_staff)),
          h("td", { class: "n", title: roles }, num(n.assigned_staff)),
          h("td", { class: "n gap" }, (n.staff_gap > 0 ? "+" : "") + num(n.staff_gap)),
          h("td", { class: "n" }, num(n.grid_workers_needed) + " / " + num(n.grid_workers)),
          h("td", {}, [num(n.grids), " · ", t("grids_flagged", { over: n.grids_over, under: n.grids_under })]),
        ]);
      })),
    ]);
    const parts = [table];
    if (IS_NODE && nodes.length) {
      const n = nodes[0];
      parts.push(h("p", { class: "roles" }, cfg.standardRoles.map(function (role) {
        return h("span", { class: "role" }, [ROLE[role], " ", h("strong", {}, num(n.staff_by_role[role]))]);
      }).concat([h("span", { class: "role muted" }, t("part_time", { n: num(n.staff_by_role.part_time_member) }))])));
    }
    fill(el.staffing, parts);
  }

  // ---- the choropleth ------------------------------------------------------------------------

  function rowOf(id) {
    return state.rows.find(function (r) { return r.id === id; });
  }

  function styleOf(row, focused) {
    return {
      color: focused ? "#0b5394" : "#37474f", weight: focused ? 3.5 : 1.2,
      fillColor: FLAG_COLOR[row ? row.flag : "none"], fillOpacity: 0.6,
    };
  }

  function drawChoropleth() {
    groups.load.clearLayers();
    state.layers = {};
    if (!state.shapes.length) return;
    const layer = L.geoJSON(state.shapes, {
      pane: "db-load",
      style: function (f) { return styleOf(rowOf(f.id)); },
      onEachFeature: function (f, shape) {
        state.layers[f.id] = shape;
        const row = rowOf(f.id);
        shape.bindTooltip(h("div", {}, [
          h("strong", {}, f.properties.name), " ", h("code", {}, f.properties.code), h("br"),
          row ? t("households_of_target", { households: num(row.households), target: num(row.target) }) : "",
          row ? [" · ", t("ratio", { pct: row.ratio === null ? "–" : num(row.ratio * 100) }), h("br"), t("flag_" + row.flag)] : [],
        ].flat()), { sticky: true });
        shape.on("click", function () {
          if (IS_NODE) focus(f.id);
          else window.location.href = withQuery(cfg.page, { unit: f.id });
        });
      },
    });
    groups.load.addLayer(layer);
    // Quarter zoom steps, so the unit fills the map rather than the next power of two.
    map.options.zoomSnap = 0.25;
    // Room on the left for the legend, which sits bottom left.
    map.fitBounds(layer.getBounds(), { paddingTopLeft: [170, 24], paddingBottomRight: [24, 24], animate: false });
    labelUnits();
  }

  // Twice the area of a ring of [lon, lat] (only compared, so degrees do).
  function ringArea(ring) {
    let a = 0;
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) a += (ring[j][0] + ring[i][0]) * (ring[j][1] - ring[i][1]);
    return Math.abs(a);
  }

  /* Where a unit's label goes: inside its largest part (a grid may own a far piece), at the
     centre of that part's box if the part holds it, else at the point of a lattice over the box
     that lies inside and nearest the centre. Returns that point and the part's box. */
  function labelPlace(geometry) {
    const polygons = geometry.type === "Polygon" ? [geometry.coordinates] : geometry.coordinates;
    const largest = polygons.reduce(function (best, p) { return ringArea(p[0]) > ringArea(best[0]) ? p : best; });
    const rings = largest.map(function (ring) { return ring.map(function (c) { return L.latLng(c[1], c[0]); }); });
    const bounds = L.latLngBounds(rings[0]);
    const centre = bounds.getCenter();
    if (kit.ringsContain(rings, centre)) return { latlng: centre, bounds: bounds };
    const steps = 12;
    let best = null;
    let bestDistance = Infinity;
    for (let i = 1; i < steps; i++) {
      for (let j = 1; j < steps; j++) {
        const p = L.latLng(
          bounds.getSouth() + (bounds.getNorth() - bounds.getSouth()) * i / steps,
          bounds.getWest() + (bounds.getEast() - bounds.getWest()) * j / steps);
        const d = Math.pow(p.lat - centre.lat, 2) + Math.pow(p.lng - centre.lng, 2);
        if (d < bestDistance && kit.ringsContain(rings, p)) {
          best = p;
          bestDistance = d;
        }
      }
    }
    return { latlng: best || centre, bounds: bounds };
  }

  function labelUnits() {
    labels.clearLayers();
    if (!state.shapes) return;
    const take = kit.labelRoom();
    state.shapes.forEach(function (f) {
      if (!f.geometry) return;
      const row = rowOf(f.id);
      const place = labelPlace(f.geometry);
      const a = map.latLngToContainerPoint(place.bounds.getSouthWest());
      const z = map.latLngToContainerPoint(place.bounds.getNorthEast());
      const text = f.properties.name + (row && row.ratio !== null ? " " + percent(row.ratio) : "");
      const half = text.length * 4 + 6;
      if (z.x - a.x < 2 * half || a.y - z.y < 24) return;
      const pt = map.latLngToContainerPoint(place.latlng);
      if (!take([pt.x - half, pt.y - 9, pt.x + half, pt.y + 9])) return;
      labels.addLayer(L.tooltip({ permanent: true, direction: "center", interactive: false, className: "db-label" })
        .setLatLng(place.latlng).setContent(h("span", {}, text)));
    });
  }

  let focused = null;
  function focus(id) {
    if (focused && state.layers[focused]) state.layers[focused].setStyle(styleOf(rowOf(focused)));
    focused = id;
    const shape = state.layers[id];
    if (!shape) return;
    shape.setStyle(styleOf(rowOf(id), true));
    shape.bringToFront();
    document.querySelectorAll(".db-chart button.bar").forEach(function (b) {
      b.classList.toggle("chosen", Number(b.dataset.id) === id);
    });
  }

  // ---- the rebalance proposal (planners, node page) ------------------------------------------

  // An arrow from `a` to `b` (lon, lat): a line and a head sized to the arrow, in map units so it
  // scales with the map.
  function arrow(a, b) {
    const z = 20;
    const p = map.project([a[1], a[0]], z);
    const q = map.project([b[1], b[0]], z);
    const dx = q.x - p.x;
    const dy = q.y - p.y;
    const length = Math.sqrt(dx * dx + dy * dy) || 1;
    const head = Math.min(length * 0.3, 600);
    const ux = dx / length;
    const uy = dy / length;
    const base = L.point(q.x - ux * head, q.y - uy * head);
    const side = L.point(-uy * head * 0.5, ux * head * 0.5);
    const un = function (pt) { return map.unproject(pt, z); };
    return [
      L.polyline([un(p), un(base)], { pane: "db-arrows", color: "#4a148c", weight: 3, interactive: false }),
      L.polygon([un(q), un(base.add(side)), un(base.subtract(side))], {
        pane: "db-arrows", color: "#4a148c", weight: 1, fillColor: "#4a148c", fillOpacity: 1, interactive: false,
      }),
    ];
  }

  function drawProposal(answer) {
    groups.rebalance.clearLayers();
    answer.moves.forEach(function (m) {
      groups.rebalance.addLayer(L.geoJSON(m.area, {
        pane: "db-area", interactive: false,
        style: { color: "#8e24aa", weight: 2, dashArray: "5 4", fillColor: "#ce93d8", fillOpacity: 0.35 },
      }));
      groups.rebalance.addLayer(L.geoJSON(m.footprints, {
        pane: "db-buildings",
        style: { color: "#4a148c", weight: 1.5, fillColor: "#ff6f00", fillOpacity: 0.9 },
      }).bindTooltip(h("span", {}, [
        t("step", { n: m.step }), " · ", t("move", { from: m.from.name, to: m.to.name }), h("br"),
        t("buildings_moved", { buildings: m.buildings.map(function (b) { return b.name; }).join("、"), households: num(m.households) }),
      ])));
      arrow(m.arrow[0], m.arrow[1]).forEach(function (part) { groups.rebalance.addLayer(part); });
      // The step's number sits behind the buildings, opposite the way the arrow points.
      const p = map.project([m.arrow[0][1], m.arrow[0][0]], 20);
      const q = map.project([m.arrow[1][1], m.arrow[1][0]], 20);
      const length = p.distanceTo(q) || 1;
      const back = 22;
      groups.rebalance.addLayer(L.marker([m.arrow[0][1], m.arrow[0][0]], {
        pane: "db-arrows", interactive: false, keyboard: false,
        icon: L.divIcon({
          className: "db-step", html: h("span", {}, String(m.step)), iconSize: [20, 20],
          iconAnchor: [10 + back * (q.x - p.x) / length, 10 + back * (q.y - p.y) / length],
        }),
      }));
    });
  }

  function planLink(grid) {
    return h("a", { class: "plan-link", href: withQuery(cfg.plan, { unit: grid.id }) }, t("open_in_plan"));
  }

  function renderProposal(answer) {
    const parts = [h("p", { class: answer.balanced ? "ok" : "warn" }, bilingual(answer.detail))];
    if (answer.moves.length) {
      parts.push(h("h4", {}, t("moves")));
      parts.push(h("ol", { class: "db-moves" }, answer.moves.map(function (m) {
        return h("li", { "data-step": m.step }, [
          h("button", {
            type: "button", class: "link",
            onclick: function () { map.fitBounds(L.geoJSON(m.area).getBounds().pad(1.5), { maxZoom: 18 }); },
          }, [h("strong", {}, t("move", { from: m.from.name, to: m.to.name }))]),
          h("br"),
          t("buildings_moved", { buildings: m.buildings.map(function (b) { return b.name; }).join("、"), households: num(m.households) }),
          " · ", planLink(m.from),
        ]);
      })));
    } else {
      parts.push(h("p", { class: "muted" }, t("no_moves")));
    }
    parts.push(h("h4", {}, t("before_after")));
    parts.push(h("table", { class: "data before-after" }, [
      h("thead", {}, h("tr", {}, [
        h("th", {}, t("grid")), h("th", { class: "n" }, t("target")),
        h("th", { class: "n" }, t("households_before")), h("th", { class: "n" }, t("households_after")),
      ])),
      h("tbody", {}, answer.grids.map(function (g) {
        return h("tr", {}, [
          h("td", {}, g.name),
          h("td", { class: "n" }, num(g.target)),
          h("td", { class: "n" }, h("span", { class: "flag flag-" + g.flag_before }, num(g.households_before))),
          h("td", { class: "n" }, h("span", { class: "flag flag-" + g.flag_after }, num(g.households_after))),
        ]);
      })),
    ]));
    if (answer.refused.length) {
      parts.push(h("details", { class: "refused" }, [
        h("summary", {}, t("refused", { n: answer.refused.length })),
        h("ul", {}, answer.refused.map(function (r) {
          return h("li", {}, [
            h("strong", {}, t("move", { from: r.from.name, to: r.to.name })), " · ",
            r.buildings.map(function (b) { return b.name; }).join("、"), h("br"),
            h("span", { class: "muted" }, bilingual(r.detail)),
          ]);
        })),
      ]));
    }
    if (answer.moves.length) parts.push(applyControls(answer));
    fill(el.proposal, parts);
  }

  function applyControls(answer) {
    const box = h("div", { class: "db-apply" });
    const ask = h("button", { type: "button", class: "primary apply" }, t("apply_all"));
    ask.addEventListener("click", function () {
      fill(box, [
        h("p", {}, t("apply_confirm", { n: answer.moves.length })),
        h("button", { type: "button", class: "primary confirm", onclick: function () { applyAll(answer, box); } }, t("apply_go")),
        " ",
        h("button", { type: "button", class: "cancel", onclick: function () { fill(box, ask); } }, t("apply_cancel")),
      ]);
    });
    return fill(box, ask);
  }

  async function applyAll(answer, box) {
    fill(box, h("p", { class: "muted" }, t("applying")));
    let result;
    try {
      result = await request(cfg.api.apply, {
        json: {
          node: UNIT.id,
          moves: answer.moves.map(function (m) { return { area: m.area, transfer: m.transfer }; }),
        },
      });
    } catch (err) {
      fill(box, []);
      failed(err);
      return;
    }
    state.proposal = null;
    groups.rebalance.clearLayers();
    fill(el.proposal, []);
    status(t("applied", { n: answer.moves.length, edits: result.edits.map(function (e) { return "#" + e; }).join(" ") }), "ok");
    await load();
    document.body.dataset.dashboardLoaded = String(Date.now());
  }

  async function propose() {
    el.rebalance.disabled = true;
    status("");
    fill(el.proposal, h("p", { class: "muted" }, t("computing")));
    let answer;
    try {
      answer = await request(withQuery(cfg.api.rebalance, { node: UNIT.id }));
    } catch (err) {
      fill(el.proposal, []);
      failed(err);
      return;
    } finally {
      el.rebalance.disabled = false;
    }
    state.proposal = answer;
    drawProposal(answer);
    renderProposal(answer);
    el.proposal.scrollIntoView({ block: "nearest" });
    document.body.dataset.proposal = String(Date.now());
  }

  // ---- start ---------------------------------------------------------------------------------

  if (el.rebalance) el.rebalance.addEventListener("click", propose);
  map.on("zoomstart", function () { labels.clearLayers(); });
  kit.afterMove(map, labelUnits);
  kit.addLegend(map, "db-legend", "db-legend");

  load().then(function () {
    document.body.dataset.dashboardLoaded = String(Date.now());
    document.body.dataset.dashboardReady = "1";
  });
})();
