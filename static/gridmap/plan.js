/* The planner's map (/map/plan/): fills the folium map's layer groups from the API and the
   vector tiles (buildings, households per building), shows the selected unit in the side panel, and drives the boundary edit operations (docs/editing.md)
   with Geoman: preview first, then commit. Strings come translated from the page (#plan-i18n);
   what it shares with the other map pages is in mapkit.js (GridMapKit). */
(function () {
  "use strict";

  const kit = window.GridMapKit;
  const { h, fill, num, when, apiPath, withQuery, listOf } = kit;
  const { cfg, t, map, groups } = kit.page("plan");
  const { request, fetchAll } = kit.client({ t: t, csrfToken: cfg.csrfToken });
  const LEVELS = cfg.levels; // coarse to fine: network, segment, node, grid

  // Units of a level are fetched only from this zoom on (bbox queries stay small), and so are
  // the layers (buildings: their tiles).
  const LEVEL_MIN_ZOOM = { network: 0, segment: 0, node: 11, grid: 13 };
  const LAYER_MIN_ZOOM = { buildings: 16, cameras: 15, households: 14 };
  // Households are aggregated per grid when zoomed out, per building (tiles) from this zoom on.
  const HOUSEHOLDS_BY_BUILDING_ZOOM = 17;
  const LABEL_MIN_PX = 70; // a unit is labelled when it is at least this wide on screen
  const LEVEL_STYLE = {
    network: { color: "#6a1b9a", weight: 4, fill: false },
    segment: { color: "#263238", weight: 3, dashArray: "10 6", fill: false },
    node: { color: "#1e88e5", weight: 2.5, fillOpacity: 0.04, fillColor: "#1e88e5" },
    grid: { color: "#546e7a", weight: 1, fillOpacity: 0.35, fillColor: "#bdbdbd" },
  };
  const FLAG_COLOR = { under: "#74add1", ok: "#66bd63", over: "#f46d43" };
  const HOUSEHOLD_COLORS = ["red", "orange", "yellow", "blue", "green"];

  // ---- helpers -------------------------------------------------------------------------------

  function area(m2) {
    if (m2 === null || m2 === undefined) return "–";
    return m2 >= 10000 ? t("area_ha", { n: (m2 / 10000).toFixed(2) }) : t("area_m2", { n: Math.round(m2) });
  }

  // DRF-gis puts a unit's id on the feature, not among its properties; the page wants it there.
  function unitFeature(feature) {
    if (feature.properties.id === undefined) feature.properties.id = feature.id;
    return feature;
  }

  // ---- panes: coarse levels below fine ones, what is being edited above all ------------------

  // The selection outline and previews must not swallow the clicks meant for the units below.
  kit.createPanes(map, [
    ["gm-network", 401], ["gm-segment", 402], ["gm-node", 403], ["gm-grid", 404],
    ["gm-buildings", 410], ["gm-points", 420], ["gm-selection", 430], ["gm-history", 435],
    ["gm-preview", 440], ["gm-edit", 445], ["gm-where", 450],
  ], ["gm-selection", "gm-history", "gm-preview", "gm-where"]);
  const selectionLayer = L.featureGroup().addTo(map);
  const historyLayer = L.featureGroup().addTo(map);
  const previewLayer = L.featureGroup().addTo(map);
  const editLayer = L.featureGroup().addTo(map);
  const whereLayer = L.featureGroup().addTo(map);
  const labelLayer = L.layerGroup().addTo(map);

  // ---- state ---------------------------------------------------------------------------------

  const state = {
    units: {},          // level → {id → L.GeoJSON layer of the unit}
    load: {},           // grid id → {households, target, ratio, flag}
    selected: null,     // GeoJSON feature of the selected unit (with its version)
    reshaping: null,    // the editable copy of the selected unit's outline (reshape)
    mode: null,         // null | "reshape" | "split" | "merge" | "transfer" | "restore" | "undo"
    pending: null,      // {operation, unitId, url, body, versions} of the preview shown
  };
  LEVELS.forEach(function (level) { state.units[level] = {}; });

  const panel = {
    unit: document.getElementById("plan-unit"),
    tools: document.getElementById("plan-tools"),
    edit: document.getElementById("plan-edit"),
    history: document.getElementById("plan-history"),
    status: document.getElementById("plan-status"),
  };

  const status = kit.statusLine(panel.status);

  // ---- units of the four levels --------------------------------------------------------------

  function gridStyle(feature) {
    const load = state.load[feature.properties.id];
    const style = Object.assign({}, LEVEL_STYLE.grid);
    if (load && FLAG_COLOR[load.flag]) style.fillColor = FLAG_COLOR[load.flag];
    return style;
  }

  function styleFor(level) {
    return level === "grid" ? gridStyle : function () { return LEVEL_STYLE[level]; };
  }

  function unitTooltip(p) {
    return function () {
      const load = state.load[p.id];
      return h("div", {}, [
        h("strong", {}, t("level_" + p.level) + " " + p.name), h("br"), h("code", {}, p.code),
        load ? [h("br"), t("load_line", { households: num(load.households), target: num(load.target) })] : null,
      ].flat());
    };
  }

  async function loadLevel(level) {
    const group = groups[level];
    if (!map.hasLayer(group) || map.getZoom() < LEVEL_MIN_ZOOM[level]) {
      group.clearLayers();
      state.units[level] = {};
      return;
    }
    let features;
    try {
      features = (await fetchAll(
        withQuery(cfg.api.units, { level: level, bbox: kit.viewBbox(map), page_size: 5000 }), level)).features;
    } catch (err) {
      if (err.name !== "AbortError") status(err.message, "error");
      return;
    }
    const known = state.units[level];
    const seen = {};
    features.forEach(function (feature) {
      const p = unitFeature(feature).properties;
      seen[p.id] = true;
      const old = known[p.id];
      if (old && old.feature.properties.version === p.version) return;
      if (old) group.removeLayer(old);
      const layer = L.geoJSON(feature, { style: styleFor(level), pane: "gm-" + level });
      layer.feature = feature;
      layer.bindTooltip(unitTooltip(p), { sticky: true, className: "unit-hover" });
      layer.on("click", function (e) { onUnitClick(feature, e); });
      group.addLayer(layer);
      known[p.id] = layer;
    });
    Object.keys(known).forEach(function (id) {
      if (!seen[id]) { group.removeLayer(known[id]); delete known[id]; }
    });
    if (level === "grid") await loadGridLoad();
    updateLabels();
  }

  async function loadGridLoad() {
    let rows;
    try {
      rows = listOf(await request(withQuery(cfg.api.load, { level: "grid", bbox: kit.viewBbox(map) })), "units");
    } catch (err) {
      return;
    }
    rows.forEach(function (row) { state.load[row.id] = row; });
    Object.values(state.units.grid).forEach(function (layer) {
      layer.setStyle(gridStyle(layer.feature));
    });
  }

  function reloadUnits() {
    return Promise.all(LEVELS.map(loadLevel));
  }

  // A point well inside a unit for its label: in its largest part, the sample of a 9×9 lattice
  // farthest from every edge (the centre of a unit with holes or a U shape may lie outside it).
  function labelPoint(layer) {
    const version = layer.feature ? layer.feature.properties.version : null;
    if (layer._labelAt && layer._labelVersion === version) return layer._labelAt;
    let parts = [];
    layer.eachLayer(function (polygon) {
      let rings = polygon.getLatLngs();
      if (!Array.isArray(rings[0])) rings = [rings];
      if (!Array.isArray(rings[0][0])) rings = [rings];
      parts = parts.concat(rings);
    });
    let best = null;
    let bestSize = -1;
    parts.forEach(function (rings) {
      const b = L.latLngBounds(rings[0]);
      const size = (b.getEast() - b.getWest()) * (b.getNorth() - b.getSouth());
      if (size > bestSize) { bestSize = size; best = { rings: rings, bounds: b }; }
    });
    let at = layer.getBounds().getCenter();
    if (best) {
      const b = best.bounds;
      const kx = Math.cos(b.getCenter().lat * Math.PI / 180); // metres per degree east vs north
      let bestDist = -1;
      for (let i = 1; i < 10; i++) {
        for (let j = 1; j < 10; j++) {
          const candidate = L.latLng(
            b.getSouth() + (b.getNorth() - b.getSouth()) * i / 10,
            b.getWest() + (b.getEast() - b.getWest()) * j / 10);
          if (!kit.ringsContain(best.rings, candidate)) continue;
          const dist = distanceToRings(best.rings, candidate, kx);
          if (dist > bestDist) { bestDist = dist; at = candidate; }
        }
      }
    }
    layer._labelAt = at;
    layer._labelVersion = version;
    return at;
  }

  function distanceToRings(rings, p, kx) {
    let min = Infinity;
    rings.forEach(function (ring) {
      for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
        const ax = ring[j].lng * kx, ay = ring[j].lat, bx = ring[i].lng * kx, by = ring[i].lat;
        const px = p.lng * kx, py = p.lat;
        const dx = bx - ax, dy = by - ay;
        const len = dx * dx + dy * dy;
        const u = len ? Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / len)) : 0;
        min = Math.min(min, Math.hypot(px - (ax + u * dx), py - (ay + u * dy)));
      }
    });
    return min;
  }

  // Label the finest visible level whose units are wide enough on screen to carry a label;
  // wider units first, and a label that would cover one already placed is left out.
  function updateLabels() {
    labelLayer.clearLayers();
    // Positions computed in the middle of a zoom animation would be off; moveend comes next.
    if (map._animatingZoom) return;
    const view = map.getBounds();
    const finest = LEVELS.slice().reverse();
    for (const level of finest) {
      if (!map.hasLayer(groups[level])) continue;
      const candidates = Object.values(state.units[level]).filter(function (l) {
        return view.intersects(l.getBounds());
      }).map(function (layer) {
        const b = layer.getBounds();
        const width = map.latLngToContainerPoint(b.getNorthEast()).x - map.latLngToContainerPoint(b.getSouthWest()).x;
        return { layer: layer, width: width };
      });
      if (!candidates.length) continue;
      const widths = candidates.map(function (c) { return c.width; }).sort(function (a, b) { return a - b; });
      if (widths[Math.floor(widths.length / 2)] < LABEL_MIN_PX) continue;
      const take = kit.labelRoom();
      candidates.sort(function (a, b) { return b.width - a.width; }).forEach(function (c) {
        if (c.width < LABEL_MIN_PX) return;
        const p = c.layer.feature.properties;
        const at = labelPoint(c.layer);
        const pt = map.latLngToContainerPoint(at);
        const half = Math.max(p.name.length * 6.5, p.code.length * 3.3) + 6;
        const box = [pt.x - half, pt.y - 16, pt.x + half, pt.y + 16];
        if (!take(box)) return;
        labelLayer.addLayer(L.tooltip({
          permanent: true, direction: "center", interactive: false,
          className: "unit-label unit-label-" + level,
        }).setLatLng(at).setContent(
          h("span", {}, [h("span", { class: "name" }, p.name), h("span", { class: "code" }, p.code)])
        ));
      });
      break;
    }
  }

  // ---- buildings, cameras, households --------------------------------------------------------

  function popupTable(rows) {
    return h("table", { class: "popup" }, rows.filter(Boolean).map(function (row) {
      return h("tr", {}, [h("th", {}, row[0]), h("td", {}, row[1])]);
    }));
  }

  // Chips of the households of each colour in `colors` (default all five).
  function colorChips(counts, colors) {
    // null: too few households in the group for their colours to be shown.
    if (!counts) return h("span", { class: "chips" }, "–");
    return h("span", { class: "chips" }, (colors || HOUSEHOLD_COLORS).map(function (c) {
      return h("span", { class: "chip chip-" + c, title: t("color_" + c) }, num((counts || {})[c] || 0));
    }));
  }

  const HOUSEHOLD_STYLE = { color: "#e65100", weight: 1, fill: true, fillColor: "#ffb74d", fillOpacity: 0.7 };

  function householdRadius(n) {
    return Math.max(4, Math.min(24, Math.sqrt(n || 0) * 1.6));
  }

  function householdsTooltip(p) {
    return num(p.households) + " " + t("households_unit");
  }

  // Features of a vector tile layer: `popup(properties)` on click, `tooltip(properties)` on hover.
  function withPopups(layer, popup, tooltip) {
    layer.on("click", function (e) {
      L.DomEvent.stop(e); // as bindPopup does: the feature's click, not the map's
      L.popup().setLatLng(e.latlng).setContent(popup(e.layer.properties)).openOn(map);
    });
    if (tooltip) {
      const hover = L.tooltip({ direction: "top", offset: [0, -6] });
      layer.on("mouseover", function (e) {
        map.openTooltip(hover.setLatLng(e.latlng).setContent(tooltip(e.layer.properties)));
      });
      layer.on("mouseout", function () { map.closeTooltip(hover); });
    }
    return layer;
  }

  /* Buildings, and households counted per building, come as vector tiles (docs/tiles.md): only
     the tiles in view, however many buildings the city has; VectorGrid follows the map by
     itself. The published households layer gives red and orange counts only, and only for
     buildings with at least 3 households. */
  const TILE_LAYERS = {
    buildings: withPopups(kit.vectorTiles(cfg.api.tiles.buildings, {
      name: "buildings", pane: "gm-buildings", minZoom: LAYER_MIN_ZOOM.buildings,
      style: { color: "#5d4037", weight: 1, fill: true, fillColor: "#a1887f", fillOpacity: 0.55 },
    }), function (p) {
      return popupTable([
        [t("address"), (p.road || "") + (p.number || "") || p.name || "–"],
        [t("grid"), p.grid_code || "–"],
      ]);
    }),
    households: withPopups(kit.vectorTiles(cfg.api.tiles.households, {
      name: "households", pane: "gm-points", minZoom: HOUSEHOLDS_BY_BUILDING_ZOOM,
      style: function (p) { return Object.assign({ radius: householdRadius(p.households) }, HOUSEHOLD_STYLE); },
    }), function (p) {
      return h("div", {}, [
        popupTable([[t("households"), num(p.households)], [t("residents"), num(p.residents)]]),
        colorChips(p.red === undefined ? null : { red: p.red, orange: p.orange }, ["red", "orange"]),
      ]);
    }, householdsTooltip),
  };

  // GeoJSON by bounding box, for the layers that stay small: cameras, and households per grid
  // while zoomed out (below `maxZoom`, where the tiles take over).
  const POINT_LAYERS = {
    cameras: {
      url: function () { return withQuery(cfg.api.cameras, { bbox: kit.viewBbox(map) }); },
      layer: function (features) {
        return L.geoJSON(features, {
          pointToLayer: function (feature, latlng) {
            return L.circleMarker(latlng, {
              pane: "gm-points", radius: 5, color: "#4a148c", weight: 2, fillColor: "#ce93d8", fillOpacity: 0.9,
            });
          },
          onEachFeature: function (feature, layer) {
            const p = feature.properties;
            layer.bindPopup(function () {
              return popupTable([
                [t("camera"), (p.name || "") + " " + (p.code || "")],
                [t("status"), p.status ? t("camera_" + p.status) : "–"],
                [t("grid"), p.grid_code || "–"],
              ]);
            });
          },
        });
      },
    },
    households: {
      maxZoom: HOUSEHOLDS_BY_BUILDING_ZOOM,
      url: function () {
        return withQuery(cfg.api.households, { bbox: kit.viewBbox(map), group: "grid" });
      },
      layer: function (features) {
        return L.geoJSON(features, {
          pointToLayer: function (feature, latlng) {
            return L.circleMarker(latlng, Object.assign({
              pane: "gm-points", radius: householdRadius(feature.properties.households),
            }, HOUSEHOLD_STYLE));
          },
          onEachFeature: function (feature, layer) {
            const p = feature.properties;
            layer.bindTooltip(householdsTooltip(p));
            layer.bindPopup(function () {
              return h("div", {}, [
                popupTable([
                  [t("grid"), p.grid_name],
                  [t("households"), num(p.households)],
                  [t("residents"), num(p.residents)],
                ]),
                colorChips(p.colors),
              ]);
            });
          },
        });
      },
    },
  };

  // A layer group of the page holds its tiles, if any, and beside them the GeoJSON of its points.
  const pointHolders = {};
  Object.keys(TILE_LAYERS).forEach(function (key) {
    if (groups[key]) groups[key].addLayer(TILE_LAYERS[key]);
  });
  Object.keys(POINT_LAYERS).forEach(function (key) {
    if (groups[key]) pointHolders[key] = L.layerGroup().addTo(groups[key]);
  });

  async function loadPoints(key) {
    const holder = pointHolders[key];
    if (!holder) return;
    const zoom = map.getZoom();
    const maxZoom = POINT_LAYERS[key].maxZoom || Infinity;
    if (!map.hasLayer(groups[key]) || zoom < LAYER_MIN_ZOOM[key] || zoom >= maxZoom) {
      holder.clearLayers();
      return;
    }
    let features;
    try {
      features = (await fetchAll(POINT_LAYERS[key].url(), key)).features;
    } catch (err) {
      if (err.name !== "AbortError") status(err.message, "error");
      return;
    }
    holder.clearLayers();
    holder.addLayer(POINT_LAYERS[key].layer(features));
  }

  function reloadPoints() {
    return Promise.all(Object.keys(POINT_LAYERS).map(loadPoints));
  }

  // ---- selection and the side panel ----------------------------------------------------------

  function onUnitClick(feature, e) {
    if (state.mode === "split" || state.mode === "transfer" || state.mode === "reshape") return;
    L.DomEvent.stopPropagation(e);
    if (state.mode === "merge") { pickMergePartner(feature, e.latlng); return; }
    selectUnit(feature.properties.id);
  }

  function highlight(feature) {
    selectionLayer.clearLayers();
    if (!feature) return;
    selectionLayer.addLayer(L.geoJSON(feature, {
      pane: "gm-selection", interactive: false,
      style: { color: "#ffd600", weight: 5, opacity: 0.95, fill: false },
    }));
  }

  async function selectUnit(id, options) {
    let feature;
    try {
      feature = unitFeature(await request(apiPath(cfg.api.unit, id)));
    } catch (err) {
      status(err.message, "error");
      return;
    }
    state.selected = feature;
    highlight(feature);
    if (options && options.zoom) map.fitBounds(L.geoJSON(feature).getBounds(), { maxZoom: 18 });
    renderUnit(feature);
    updateTools();
    const url = new URL(window.location.href);
    url.searchParams.set("unit", id);
    window.history.replaceState(null, "", url);
    await Promise.all([loadSummary(feature), loadHistory(feature)]);
  }

  function renderUnit(feature) {
    const p = feature.properties;
    fill(panel.unit, [
      h("h2", {}, [h("span", { class: "level level-" + p.level }, t("level_" + p.level)), " ", p.name]),
      h("p", { class: "meta" }, [
        h("code", {}, p.code), " · ", t("version", { n: p.version }),
        p.parent_code ? [" · ", h("a", {
          href: "#", onclick: function (e) { e.preventDefault(); selectUnit(p.parent, { zoom: true }); },
        }, t("parent") + " " + p.parent_code)] : null,
      ].flat()),
      h("div", { id: "plan-summary", class: "summary" }, h("p", { class: "muted" }, t("loading"))),
    ]);
  }

  async function loadSummary(feature) {
    const box = document.getElementById("plan-summary");
    let s;
    try {
      s = await request(apiPath(cfg.api.summary, feature.properties.id));
    } catch (err) {
      fill(box, h("p", { class: "error" }, err.message));
      return;
    }
    if (!state.selected || state.selected.properties.id !== feature.properties.id) return;
    const rows = [
      [t("households"), num(s.households)],
      [t("residents"), num(s.residents)],
    ];
    const own = s.unit.level === "grid" && s.grids && s.grids[0];
    if (own) {
      rows.push([t("target"), num(own.target)]);
      rows.push([t("workload"), h("span", { class: "flag flag-" + own.flag }, t("flag_" + own.flag) + " · " + Math.round(own.ratio * 100) + "%")]);
    }
    if (s.required_staff !== undefined) rows.push([t("required_staff"), num(s.required_staff)]);
    if (s.grids && s.grids.length > 1) {
      rows.push([t("grids_flagged"), num(s.grids_flagged) + " / " + num(s.grids.length)]);
    }
    const parts = [
      popupTable(rows),
      h("p", { class: "colors" }, [t("by_color"), " ", colorChips(s.households_by_color)]),
    ];
    const many = s.grids && s.grids.length > 30;
    const shown = many ? s.grids.filter(function (g) { return g.flag !== "ok"; }) : s.grids || [];
    if (many) parts.push(h("h4", {}, t("flagged_grids")));
    if (shown.length && s.unit.level !== "grid") {
      parts.push(h("table", { class: "data" }, [
        h("thead", {}, h("tr", {}, [t("grid"), t("households"), t("target"), ""].map(function (c) {
          return h("th", {}, c);
        }))),
        h("tbody", {}, shown.map(function (g) {
          return h("tr", { class: "flag-" + g.flag }, [
            h("td", {}, h("a", {
              href: "#", title: g.code,
              onclick: function (e) { e.preventDefault(); selectUnit(g.id, { zoom: true }); },
            }, g.name)),
            h("td", { class: "num" }, num(g.households)),
            h("td", { class: "num" }, num(g.target)),
            h("td", {}, h("span", { class: "flag flag-" + g.flag }, t("flag_" + g.flag))),
          ]);
        })),
      ]));
    }
    fill(box, parts);
  }

  async function loadHistory(feature) {
    const id = feature.properties.id;
    fill(panel.history, [h("h3", {}, t("history")), h("p", { class: "muted" }, t("loading"))]);
    let versions;
    try {
      versions = listOf(await request(apiPath(cfg.api.history, id)), "versions");
    } catch (err) {
      fill(panel.history, [h("h3", {}, t("history")), h("p", { class: "muted" }, err.message)]);
      return;
    }
    if (!state.selected || state.selected.properties.id !== id) return;
    versions = versions.slice().sort(function (a, b) { return b.version - a.version; });
    const current = feature.properties.version;
    fill(panel.history, [
      h("h3", {}, t("history")),
      versions.length ? h("ol", { class: "history" }, versions.map(function (v) {
        const edit = v.edit || {};
        const isCurrent = v.version === current;
        return h("li", {
          class: isCurrent ? "current" : null,
          onmouseenter: function () { showHistoryGeometry(v.geometry); },
          onmouseleave: function () { showHistoryGeometry(null); },
        }, [
          h("div", { class: "row" }, [
            h("strong", {}, t("version", { n: v.version })),
            " ",
            h("span", { class: "op" }, edit.operation ? t("op_" + edit.operation) : t("op_created")),
            isCurrent ? h("span", { class: "badge" }, t("current")) : null,
          ]),
          h("div", { class: "muted" }, [when(v.valid_from), edit.user ? " · " + edit.user : ""]),
          edit.note ? h("div", { class: "note" }, edit.note) : null,
          cfg.canEdit && !isCurrent && v.geometry ? h("button", {
            type: "button", class: "restore",
            onclick: function () { startRestore(v.version); },
          }, t("restore")) : null,
          cfg.canEdit && isCurrent && edit.id && edit.operation !== "undo" ? h("button", {
            type: "button", class: "undo",
            onclick: function () { startUndo(edit.id); },
          }, t("undo")) : null,
        ]);
      })) : h("p", { class: "muted" }, t("no_history")),
    ]);
  }

  function showHistoryGeometry(geometry) {
    historyLayer.clearLayers();
    if (!geometry) return;
    historyLayer.addLayer(L.geoJSON(geometry, {
      pane: "gm-history", interactive: false,
      style: { color: "#455a64", weight: 2, dashArray: "4 4", fillOpacity: 0.1 },
    }));
  }

  // ---- search --------------------------------------------------------------------------------

  function initSearch() {
    const form = document.getElementById("plan-search");
    const input = form.querySelector("input");
    const results = document.getElementById("plan-search-results");
    form.addEventListener("submit", async function (e) {
      e.preventDefault();
      const q = input.value.trim();
      if (!q) { results.hidden = true; return; }
      let hits;
      try {
        hits = listOf(await request(withQuery(cfg.api.search, { q: q })), "results");
      } catch (err) {
        fill(results, h("li", { class: "error" }, err.message));
        results.hidden = false;
        return;
      }
      fill(results, hits.length ? hits.map(function (hit) {
        return h("li", {}, h("button", {
          type: "button", onclick: function () { goTo(hit); results.hidden = true; },
        }, [
          h("span", { class: "kind" }, hit.type === "unit" ? t("level_" + hit.level) : t("building")),
          " ", hit.label, hit.code ? h("code", {}, hit.code) : null,
        ]));
      }) : h("li", { class: "muted" }, t("no_results")));
      results.hidden = false;
    });
  }

  function goTo(hit) {
    if (hit.bbox && hit.bbox.length === 4) {
      map.fitBounds([[hit.bbox[1], hit.bbox[0]], [hit.bbox[3], hit.bbox[2]]], { maxZoom: 18 });
    } else if (hit.point) {
      map.setView([hit.point[1], hit.point[0]], 18);
    }
    if (hit.type === "unit") {
      selectUnit(hit.id);
    } else if (hit.point) {
      L.popup().setLatLng([hit.point[1], hit.point[0]])
        .setContent(popupTable([[t("building"), hit.label]])).openOn(map);
    }
  }

  // ---- editing -------------------------------------------------------------------------------

  function updateTools() {
    if (!panel.tools) return;
    panel.tools.querySelectorAll("button[data-tool]").forEach(function (button) {
      button.disabled = !state.selected || (state.mode !== null && state.mode !== button.dataset.tool);
      button.classList.toggle("active", state.mode === button.dataset.tool);
    });
  }

  function clearEdit() {
    if (map.pm) {
      map.pm.disableDraw();
      editLayer.eachLayer(function (layer) { if (layer.pm) layer.pm.disable(); });
    }
    editLayer.clearLayers();
    previewLayer.clearLayers();
    whereLayer.clearLayers();
    state.mode = null;
    state.pending = null;
    state.reshaping = null;
    fill(panel.edit, []);
    panel.edit.hidden = true;
    labelLayer.addTo(map);
    updateTools();
  }

  function editPanel(title, children) {
    panel.edit.hidden = false;
    fill(panel.edit, [h("h3", {}, title)].concat(children));
  }

  function cancelButton() {
    return h("button", { type: "button", class: "cancel", onclick: clearEdit }, t("cancel"));
  }

  function noteInput() {
    return h("label", { class: "note" }, [t("note"), h("input", { type: "text", name: "note", maxlength: "200" })]);
  }

  function reshapePreviewButton() {
    return h("button", {
      type: "button", class: "primary",
      onclick: function () {
        preview("reshape", {
          version: state.selected.properties.version,
          geometry: state.reshaping.toGeoJSON(false).geometry,
        });
      },
    }, t("preview"));
  }

  function startTool(tool) {
    if (!state.selected) return;
    clearEdit();
    state.mode = tool;
    updateTools();
    const unit = state.selected;
    if (tool === "reshape") {
      const shape = L.geoJSON(unit.geometry, {
        pane: "gm-edit", style: { color: "#d81b60", weight: 2, fillOpacity: 0.15 },
      }).getLayers()[0];
      editLayer.addLayer(shape);
      shape.pm.enable({ allowSelfIntersection: false, snappable: true });
      state.reshaping = shape;
      editPanel(t("tool_reshape"), [
        h("p", {}, t("help_reshape")),
        h("div", { class: "buttons" }, [reshapePreviewButton(), cancelButton()]),
      ]);
    } else if (tool === "split") {
      map.pm.enableDraw("Line", { snappable: true, finishOn: null });
      editPanel(t("tool_split"), [
        h("p", {}, t("help_split")),
        h("label", { class: "name" }, [t("new_unit_name"), h("input", { type: "text", name: "new_name", maxlength: "100" })]),
        h("div", { class: "buttons" }, [cancelButton()]),
      ]);
    } else if (tool === "transfer") {
      map.pm.enableDraw("Polygon", { snappable: true, allowSelfIntersection: false });
      editPanel(t("tool_transfer"), [h("p", {}, t("help_transfer")), h("div", { class: "buttons" }, [cancelButton()])]);
    } else if (tool === "merge") {
      editPanel(t("tool_merge"), [h("p", {}, t("help_merge")), h("div", { class: "buttons" }, [cancelButton()])]);
    }
  }

  function onDrawn(e) {
    const unit = state.selected;
    if (!unit || !state.mode) { map.removeLayer(e.layer); return; }
    map.removeLayer(e.layer);
    editLayer.addLayer(e.layer);
    e.layer.setStyle({ color: "#d81b60", weight: 3 });
    const geometry = e.layer.toGeoJSON(false).geometry;
    if (state.mode === "split" && e.shape === "Line") {
      const nameInput = panel.edit.querySelector("input[name=new_name]");
      const body = { version: unit.properties.version, line: geometry };
      if (nameInput && nameInput.value.trim()) body.name = nameInput.value.trim();
      preview("split", body);
    } else if (state.mode === "transfer" && e.shape === "Polygon") {
      preview("transfer", { version: unit.properties.version, area: geometry });
    }
  }

  // Is the point inside the (multi)polygon layer, holes excluded?
  function layerContains(layer, latlng) {
    let inside = false;
    layer.eachLayer(function (polygon) {
      let rings = polygon.getLatLngs();
      if (!Array.isArray(rings[0])) rings = [rings];
      if (!Array.isArray(rings[0][0])) rings = [rings];
      rings.forEach(function (polygonRings) { if (kit.ringsContain(polygonRings, latlng)) inside = true; });
    });
    return inside;
  }

  function pickMergePartner(feature, latlng) {
    const unit = state.selected.properties;
    if (feature.properties.level !== unit.level && latlng) {
      // A finer level is drawn on top; look for the unit of the selected level under the click.
      const hit = Object.values(state.units[unit.level]).find(function (layer) {
        return layerContains(layer, latlng);
      });
      if (hit) feature = hit.feature;
    }
    const other = feature.properties;
    if (other.id === unit.id || other.level !== unit.level || other.parent !== unit.parent) {
      status(t("merge_pick_sibling"), "error");
      return;
    }
    status("");
    preview("merge", { version: unit.version, other: other.id, other_version: other.version });
  }

  function startRestore(toVersion) {
    if (!state.selected) return;
    clearEdit();
    state.mode = "restore";
    updateTools();
    preview("restore", { version: state.selected.properties.version, to_version: toVersion });
  }

  function startUndo(editId) {
    if (!state.selected) return;
    clearEdit();
    state.mode = "undo";
    updateTools();
    preview("undo", {}, apiPath(cfg.api.undo, editId));
  }

  // An edit of the selected unit, or `url` for one that is not addressed by the unit (undo).
  async function preview(operation, body, url) {
    const unitId = state.selected.properties.id;
    url = url || apiPath(cfg.api.edit[operation], unitId);
    whereLayer.clearLayers();
    editPanel(t("tool_" + operation), [h("p", { class: "muted" }, t("previewing"))]);
    let answer;
    try {
      answer = await request(url, { json: Object.assign({}, body, { preview: true }) });
    } catch (err) {
      showError(operation, err);
      return;
    }
    state.pending = { operation: operation, unitId: unitId, url: url, body: body, versions: answer.versions };
    if (map.pm) map.pm.disableDraw();
    editLayer.eachLayer(function (layer) { if (layer.pm) layer.pm.disable(); });
    showPreview(operation, answer);
  }

  function drawPreview(units) {
    previewLayer.clearLayers();
    map.removeLayer(labelLayer); // the units' own labels would sit under the preview's
    units.forEach(function (u) {
      if (!u.geometry) return;
      const shape = L.geoJSON(u.geometry, {
        pane: "gm-preview", interactive: false,
        style: {
          color: u.action === "created" ? "#00897b" : "#d81b60", weight: 3, dashArray: "6 5",
          fillOpacity: 0.12, fillColor: u.action === "created" ? "#4db6ac" : "#f48fb1",
        },
      });
      previewLayer.addLayer(shape);
      previewLayer.addLayer(L.tooltip({
        permanent: true, direction: "center", interactive: false,
        className: "preview-label preview-label-" + u.action,
      }).setLatLng(labelPoint(shape)).setContent(h("span", {}, [
        u.name || t("new_unit"), h("br"), h("code", {}, u.code || "–"),
      ])));
    });
    const shapes = previewLayer.getLayers().filter(function (l) { return l.getBounds; });
    if (shapes.length) map.fitBounds(L.featureGroup(shapes).getBounds(), { maxZoom: 19, padding: [30, 30] });
  }

  function unitsTable(units) {
    return h("table", { class: "data changes" }, [
      h("thead", {}, h("tr", {}, [t("unit"), t("change"), t("area")].map(function (c) { return h("th", {}, c); }))),
      h("tbody", {}, units.map(function (u) {
        return h("tr", { class: "action-" + u.action }, [
          h("td", {}, [u.name || t("new_unit"), h("br"), h("code", {}, u.code || "–")]),
          h("td", {}, t("action_" + u.action)),
          h("td", { class: "num" }, [
            u.action === "created" ? "–" : area(u.area_m2_before), h("br"), "→ ",
            u.action === "deleted" ? "–" : area(u.area_m2_after),
          ]),
        ]);
      })),
    ]);
  }

  function reassignmentTable(reassignment) {
    const rows = [];
    Object.keys(reassignment || {}).forEach(function (layer) {
      (reassignment[layer].pairs || []).forEach(function (pair) {
        rows.push(h("tr", {}, [
          h("td", {}, t("layer_" + layer)),
          h("td", {}, [h("code", {}, pair.from || "–"), " → ", h("code", {}, pair.to || "–")]),
          h("td", { class: "num" }, num(pair.count)),
        ]));
      });
    });
    if (!rows.length) return h("p", { class: "muted" }, t("nothing_moves"));
    return h("table", { class: "data reassignment" }, [
      h("thead", {}, h("tr", {}, [t("layer"), t("from_to"), t("count")].map(function (c) { return h("th", {}, c); }))),
      h("tbody", {}, rows),
    ]);
  }

  function loadTable(load) {
    if (!load || !load.length) return h("p", { class: "muted" }, t("no_load_change"));
    return h("table", { class: "data load" }, [
      h("thead", {}, h("tr", {}, [t("grid"), t("households"), t("target"), ""].map(function (c) { return h("th", {}, c); }))),
      h("tbody", {}, load.map(function (row) {
        return h("tr", { class: "flag-" + row.flag }, [
          h("td", {}, [row.name || "", h("br"), h("code", {}, row.code || t("new_unit"))]),
          h("td", { class: "num" }, [num(row.households_before), " → ", h("strong", {}, num(row.households_after))]),
          h("td", { class: "num" }, num(row.target)),
          h("td", {}, row.flag ? h("span", { class: "flag flag-" + row.flag }, t("flag_" + row.flag)) : "–"),
        ]);
      })),
    ]);
  }

  function staffMoved(moves, units) {
    if (!moves || !moves.length) return null;
    const code = function (id) {
      const unit = units.find(function (u) { return u.id === id; });
      return unit ? unit.code : String(id);
    };
    return h("div", {}, [
      h("h4", {}, t("staff_moved")),
      h("ul", { class: "staff-moved" }, moves.map(function (m) {
        return h("li", {}, t("staff_moved_line", { n: (m.staff || []).length, from: code(m.from), to: code(m.to) }));
      })),
    ]);
  }

  function showPreview(operation, answer) {
    const units = answer.units || [];
    drawPreview(units);
    editPanel(t("preview_of", { operation: t("tool_" + operation) }), [
      h("div", { class: "preview", id: "plan-preview" }, [
        h("h4", {}, t("affected_units")), unitsTable(units),
        h("h4", {}, t("reassignment")), reassignmentTable(answer.reassignment),
        h("h4", {}, t("workload")), loadTable(answer.load),
        staffMoved(answer.staff_moved, units),
      ]),
      noteInput(),
      h("div", { class: "buttons" }, [
        h("button", { type: "button", class: "primary commit", onclick: commit }, t("commit")),
        cancelButton(),
      ]),
    ]);
  }

  async function commit() {
    const pending = state.pending;
    if (!pending) return;
    const note = panel.edit.querySelector("input[name=note]");
    const body = Object.assign({}, pending.body, { preview: false });
    if (pending.operation !== "undo") body.versions = pending.versions;
    if (note && note.value.trim()) body.note = note.value.trim();
    panel.edit.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
    let answer;
    try {
      answer = await request(pending.url, { json: body });
    } catch (err) {
      showError(pending.operation, err);
      return;
    }
    clearEdit();
    status(t("committed", { operation: t("tool_" + pending.operation), id: answer.edit ? answer.edit.id : "" }), "ok");
    LEVELS.forEach(function (level) { state.units[level] = {}; groups[level].clearLayers(); });
    await reloadUnits();
    const kept = (answer.units || []).find(function (u) { return u.id === pending.unitId; });
    if (!kept || kept.action !== "deleted") await selectUnit(pending.unitId);
    else { state.selected = null; highlight(null); updateTools(); }
  }

  // The places named in an error's `where`: GeoJSON geometries, and "point": [lon, lat] with
  // whatever the same object says about it (area_m2, unit), e.g. each of a list of gaps.
  function placesIn(value, found) {
    found = found || [];
    if (Array.isArray(value)) value.forEach(function (v) { placesIn(v, found); });
    else if (value && typeof value === "object") {
      if (typeof value.type === "string" && (value.coordinates || value.geometries)) {
        found.push({ geometry: value, info: {} });
        return found;
      }
      const p = value.point;
      if (Array.isArray(p) && p.length === 2 && p.every(function (c) { return typeof c === "number"; })) {
        found.push({ geometry: { type: "Point", coordinates: p }, info: value });
      }
      Object.keys(value).forEach(function (k) { if (k !== "point") placesIn(value[k], found); });
    }
    return found;
  }

  function placeLabel(info) {
    const parts = [];
    if (info.unit) parts.push(info.unit);
    if (info.units) parts.push(info.units.join(" / "));
    if (info.area_m2 !== undefined) parts.push(area(info.area_m2));
    return parts.join(" · ");
  }

  function showError(operation, err) {
    const body = err.body || {};
    const children = [
      h("div", { class: "error-box", role: "alert" }, [
        h("strong", {}, t("error_status", { status: err.status })),
        body.error ? h("code", {}, body.error) : null,
        h("p", {}, body.detail || err.message),
      ]),
    ];
    const where = placesIn(body.where);
    whereLayer.clearLayers();
    where.forEach(function (place) {
      const shape = L.geoJSON(place.geometry, {
        pane: "gm-where", interactive: false,
        pointToLayer: function (f, latlng) {
          return L.circleMarker(latlng, { pane: "gm-where", radius: 9, color: "#b71c1c", weight: 3, fillColor: "#ff5252", fillOpacity: 0.6 });
        },
        style: { color: "#b71c1c", weight: 2, fillColor: "#ff5252", fillOpacity: 0.35 },
      });
      whereLayer.addLayer(shape);
      const label = placeLabel(place.info);
      if (label) {
        whereLayer.addLayer(L.tooltip({ permanent: true, direction: "right", offset: [10, 0], className: "where-label" })
          .setLatLng(shape.getBounds().getCenter()).setContent(label));
      }
    });
    if (where.length) {
      children.push(h("p", { class: "muted" }, t("where_marked")));
      const shapes = whereLayer.getLayers().filter(function (l) { return l.getBounds; });
      const bounds = L.featureGroup(shapes).getBounds();
      if (!map.getBounds().contains(bounds)) map.fitBounds(bounds.pad(0.5), { maxZoom: 19 });
    }
    const buttons = [];
    if (err.status === 409) {
      children.push(h("p", {}, t("stale_help")));
      buttons.push(h("button", {
        type: "button", class: "primary reload",
        onclick: async function () {
          const id = state.selected.properties.id;
          clearEdit();
          LEVELS.forEach(function (level) { state.units[level] = {}; groups[level].clearLayers(); });
          await reloadUnits();
          await selectUnit(id);
        },
      }, t("reload_unit")));
    } else if (operation === "reshape" && state.reshaping) {
      // The edited outline stays editable: move the vertex back inside and preview again.
      buttons.push(reshapePreviewButton());
    } else if (operation === "split" || operation === "transfer") {
      buttons.push(h("button", { type: "button", onclick: function () { startTool(operation); } }, t("try_again")));
    }
    buttons.push(cancelButton());
    children.push(h("div", { class: "buttons" }, buttons));
    editPanel(t("tool_" + operation), children);
  }

  function initTools() {
    if (!cfg.canEdit || !panel.tools || !map.pm) return;
    map.pm.setGlobalOptions({
      panes: { layerPane: "gm-edit", vertexPane: "markerPane", markerPane: "markerPane" },
      pathOptions: { color: "#d81b60", weight: 3 },
      templineStyle: { color: "#d81b60", weight: 3 },
      hintlineStyle: { color: "#d81b60", dashArray: [5, 5] },
    });
    map.pm.setLang(kit.chinese ? "zh" : "en");
    map.on("pm:create", onDrawn);
    panel.tools.querySelectorAll("button[data-tool]").forEach(function (button) {
      button.addEventListener("click", function () {
        if (state.mode === button.dataset.tool) clearEdit();
        else startTool(button.dataset.tool);
      });
    });
    document.addEventListener("keydown", function (e) {
      if (e.key === "Escape" && state.mode) clearEdit();
    });
    updateTools();
  }

  // ---- import of boundaries (planners) -------------------------------------------------------

  /* The form posts the file as a dry run first and shows the report; "commit" posts the same
     form data again with commit=true, then the unit layers are reloaded. */
  function initImport() {
    const form = document.getElementById("plan-import-form");
    if (!form || !cfg.api.importUnits) return;
    const box = document.getElementById("plan-import-report");
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      runImport(form, box, new FormData(form), false);
    });
  }

  async function runImport(form, box, data, commit) {
    const buttons = form.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    whereLayer.clearLayers();
    fill(box, h("p", { class: "muted" }, t(commit ? "import_running" : "previewing")));
    const body = new FormData();
    data.forEach(function (value, key) { body.append(key, value); });
    if (commit) body.set("commit", "true");
    let report;
    try {
      report = await request(cfg.api.importUnits, { form: body });
    } catch (err) {
      const refused = err.body && err.body.where && err.body.where.counts ? err.body.where : null;
      fill(box, [
        h("div", { class: "error-box", role: "alert" }, [
          h("strong", {}, t("error_status", { status: err.status })),
          err.body && err.body.error ? h("code", {}, err.body.error) : null,
          h("p", {}, (err.body && err.body.detail) || err.message),
        ]),
        refused ? importReport(refused) : null,
      ]);
      return;
    } finally {
      buttons.forEach(function (b) { b.disabled = false; });
    }
    if (commit) {
      fill(box, importReport(report));
      status(t("import_committed", { created: report.counts.created, changed: report.counts.changed }), "ok");
      LEVELS.forEach(function (level) { state.units[level] = {}; groups[level].clearLayers(); });
      await reloadUnits();
      document.body.dataset.planImported = String(Number(document.body.dataset.planImported || 0) + 1);
      return;
    }
    fill(box, [
      importReport(report),
      h("p", { class: "muted" }, t("import_nothing_written")),
      h("div", { class: "buttons" }, [
        h("button", {
          type: "button", class: "primary commit", disabled: !report.ok,
          onclick: function () { runImport(form, box, data, true); },
        }, t("import_commit")),
      ]),
    ]);
    const points = report.items.map(function (i) { return i.point; }).filter(Boolean);
    if (points.length) {
      map.fitBounds(L.latLngBounds(points.map(function (p) { return [p[1], p[0]]; })).pad(0.3), { maxZoom: 17 });
    }
  }

  function showOnMap(point, label) {
    whereLayer.clearLayers();
    const latlng = [point[1], point[0]];
    whereLayer.addLayer(L.circleMarker(latlng, {
      pane: "gm-where", radius: 9, color: "#b71c1c", weight: 3, fillColor: "#ff5252", fillOpacity: 0.6,
    }));
    whereLayer.addLayer(L.tooltip({ permanent: true, direction: "right", offset: [10, 0], className: "where-label" })
      .setLatLng(latlng).setContent(label));
    map.setView(latlng, Math.max(map.getZoom(), 17));
  }

  // The counts, the notes, then every problem (the file's, then the topology's) and repair, each
  // with its place on the map.
  function importReport(report) {
    const c = report.counts;
    const problems = (report.problems || []).concat(report.topology || []);
    const located = function (item, text) {
      const label = (item.feature ? t("import_feature", { n: item.feature }) + " " : "") + (item.code || "");
      return h("li", { class: item.severity === "warning" ? "muted" : "error" }, [
        h("strong", {}, label), " ",
        item.severity === "warning" ? "(" + t("import_warning") + ") " : "",
        text,
        item.point ? [" ", h("button", {
          type: "button", class: "show-on-map",
          onclick: function () { showOnMap(item.point, label || text); },
        }, t("show_on_map"))] : null,
      ].flat());
    };
    return h("div", { class: "preview", id: "plan-import-result" }, [
      h("p", {}, t("import_counts", { created: c.created, changed: c.changed, unchanged: c.unchanged, fixed: c.fixed })),
      (report.notes || []).length ? h("ul", { class: "muted" }, report.notes.map(function (n) { return h("li", {}, n); })) : null,
      problems.length ? h("h4", {}, t("import_problems", { errors: c.errors, warnings: c.warnings })) : null,
      problems.length ? h("ul", { class: "import-problems" }, problems.map(function (p) { return located(p, p.detail); })) : null,
      (report.fixed || []).length ? h("h4", {}, t("import_fixed")) : null,
      (report.fixed || []).length ? h("ul", { class: "import-fixed" }, report.fixed.map(function (f) {
        return located(f, t("import_fixed_line", { reason: f.reason, before: area(f.area_m2_before), after: area(f.area_m2_after) }));
      })) : null,
    ]);
  }

  // ---- legend, events, start -----------------------------------------------------------------

  kit.afterMove(map, function () {
    reloadUnits();
    reloadPoints();
  });
  map.on("zoomstart", function () { labelLayer.clearLayers(); });
  kit.onOverlayToggle(map, groups, function (key) {
    if (LEVELS.includes(key)) loadLevel(key);
    else loadPoints(key);
  });
  map.on("click", function (e) {
    if (state.mode !== "merge") return;
    const level = state.selected.properties.level;
    const hit = Object.values(state.units[level]).find(function (layer) { return layerContains(layer, e.latlng); });
    if (hit) pickMergePartner(hit.feature, e.latlng);
    else status(t("merge_pick_sibling"), "error");
  });

  kit.addLegend(map, "plan-legend", "plan-legend");
  initSearch();
  initTools();
  initImport();
  const startUnit = new URL(window.location.href).searchParams.get("unit");
  reloadUnits().then(function () {
    document.body.dataset.planReady = "1";
  });
  reloadPoints();
  if (startUnit && /^\d+$/.test(startUnit)) selectUnit(Number(startUnit), { zoom: true });
})();
