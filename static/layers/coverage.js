/* The 15-minute service circles (/map/coverage/, docs/coverage.md): for one kind of facility and
   one walking time, the facilities and their circles, each grid's share of households within
   reach, households per building by their walking time with those left out highlighted, the
   coverage of every kind in the chosen unit, and where new facilities would reach the most.
   Strings come translated from the page (#coverage-i18n); what it shares with the other map
   pages is in gridmap/mapkit.js (GridMapKit). */
(function () {
  "use strict";

  const kit = window.GridMapKit;
  const { h, fill, num, apiPath, withQuery } = kit;
  const { cfg, t, map, groups } = kit.page("coverage");
  const KIND = Object.fromEntries(cfg.kinds);
  const THRESHOLDS = cfg.thresholds;
  const FARTHEST = THRESHOLDS[THRESHOLDS.length - 1];

  // Layers loaded by bounding box are fetched only from these zooms on, so requests stay small;
  // walking times per building are drawn one marker a building, so they wait for a closer view.
  const MIN_ZOOM = { grid: 13, isochrones: 11, facilities: 11, holes: 13, households: 15 };
  // Share of households within reach: < 20 %, 20–40, 40–60, 60–80, 80–99, all.
  const SHARE_COLORS = ["#d73027", "#fc8d59", "#fee08b", "#d9ef8b", "#91cf60", "#1a9850"];
  const NO_HOUSEHOLDS = "#cfd8dc";
  // Walking time per building: the band of its farthest household; the chart uses the same.
  const BAND_COLORS = { 5: "#0b3d91", 10: "#3d85c6", 15: "#9fc5e8", far: "#d32f2f", unknown: "#9e9e9e" };
  const GRIDS_LISTED = 5;

  const { request, fetchAll } = kit.client({ t: t, csrfToken: cfg.csrfToken });

  kit.createPanes(map, [
    ["cv-grid", 401], ["cv-iso", 405], ["cv-selected", 407], ["cv-households", 420],
    ["cv-holes", 425], ["cv-facilities", 430], ["cv-sites", 440],
  ], ["cv-iso", "cv-selected"]);
  const selectedLayer = L.layerGroup().addTo(map);
  const gridLabels = L.layerGroup().addTo(map);

  const el = {
    choice: document.getElementById("cv-choice"),
    status: document.getElementById("cv-status"),
    view: document.getElementById("cv-view"),
    unit: document.getElementById("cv-unit"),
    siting: document.getElementById("cv-siting"),
    sites: document.getElementById("cv-sites"),
  };
  const status = kit.statusLine(el.status);

  const state = {
    kind: el.choice.querySelector("select[name=kind]").value,
    minutes: Number(el.choice.querySelector("input[name=minutes]:checked").value),
    unit: null,       // {feature, coverage}: the unit whose chart is shown
    buildings: null,  // the view's buildings with their walking times (null: zoomed out)
    facilitiesInView: null,
  };

  // ---- helpers -------------------------------------------------------------------------------

  function percent(share) {
    return share === null || share === undefined ? "–" : num(share * 100) + "%";
  }

  function shareColor(share) {
    if (share === null || share === undefined) return NO_HOUSEHOLDS;
    if (share >= 1) return SHARE_COLORS[5];
    return SHARE_COLORS[Math.min(4, Math.floor(share * 5))];
  }

  // The shares of one kind in a unit's coverage row; null when the unit has no households.
  function kindRow(row, kind) {
    const found = (row && row.kinds || []).find(function (k) { return k.kind === kind; });
    return found && found.households ? found : null;
  }

  function failed(err) {
    if (err.name !== "AbortError") status(err.message, "error");
  }

  // One request at a time per key: a newer one aborts the one under way.
  const running = {};
  function latest(key) {
    if (running[key]) running[key].abort();
    running[key] = new AbortController();
    return { signal: running[key].signal };
  }

  // ---- grids as a choropleth -----------------------------------------------------------------

  function labelGrids(features, shares) {
    gridLabels.clearLayers();
    const take = kit.labelRoom();
    features.forEach(function (f) {
      const b = L.geoJSON(f).getBounds();
      const a = map.latLngToContainerPoint(b.getSouthWest());
      const z = map.latLngToContainerPoint(b.getNorthEast());
      const share = shares[f.id];
      const text = f.properties.name + (share === null || share === undefined ? "" : " " + percent(share));
      const half = text.length * 4 + 6;
      if (z.x - a.x < 2 * half || a.y - z.y < 24) return;
      const pt = map.latLngToContainerPoint(b.getCenter());
      if (!take([pt.x - half, pt.y - 9, pt.x + half, pt.y + 9])) return;
      gridLabels.addLayer(L.tooltip({ permanent: true, direction: "center", interactive: false, className: "cv-grid-label" })
        .setLatLng(b.getCenter()).setContent(h("span", {}, text)));
    });
  }

  async function loadGrid() {
    const group = groups.grid;
    if (!map.hasLayer(group) || map.getZoom() < MIN_ZOOM.grid) {
      group.clearLayers();
      gridLabels.clearLayers();
      return;
    }
    const bbox = kit.viewBbox(map);
    let units, rows;
    try {
      [units, rows] = await Promise.all([
        fetchAll(withQuery(cfg.api.units, { level: "grid", bbox: bbox, page_size: 5000 }), "grid"),
        fetchAll(withQuery(cfg.api.coverage, { level: "grid", bbox: bbox, kind: state.kind }), "grid-coverage"),
      ]);
    } catch (err) {
      failed(err);
      return;
    }
    const minutes = state.minutes;
    const shares = {};
    const byId = {};
    rows.features.forEach(function (row) {
      const k = kindRow(row, state.kind);
      byId[row.id] = k;
      shares[row.id] = k ? k["within_" + minutes].households : null;
    });
    group.clearLayers();
    group.addLayer(L.geoJSON(units.features, {
      pane: "cv-grid",
      style: function (f) {
        return { color: "#455a64", weight: 1, fillColor: shareColor(shares[f.id]), fillOpacity: 0.5 };
      },
      onEachFeature: function (f, layer) {
        const k = byId[f.id];
        layer.bindTooltip(h("div", {}, [
          h("strong", {}, f.properties.name), " ", h("code", {}, f.properties.code), h("br"),
          k ? t("coverage_share", {
            minutes: minutes,
            households: percent(k["within_" + minutes].households),
            residents: percent(k["within_" + minutes].residents),
          }) : t("no_households"),
        ]), { sticky: true });
        layer.on("click", function () { selectUnit(f.id); });
      },
    }));
    labelGrids(units.features, shares);
  }

  // ---- isochrones and facilities -------------------------------------------------------------

  async function loadIsochrones() {
    const group = groups.isochrones;
    if (!map.hasLayer(group) || map.getZoom() < MIN_ZOOM.isochrones) {
      group.clearLayers();
      return;
    }
    let answer;
    try {
      answer = await fetchAll(withQuery(cfg.api.isochrones, {
        kind: state.kind, minutes: state.minutes, bbox: kit.viewBbox(map),
      }), "isochrones");
    } catch (err) {
      failed(err);
      return;
    }
    group.clearLayers();
    group.addLayer(L.geoJSON(answer.features, {
      pane: "cv-iso",
      interactive: false,
      style: function (f) {
        const buffer = f.properties.method === "buffer";
        return {
          color: buffer ? "#6a1b9a" : "#1565c0", weight: 1.5, dashArray: buffer ? "6 4" : null,
          fillColor: buffer ? "#ce93d8" : "#64b5f6", fillOpacity: 0.22,
        };
      },
    }));
  }

  const facilityIcon = L.divIcon({ className: "cv-facility", iconSize: [14, 14], iconAnchor: [7, 7] });

  async function loadFacilities() {
    const group = groups.facilities;
    if (map.getZoom() < MIN_ZOOM.facilities) {
      group.clearLayers();
      state.facilitiesInView = null;
      return;
    }
    let answer;
    try {
      answer = await fetchAll(withQuery(cfg.api.facilities, { kind: state.kind, bbox: kit.viewBbox(map) }), "facilities");
    } catch (err) {
      failed(err);
      return;
    }
    group.clearLayers();
    group.addLayer(L.geoJSON(answer.features, {
      pointToLayer: function (f, latlng) {
        const p = f.properties;
        return L.marker(latlng, { icon: facilityIcon, pane: "cv-facilities", keyboard: false })
          .bindTooltip(h("span", {}, [p.name, " · ", KIND[p.kind], p.address ? " · " + p.address : ""]));
      },
    }));
    state.facilitiesInView = answer.features.length;
  }

  // ---- households by walking time, and those left out -----------------------------------------

  // The walking band of a building: the first threshold its households are all within.
  function band(p) {
    if (p.minutes === null) return "far";
    const m = THRESHOLDS.find(function (x) { return p.within[x].households === p.households; });
    return m === undefined ? "far" : String(m);
  }

  // The view's buildings with households beyond `minutes`, with how many; the grids by those.
  function holesAt(minutes) {
    const buildings = [];
    const grids = {};
    (state.buildings || []).forEach(function (f) {
      const p = f.properties;
      const households = p.households - p.within[minutes].households;
      if (!households) return;
      const residents = p.residents - p.within[minutes].residents;
      buildings.push({ feature: f, households: households, residents: residents });
      if (p.grid_id === null) return;
      const g = grids[p.grid_id] || (grids[p.grid_id] = { id: p.grid_id, code: p.grid_code, name: p.grid_name, households: 0, residents: 0 });
      g.households += households;
      g.residents += residents;
    });
    const ranked = Object.values(grids).sort(function (a, b) {
      return b.residents - a.residents || (a.code < b.code ? -1 : 1);
    });
    return { minutes: minutes, buildings: buildings, grids: ranked };
  }

  function bandLabel(key) {
    return t("band_" + key);
  }

  async function loadHoles() {
    const zoom = map.getZoom();
    const showHoles = map.hasLayer(groups.holes);
    const withBands = zoom >= MIN_ZOOM.households && map.hasLayer(groups.households);
    if (zoom < MIN_ZOOM.holes || (!showHoles && !withBands)) {
      groups.holes.clearLayers();
      groups.households.clearLayers();
      state.buildings = null;
      return;
    }
    let answer;
    try {
      answer = await request(withQuery(cfg.api.buildings, { kind: state.kind, bbox: kit.viewBbox(map) }), latest("holes"));
    } catch (err) {
      failed(err);
      return;
    }
    state.buildings = answer.features;
    groups.households.clearLayers();
    if (withBands) drawHouseholds(state.buildings);
    drawHoles(showHoles ? holesAt(state.minutes) : null);
  }

  function drawHouseholds(features) {
    groups.households.addLayer(L.geoJSON(features, {
      pointToLayer: function (f, latlng) {
        const p = f.properties;
        const key = band(p);
        const marker = L.circleMarker(latlng, {
          pane: "cv-households", radius: Math.min(10, 4 + Math.sqrt(p.households || 1)),
          color: "#fff", weight: 1, fillColor: BAND_COLORS[key], fillOpacity: 0.95,
        });
        marker.bindTooltip(h("span", {}, [
          p.address || "", p.address ? h("br") : null,
          t("households_residents", { households: num(p.households), residents: num(p.residents) }),
          " · ", t("walk_time"), " ", bandLabel(key),
        ]));
        return marker;
      },
    }));
  }

  function drawHoles(holes) {
    groups.holes.clearLayers();
    if (!holes) return;
    holes.buildings.forEach(function (hole) {
      const p = hole.feature.properties;
      const [lon, lat] = hole.feature.geometry.coordinates;
      groups.holes.addLayer(L.circleMarker([lat, lon], {
        pane: "cv-holes", radius: Math.min(14, 6 + Math.sqrt(hole.households)),
        color: "#b71c1c", weight: 2.5, fillColor: "#ff5252", fillOpacity: 0.25,
      }).bindTooltip(h("span", {}, [
        p.address || "", p.address ? h("br") : null,
        t("uncovered", { minutes: holes.minutes, households: num(hole.households), residents: num(hole.residents) }),
      ])));
    });
  }

  // ---- the panel: the view, the unit, the sites ----------------------------------------------

  function renderView() {
    const kind = KIND[state.kind];
    const parts = [h("p", {}, [
      h("strong", {}, kind), " · ", t("minutes", { n: state.minutes }), " · ",
      state.facilitiesInView === null ? t("zoom_in_for_facilities")
        : t("facilities_in_view", { kind: kind, n: num(state.facilitiesInView) }),
    ])];
    const answer = state.buildings && holesAt(state.minutes);
    if (!answer) {
      parts.push(h("p", { class: "muted" }, t("zoom_in_for_households")));
    } else {
      const holes = answer.buildings;
      const households = holes.reduce(function (s, x) { return s + x.households; }, 0);
      const residents = holes.reduce(function (s, x) { return s + x.residents; }, 0);
      if (!holes.length) {
        parts.push(h("p", { class: "ok" }, t("no_holes", { minutes: state.minutes })));
      } else {
        parts.push(h("p", { class: "uncovered" }, t("uncovered", {
          minutes: state.minutes, households: num(households), residents: num(residents),
        })));
        parts.push(h("h4", {}, t("grids_ranked")));
        parts.push(h("ol", { class: "cv-grids" }, answer.grids.slice(0, GRIDS_LISTED).map(function (g) {
          return h("li", {}, h("button", { type: "button", class: "link", onclick: function () { selectUnit(g.id, true); } }, [
            g.name, " ", h("code", {}, g.code), " · ",
            t("households_residents", { households: num(g.households), residents: num(g.residents) }),
          ]));
        })));
      }
    }
    if (map.getZoom() < MIN_ZOOM.grid) parts.push(h("p", { class: "muted" }, t("zoom_in_for_grids")));
    else if (map.getZoom() < MIN_ZOOM.households) parts.push(h("p", { class: "muted" }, t("zoom_in_for_households")));
    fill(el.view, parts);
  }

  async function selectUnit(id, zoom) {
    const opts = latest("unit");
    fill(el.unit, h("p", { class: "muted" }, t("loading")));
    let feature, answer;
    try {
      [feature, answer] = await Promise.all([
        request(apiPath(cfg.api.unit, id), opts),
        request(apiPath(cfg.api.unitCoverage, id), opts),
      ]);
    } catch (err) {
      failed(err);
      return;
    }
    state.unit = { feature: feature, coverage: answer };
    selectedLayer.clearLayers();
    const outline = L.geoJSON(feature, {
      pane: "cv-selected", interactive: false,
      style: { color: "#ff6f00", weight: 3.5, fill: false },
    });
    selectedLayer.addLayer(outline);
    if (zoom) map.fitBounds(outline.getBounds(), { maxZoom: 17 });
    renderUnit();
  }

  function renderUnit() {
    if (!state.unit) return;
    const p = state.unit.feature.properties;
    const answer = state.unit.coverage;
    const rows = answer.unit.kinds || [];
    const parts = [h("p", { class: "unit-head" }, [
      h("span", { class: "level level-" + p.level }, t("level_" + p.level)), " ",
      h("strong", {}, p.name), " ", h("code", {}, p.code),
      p.parent ? [" ", h("button", { type: "button", class: "link", onclick: function () { selectUnit(p.parent, true); } },
        t("parent_unit", { name: p.parent_code }))] : null,
    ].flat())];
    if (!rows.some(function (k) { return k.households; })) {
      parts.push(h("p", { class: "muted" }, t("no_households")));
    } else {
      parts.push(chart(rows));
      const lacking = answer.lacking || [];
      parts.push(h("p", { class: lacking.length ? "lacking" : "ok" }, lacking.length
        ? t("lacking", { kinds: lacking.map(function (k) { return KIND[k] || k; }).join("、") })
        : t("lacking_none")));
    }
    fill(el.unit, parts);
  }

  /* Coverage of every kind in the unit, as CSS bars: one a kind, the shares of households within
     5, 10 and 15 minutes laid over each other (they only grow), the chosen walking time's share
     at its end. A click on a kind chooses it. */
  function chart(rows) {
    const byKind = Object.fromEntries(rows.map(function (k) { return [k.kind, k]; }));
    const bars = cfg.kinds.map(function (pair) {
      const [kind, label] = pair;
      const k = byKind[kind] && byKind[kind].households ? byKind[kind] : null;
      const shares = THRESHOLDS.map(function (m) { return k ? k["within_" + m].households : 0; });
      const title = k ? t("chart_title", {
        kind: label, s5: percent(shares[0]), s10: percent(shares[1]), s15: percent(shares[2]),
        r15: percent(k["within_" + FARTHEST].residents),
      }) : label + "：" + t("no_households");
      return h("li", {}, h("button", {
        type: "button", title: title, "data-kind": kind,
        class: "bar" + (kind === state.kind ? " chosen" : "") + (k ? "" : " empty"),
        onclick: function () { chooseKind(kind); },
      }, [
        h("span", { class: "label" }, label),
        h("span", { class: "track" }, THRESHOLDS.slice().reverse().map(function (m, j) {
          const share = shares[THRESHOLDS.length - 1 - j];
          return h("span", { class: "fill band-" + m, style: "width:" + (100 * share).toFixed(1) + "%" });
        })),
        h("span", { class: "value" }, k ? percent(k["within_" + state.minutes].households) : "–"),
      ]));
    });
    return h("figure", { class: "cv-figure" }, [
      h("ul", { class: "cv-chart", "aria-label": t("chart_caption") }, bars),
      h("figcaption", { class: "muted" }, [
        THRESHOLDS.map(function (m) {
          return h("span", { class: "key" }, [h("span", { class: "swatch-inline band-" + m }), t("minutes", { n: m })]);
        }),
        h("br"), t("chart_caption"),
      ].flat()),
    ]);
  }

  function chooseKind(kind) {
    el.choice.querySelector("select[name=kind]").value = kind;
    choiceChanged();
  }

  // ---- siting --------------------------------------------------------------------------------

  const siteIcon = function (rank) {
    return L.divIcon({ className: "cv-site", html: h("span", {}, String(rank)), iconSize: [24, 24], iconAnchor: [12, 12] });
  };

  async function propose(e) {
    e.preventDefault();
    const k = el.siting.querySelector("select[name=k]").value;
    const params = { kind: state.kind, minutes: state.minutes, k: k };
    const unit = state.unit && state.unit.feature;
    if (unit) params.unit = unit.id;
    else params.bbox = kit.viewBbox(map);
    const scope = unit ? unit.properties.name : t("scope_view");
    fill(el.sites, h("p", { class: "muted" }, t("computing_sites")));
    let answer;
    try {
      answer = await request(withQuery(cfg.api.siting, params), latest("siting"));
    } catch (err) {
      fill(el.sites, []);
      failed(err);
      return;
    }
    const sites = answer.sites || [];
    groups.sites.clearLayers();
    sites.forEach(function (s) {
      groups.sites.addLayer(L.marker([s.point[1], s.point[0]], { icon: siteIcon(s.rank), pane: "cv-sites", keyboard: false })
        .bindTooltip(h("span", {}, [t("site", { rank: s.rank, name: s.name }), h("br"),
          t("gain", { residents: num(s.residents), households: num(s.households) })])));
    });
    fill(el.sites, [
      h("p", { class: "muted" }, t("sites_for", { kind: KIND[answer.kind], minutes: answer.minutes, scope: scope })),
      sites.length ? h("ol", { class: "cv-site-list" }, sites.map(function (s) {
        return h("li", {}, h("button", {
          type: "button", class: "link",
          onclick: function () { map.setView([s.point[1], s.point[0]], Math.max(map.getZoom(), 17)); },
        }, [h("strong", {}, s.name), " · ", t("gain", { residents: num(s.residents), households: num(s.households) })]));
      })) : h("p", { class: "muted" }, t("no_sites")),
    ]);
    document.body.dataset.sited = String(sites.length);
  }

  function clearSites() {
    groups.sites.clearLayers();
    fill(el.sites, []);
  }

  // ---- loading and events --------------------------------------------------------------------

  async function reload() {
    await Promise.all([loadGrid(), loadIsochrones(), loadFacilities(), loadHoles()]);
    renderView();
    document.body.dataset.coverageLoaded = String(Date.now());
  }

  function choiceChanged() {
    state.kind = el.choice.querySelector("select[name=kind]").value;
    state.minutes = Number(el.choice.querySelector("input[name=minutes]:checked").value);
    status("");
    clearSites();
    renderUnit();
    return reload();
  }

  el.choice.addEventListener("change", choiceChanged);
  el.choice.addEventListener("submit", function (e) { e.preventDefault(); });
  el.siting.addEventListener("submit", propose);
  kit.afterMove(map, reload);
  map.on("zoomstart", function () { gridLabels.clearLayers(); });
  kit.onOverlayToggle(map, groups, function (key) {
    if (key === "grid") loadGrid();
    else if (key === "isochrones") loadIsochrones();
    else if (key === "facilities") loadFacilities().then(renderView);
    else if (key === "holes" || key === "households") loadHoles().then(renderView);
  });
  kit.addLegend(map, "cv-legend", "cv-legend");

  reload().then(function () {
    document.body.dataset.coverageReady = "1";
  });
})();
