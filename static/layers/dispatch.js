/* The dispatcher's desk (/map/dispatch/, docs/dispatch.md): place a report on the map, by
   coordinates in any of the four CRS or by address; show at once whose grid it is, who goes,
   which cameras see the spot and who nearby needs help first; then open the case and move it
   through its workflow. Strings come translated from the page (#dispatch-i18n); what it shares
   with the other map pages is in gridmap/mapkit.js (GridMapKit). */
(function () {
  "use strict";

  const kit = window.GridMapKit;
  const { h, fill, num, when, apiPath, withQuery, listOf } = kit;
  const { cfg, t, map, groups } = kit.page("dispatch");
  const CATEGORY = Object.fromEntries(cfg.categories);
  const STATUS = Object.fromEntries(cfg.statuses);

  // Layers loaded by bounding box are fetched only from these zooms on, so requests stay small.
  const MIN_ZOOM = { grid: 13, buildings: 16, sectors: 16, incidents: 12 };
  // A finished case is drawn grey; an open one by how late it is.
  const FINISHED = cfg.finished;
  const CAMERA_STYLE = {
    covering: { color: "#2e7d32", weight: 2, fillColor: "#66bb6a", fillOpacity: 0.3 },
    nearby: { color: "#616161", weight: 1.5, dashArray: "5 4", fillColor: "#bdbdbd", fillOpacity: 0.18 },
    layer: { color: "#7b1fa2", weight: 1, fillColor: "#ce93d8", fillOpacity: 0.14 },
    off: { color: "#9e9e9e", weight: 1, dashArray: "3 3", fillColor: "#e0e0e0", fillOpacity: 0.1 },
  };
  const HOUSEHOLD_COLOR = { red: "#d32f2f", orange: "#f57c00" };
  const HOUSEHOLDS_LISTED = 10;
  const INCIDENTS_LISTED = 100;
  // action → {label, takes, requires, needsNote}, from the workflow's table (layers/workflow.py).
  const ACTIONS = cfg.actions;

  // ---- helpers -------------------------------------------------------------------------------

  function metres(value) {
    return value === null || value === undefined ? "–" : t("metres", { n: num(value) });
  }

  // The API's messages are "中文 / English": the side of the page's language.
  function bilingual(text) {
    if (!text) return "";
    const at = String(text).indexOf(" / ");
    if (at < 0) return String(text);
    return kit.chinese ? text.slice(0, at) : text.slice(at + 3);
  }

  const { request, fetchAll } = kit.client({ t: t, csrfToken: cfg.csrfToken, detail: bilingual });

  function tel(phone) {
    if (!phone) return h("span", { class: "muted" }, t("no_phone"));
    return h("a", { class: "tel", href: "tel:" + phone.replace(/[^\d+]/g, "") }, phone);
  }

  function unitRef(unit) {
    if (!unit) return h("span", { class: "muted" }, "–");
    return h("span", { class: "unit-ref" }, [unit.name || "", " ", h("code", {}, unit.code || "")]);
  }

  function levelLabel(level) {
    return t("level_" + level);
  }

  function categoryLabel(item) {
    return item.category_label || CATEGORY[item.category] || item.category || "–";
  }

  function statusLabel(item) {
    const status = typeof item === "string" ? item : item.status;
    return (typeof item === "object" && item.status_label) || STATUS[status] || status || "–";
  }

  function statusBadge(item) {
    const status = typeof item === "string" ? item : item.status;
    return h("span", { class: "badge status status-" + status }, statusLabel(item));
  }

  function actionLabel(action) {
    return ACTIONS[action] ? ACTIONS[action].label : action;
  }

  // ---- panes and state -----------------------------------------------------------------------

  // Outlines and sectors show where things are; clicks go through them to place the point.
  kit.createPanes(map, [
    ["dk-grid", 401], ["dk-buildings", 405], ["dk-sectors", 410], ["dk-located", 412],
    ["dk-answer", 415], ["dk-incidents", 420], ["dk-households", 425], ["dk-point", 430],
  ], ["dk-grid", "dk-buildings", "dk-located"]);
  const answerLayer = L.featureGroup().addTo(map);
  const gridLabels = L.layerGroup().addTo(map);

  const state = {
    place: null,      // {lon, lat, crs}: the point as the dispatcher gave it
    answer: null,     // the last /api/dispatch/ answer
    incident: null,   // the case shown in the case panel
    locating: null,   // AbortController of the locate request under way
  };

  const el = {
    status: document.getElementById("desk-status"),
    answer: document.getElementById("desk-answer"),
    answerMore: document.getElementById("desk-answer-more"),
    open: document.getElementById("desk-open"),
    duplicates: document.getElementById("desk-duplicates"),
    caseBox: document.getElementById("desk-case"),
    incidentList: document.getElementById("desk-incident-list"),
    filter: document.getElementById("desk-filter"),
    coords: document.getElementById("desk-coords"),
    search: document.getElementById("desk-search"),
    results: document.getElementById("desk-search-results"),
  };

  const status = kit.statusLine(el.status);

  // ---- tabs ----------------------------------------------------------------------------------

  const tabs = Array.from(document.querySelectorAll(".desk-tabs [role=tab]"));
  function showTab(name) {
    tabs.forEach(function (tab) {
      const on = tab.dataset.tab === name;
      tab.setAttribute("aria-selected", on ? "true" : "false");
      document.getElementById(tab.getAttribute("aria-controls")).hidden = !on;
    });
  }
  tabs.forEach(function (tab) {
    tab.addEventListener("click", function () { showTab(tab.dataset.tab); });
  });

  // ---- placing the point ---------------------------------------------------------------------

  // Full-width digits, commas and points (typed with a Chinese input method) become ASCII.
  function asciiNumber(text) {
    return String(text || "").normalize("NFKC").trim();
  }

  function initCoords() {
    const lon = el.coords.querySelector("input[name=lon]");
    const lat = el.coords.querySelector("input[name=lat]");
    // "98.29, 39.80" pasted into the longitude field fills both.
    lon.addEventListener("input", function () {
      const parts = asciiNumber(lon.value).split(/[\s,;]+/).filter(Boolean);
      if (parts.length === 2 && !isNaN(parts[0]) && !isNaN(parts[1])) {
        lon.value = parts[0];
        lat.value = parts[1];
      }
    });
    el.coords.addEventListener("submit", function (e) {
      e.preventDefault();
      const x = Number(asciiNumber(lon.value));
      const y = Number(asciiNumber(lat.value));
      if (!asciiNumber(lon.value) || !asciiNumber(lat.value) || !isFinite(x) || !isFinite(y)) {
        status(t("bad_coordinates"), "error");
        return;
      }
      place({ lon: x, lat: y, crs: el.coords.querySelector("select[name=crs]").value }, { zoom: true });
    });
  }

  function initSearch() {
    const input = el.search.querySelector("input");
    el.search.addEventListener("submit", async function (e) {
      e.preventDefault();
      const q = input.value.trim();
      if (!q) { el.results.hidden = true; return; }
      let hits;
      try {
        hits = listOf(await request(withQuery(cfg.api.search, { q: q, limit: 10 })), "results");
      } catch (err) {
        fill(el.results, h("li", { class: "error" }, err.message));
        el.results.hidden = false;
        return;
      }
      const buildings = hits.filter(function (hit) { return hit.type === "building" && hit.point; });
      if (buildings.length === 1) {
        el.results.hidden = true;
        placeAtBuilding(buildings[0]);
        return;
      }
      fill(el.results, buildings.length ? buildings.map(function (hit) {
        return h("li", {}, h("button", {
          type: "button", onclick: function () { el.results.hidden = true; placeAtBuilding(hit); },
        }, [h("span", { class: "kind" }, t("building")), " ", hit.label]));
      }) : h("li", { class: "muted" }, t("no_building")));
      el.results.hidden = false;
    });
  }

  function placeAtBuilding(hit) {
    place({ lon: hit.point[0], lat: hit.point[1], crs: "wgs84", label: hit.label }, { zoom: true });
  }

  const pointIcon = L.divIcon({ className: "desk-point", iconSize: [22, 22], iconAnchor: [11, 11] });

  async function place(where, options) {
    state.place = where;
    if (state.locating) state.locating.abort();
    state.locating = new AbortController();
    status(t("locating"));
    showTab("locate");
    let answer;
    try {
      answer = await request(withQuery(cfg.api.dispatch, {
        lon: where.lon, lat: where.lat, crs: where.crs, category: selectedCategory(),
      }), { signal: state.locating.signal });
    } catch (err) {
      if (err.name === "AbortError") return;
      status(err.message, "error");
      return;
    }
    state.answer = answer;
    status("");
    renderAnswer(answer, where);
    renderDuplicates(answer);
    fillUnitFilter(answer);
    if (el.open) el.open.hidden = !answer.units || !answer.units.grid;
    if (options && options.zoom) {
      map.setView([answer.point[1], answer.point[0]], Math.max(map.getZoom(), 17));
    }
    await drawAnswer(answer, where);
    document.body.dataset.located = String(Date.now());
  }

  function selectedCategory() {
    const select = el.open && el.open.querySelector("select[name=category]");
    return select ? select.value : "";
  }

  // ---- the answer on the map -----------------------------------------------------------------

  function sectorLayer(camera, style) {
    const layers = [];
    if (camera.sector) {
      layers.push(L.geoJSON(camera.sector, { pane: "dk-answer", style: style, interactive: true })
        .bindTooltip(cameraLine(camera), { sticky: true }));
    }
    return layers;
  }

  function cameraLine(camera) {
    return [camera.code, camera.name].filter(Boolean).join(" ") +
      " · " + metres(camera.distance_m) + " · " + t("camera_" + camera.status);
  }

  function householdsByPriority(points) {
    return points.slice().sort(function (a, b) { return (a.color === "red") - (b.color === "red"); });
  }

  async function drawAnswer(answer, where) {
    answerLayer.clearLayers();
    const at = [answer.point[1], answer.point[0]];
    const cameras = answer.cameras || {};
    (cameras.covering || []).forEach(function (c) {
      sectorLayer(c, CAMERA_STYLE.covering).forEach(function (l) { answerLayer.addLayer(l); });
    });
    (cameras.nearby || []).forEach(function (c) {
      sectorLayer(c, CAMERA_STYLE.nearby).forEach(function (l) { answerLayer.addLayer(l); });
    });
    const households = answer.households || {};
    // Red (most in need) drawn last, on top of orange at the same building.
    householdsByPriority(households.points || []).forEach(function (p) {
      const marker = L.circleMarker([p.point[1], p.point[0]], {
        pane: "dk-households", radius: 6, weight: 2, color: "#fff",
        fillColor: HOUSEHOLD_COLOR[p.color] || "#9e9e9e", fillOpacity: 0.95,
      });
      marker.bindTooltip(h("span", {}, [
        t("color_" + p.color), " · ", metres(p.distance_m),
        p.head_name ? " · " + p.head_name : null,
      ]));
      answerLayer.addLayer(marker);
    });
    if (households.radius_m) {
      answerLayer.addLayer(L.circle(at, {
        pane: "dk-located", radius: households.radius_m, interactive: false,
        color: "#e65100", weight: 1, dashArray: "2 4", fill: false,
      }));
    }
    const marker = L.marker(at, { icon: pointIcon, pane: "dk-point", keyboard: false });
    marker.bindTooltip(where.label || t("incident_point"), { direction: "top", offset: [0, -10] });
    answerLayer.addLayer(marker);
    const grid = answer.units && answer.units.grid;
    if (grid) {
      try {
        const feature = await request(apiPath(cfg.api.unit, grid.id));
        if (state.answer !== answer) return;
        answerLayer.addLayer(L.geoJSON(feature, {
          pane: "dk-located", interactive: false,
          style: { color: "#f9a825", weight: 4, opacity: 0.95, fill: true, fillColor: "#fff59d", fillOpacity: 0.18 },
        }));
      } catch (err) {
        status(err.message, "error");
      }
    }
  }

  // ---- the answer in the panel ---------------------------------------------------------------

  function section(title, children, attrs) {
    return h("section", Object.assign({ class: "answer-part" }, attrs || {}), [h("h3", {}, title)].concat(children));
  }

  function renderAnswer(a, where) {
    const conversion = a.conversion || {};
    const units = a.units || {};
    const parts = [
      h("h2", {}, t("answer_title")),
      h("p", { class: "meta" }, [
        where.label ? [h("strong", {}, where.label), h("br")] : null,
        "WGS84 ", h("code", { class: "point" }, a.point[0].toFixed(6) + ", " + a.point[1].toFixed(6)),
      ].flat()),
      h("p", { class: "conversion", id: "desk-conversion" }, [
        h("span", { class: "label" }, t("conversion")), " ",
        h("code", {}, String(conversion.crs || where.crs).toUpperCase()), " · ",
        bilingual(conversion.note) || conversion.applied || "–",
      ]),
    ];
    if (a.reason) parts.push(h("p", { class: "warning", role: "alert" }, bilingual(a.reason)));
    parts.push(h("table", { class: "popup chain" }, ["network", "segment", "node", "grid"].map(function (level) {
      return h("tr", { class: "chain-" + level }, [
        h("th", {}, [h("span", { class: "level level-" + level }, levelLabel(level))]),
        h("td", {}, unitRef(units[level])),
      ]);
    })));
    if (a.edge_distance_m !== null && a.edge_distance_m !== undefined) {
      parts.push(h("p", { class: "edge" }, t("edge_distance", { n: num(a.edge_distance_m, 1) })));
    }
    parts.push(summaryLine(a));
    fill(el.answer, parts);
    el.answer.hidden = false;
    // Who goes, what the cameras see, who needs help: below the case form, so that opening the
    // case never waits for scrolling.
    fill(el.answerMore, [
      section(t("staff"), [staffList(a.staff)], { id: "desk-staff" }),
      section(t("escalation"), [escalationList(a.escalation, a.staff)], { id: "desk-escalation" }),
      section(t("cameras"), cameraPart(a.cameras || {}), { id: "desk-cameras" }),
      section(t("households_near", { n: num((a.households || {}).radius_m) }),
        householdPart(a.households || {}), { id: "desk-households" }),
    ]);
    el.answerMore.hidden = false;
  }

  // What the details below say, in one line: cameras (or the blind spot) and priority households.
  function summaryLine(a) {
    const cameras = a.cameras || {};
    const households = a.households || {};
    const covering = (cameras.covering || []).length;
    return h("p", { class: "summary", id: "desk-summary" }, [
      cameras.blind_spot || !covering
        ? h("span", { class: "badge blind" }, t("blind_spot"))
        : h("span", { class: "badge seen" }, t("cameras_covering_short", { n: covering })),
      " ",
      h("span", { class: "chip chip-red" + (households.red ? "" : " none") }, t("red_count", { n: num(households.red || 0) })), " ",
      h("span", { class: "chip chip-orange" + (households.orange ? "" : " none") }, t("orange_count", { n: num(households.orange || 0) })),
    ]);
  }

  function staffList(staff) {
    if (!staff || !staff.length) return h("p", { class: "muted" }, t("no_staff"));
    return h("ul", { class: "staff" }, staff.map(function (s) {
      return h("li", {}, [h("span", { class: "role" }, s.role_label || s.role), " ", h("strong", {}, s.name), " ", tel(s.phone)]);
    }));
  }

  function escalationList(steps, staff) {
    if (!steps || !steps.length) return h("p", { class: "muted" }, "–");
    return h("ol", { class: "escalation" }, steps.map(function (step) {
      // The grid's own contacts are the staff listed just above.
      const contacts = step.level === "grid" && staff && staff.length ? [] : step.contacts || [];
      return h("li", {}, [
        h("span", { class: "step" }, t("escalation_" + step.level)), " ",
        unitRef(step.unit),
        contacts.length ? h("ul", { class: "contacts" }, contacts.map(function (c) {
          return h("li", {}, [h("span", { class: "role" }, c.role_label || c.role), " ", c.name, " ", tel(c.phone)]);
        })) : null,
      ]);
    }));
  }

  function cameraItem(c, kind) {
    const at = c.sector ? L.geoJSON(c.sector).getBounds().getCenter() : null;
    return h("li", {
      class: "camera camera-" + c.status,
      title: at ? t("show_on_map") : null,
      onclick: at ? function () { map.panTo(at); } : null,
    }, [
      h("span", { class: "swatch-inline " + kind }), " ",
      h("strong", {}, c.name || c.code), " ", h("code", {}, c.code), h("br"),
      h("span", { class: "muted" }, [
        metres(c.distance_m), " · ",
        t("camera_view", { bearing: num(c.bearing), fov: num(c.fov), range: num(c.range_m) }), " · ",
        h("span", { class: "cam-status cam-" + c.status }, t("camera_" + c.status)),
      ]),
    ]);
  }

  function cameraPart(cameras) {
    const covering = cameras.covering || [];
    const nearby = cameras.nearby || [];
    if (cameras.blind_spot || !covering.length) {
      return [
        h("p", { class: "blind-spot", role: "note" }, [h("span", { class: "badge blind" }, t("blind_spot")), " ", t("blind_spot_help")]),
        nearby.length ? h("ul", { class: "cameras nearby" }, nearby.map(function (c) { return cameraItem(c, "nearby"); }))
          : h("p", { class: "muted" }, t("no_nearby_cameras")),
      ];
    }
    return [
      h("p", { class: "muted" }, t("cameras_covering", { n: covering.length })),
      h("ul", { class: "cameras covering" }, covering.map(function (c) { return cameraItem(c, "covering"); })),
    ];
  }

  // Nearest first, as the API gives them; names, phones and rooms only where the API sent them
  // (to roles that may see personal data). The map shows them all, the list the nearest.
  function householdPart(households) {
    const points = households.points || [];
    if (!points.length) return [h("p", { class: "muted" }, t("no_households"))];
    const shown = points.slice(0, HOUSEHOLDS_LISTED);
    return [
      h("ul", { class: "households" }, shown.map(function (p) {
        return h("li", {}, [
          h("span", { class: "dot dot-" + p.color }), " ", t("color_" + p.color), " · ", metres(p.distance_m),
          p.head_name ? [" · ", h("strong", {}, p.head_name)] : null,
          p.room ? [" ", h("span", { class: "muted" }, p.room)] : null,
          p.head_phone ? [" ", tel(p.head_phone)] : null,
        ].flat());
      })),
      points.length > shown.length ? h("p", { class: "muted" }, t("more_on_map", { n: points.length - shown.length })) : null,
    ];
  }

  // ---- possible duplicates and opening a case ------------------------------------------------

  function renderDuplicates(a) {
    if (!el.duplicates) return;
    const duplicates = a.duplicates || [];
    if (!duplicates.length) { fill(el.duplicates, []); el.duplicates.hidden = true; return; }
    fill(el.duplicates, [
      h("h4", {}, t("duplicates")),
      h("p", { class: "muted" }, t("duplicates_help")),
      h("ul", { class: "duplicates" }, duplicates.map(function (d) {
        return h("li", {}, [
          h("a", { href: "#", onclick: function (e) { e.preventDefault(); openCase(d.id); } }, "#" + d.id),
          " ", categoryLabel(d), " ", statusBadge(d), h("br"),
          h("span", { class: "muted" }, when(d.reported_at) + " · " + metres(d.distance_m)), " ",
          h("button", { type: "button", class: "merge", onclick: function () { mergeInto(d.id); } }, t("merge_into")),
        ]);
      })),
    ]);
    el.duplicates.hidden = false;
  }

  async function mergeInto(id) {
    const description = el.open.querySelector("textarea[name=description]");
    let merged;
    try {
      merged = await request(apiPath(cfg.api.reports, id), { json: { note: description.value.trim() } });
    } catch (err) {
      status(err.message, "error");
      return;
    }
    description.value = "";
    status(t("merged", { id: id }), "ok");
    showCase(merged);
    loadIncidents();
  }

  function initOpen() {
    if (!el.open) return;
    const form = el.open.querySelector("form");
    const category = form.querySelector("select[name=category]");
    // Duplicates are of the same category: ask again when it changes.
    category.addEventListener("change", function () {
      if (state.place) place(state.place);
    });
    form.addEventListener("submit", async function (e) {
      e.preventDefault();
      if (!state.place) return;
      const body = {
        category: category.value,
        description: form.querySelector("textarea[name=description]").value.trim(),
        lon: state.place.lon, lat: state.place.lat, crs: state.place.crs,
      };
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      let created;
      try {
        created = await request(cfg.api.incidents, { json: body });
      } catch (err) {
        status(err.message, "error");
        button.disabled = false;
        return;
      }
      button.disabled = false;
      form.querySelector("textarea[name=description]").value = "";
      status(t("opened", { id: created.id }), "ok");
      showCase(created);
      loadIncidents();
    });
  }

  // ---- the case panel ------------------------------------------------------------------------

  async function openCase(id) {
    let incident;
    try {
      incident = await request(apiPath(cfg.api.incident, id));
    } catch (err) {
      status(err.message, "error");
      return;
    }
    showCase(incident);
  }

  // Every change of a case answers with the case as it is now: shown as it comes.
  function showCase(incident) {
    state.incident = incident;
    renderCase(incident);
    showTab("case");
    highlightIncident(incident.id);
    const at = L.latLng(incident.point[1], incident.point[0]);
    if (!map.getBounds().contains(at)) map.setView(at, Math.max(map.getZoom(), 17));
    const url = new URL(window.location.href);
    url.searchParams.set("incident", incident.id);
    window.history.replaceState(null, "", url);
  }

  function renderCase(c, error) {
    const units = c.units || {};
    const current = units.grid;
    // The grid it was reported in keeps only its code: it may have been merged away since.
    const moved = c.reported_grid_code && c.reported_grid_code !== c.grid_code;
    const rows = [
      [t("status"), statusBadge(c)],
      [t("level"), h("span", { class: "level level-" + c.level }, t("escalation_" + c.level))],
      [t("deadline"), c.deadline ? [when(c.deadline), c.overdue ? [" ", h("span", { class: "badge overdue" }, t("overdue"))] : null].flat() : "–"],
      [t("current_grid"), unitRef(current)],
      [t("community"), unitRef(units.node)],
      [t("reported_grid"), moved
        ? [h("code", {}, c.reported_grid_code), " ", h("span", { class: "badge moved" }, t("grid_changed"))]
        : unitRef(current)],
      [t("reported_at"), when(c.reported_at)],
    ];
    if (c.department) rows.push([t("department"), c.department]);
    if (c.rating) rows.push([t("rating"), t("rating_" + c.rating)]);
    const parts = [
      h("h2", {}, [t("case_title", { id: c.id }), " ", h("span", { class: "category" }, categoryLabel(c))]),
      c.description ? h("p", { class: "description" }, c.description) : null,
      h("table", { class: "popup case-facts" }, rows.map(function (row) {
        return h("tr", {}, [h("th", {}, row[0]), h("td", {}, row[1])]);
      })),
    ];
    if (error) parts.push(error);
    parts.push(actionsPart(c.allowed_actions || []));
    parts.push(h("div", { id: "desk-action", class: "action-form", hidden: true }));
    parts.push(h("h3", {}, t("timeline")));
    parts.push(timeline(c.timeline || []));
    fill(el.caseBox, parts.filter(Boolean));
  }

  // One button per action the user may take now; escalation, which climbs a level rather than
  // changing the status, last and set apart.
  function actionsPart(actions) {
    const buttons = actions.map(function (action) {
      return h("button", {
        type: "button", class: "action" + (action === "escalate" ? " escalate" : ""), "data-action": action,
        onclick: function () { showActionForm(action); },
      }, actionLabel(action));
    });
    return h("div", { class: "actions", id: "desk-actions" }, buttons.length ? buttons : h("p", { class: "muted" }, t("no_actions")));
  }

  function field(label, input) {
    return h("label", {}, [label, input]);
  }

  function showActionForm(action) {
    const box = document.getElementById("desk-action");
    el.caseBox.querySelectorAll("button.action").forEach(function (b) {
      b.classList.toggle("active", b.dataset.action === action);
    });
    const spec = ACTIONS[action] || { takes: [], requires: [], needsNote: false };
    const needs = function (name) { return spec.requires.includes(name); };
    const extra = [];
    if (action === "escalate") {
      extra.push(field(t("reason"), h("textarea", { name: "reason", rows: "2", required: true, maxlength: "500" })));
    } else {
      if (spec.takes.includes("hours")) {
        extra.push(field(t("hours"), h("input", { type: "number", name: "hours", min: "1", max: "720", step: "1", value: "24", required: needs("hours") })));
      }
      if (spec.takes.includes("department")) {
        extra.push(field(t("department"), h("input", { type: "text", name: "department", maxlength: "100", required: needs("department") })));
      }
      if (spec.takes.includes("rating")) {
        extra.push(field(t("rating"), h("select", { name: "rating", required: needs("rating") }, [5, 4, 3, 2, 1].map(function (n) {
          return h("option", { value: String(n) }, t("rating_" + n));
        }))));
      }
      extra.push(field(spec.needsNote ? t("note_required") : t("note"),
        h("textarea", { name: "note", rows: "2", maxlength: "500", required: spec.needsNote })));
    }
    extra.push(field(t("photo"), h("input", { type: "file", name: "photo", accept: "image/*" })));
    fill(box, [h("form", { onsubmit: function (e) { e.preventDefault(); submitAction(action, e.target); } }, [
      h("h4", {}, actionLabel(action)),
    ].concat(extra).concat([
      h("div", { class: "buttons" }, [
        h("button", { type: "submit", class: "primary confirm" }, t("confirm")),
        h("button", { type: "button", class: "cancel", onclick: function () { box.hidden = true; } }, t("cancel")),
      ]),
    ]))]);
    box.hidden = false;
    const first = box.querySelector("input:not([type=file]), textarea, select");
    if (first) first.focus();
  }

  async function submitAction(action, form) {
    const c = state.incident;
    const escalating = action === "escalate";
    const body = escalating ? { reason: form.reason.value.trim() } : { action: action, note: form.note.value.trim() };
    if (form.hours) body.hours = Number(form.hours.value);
    if (form.department && form.department.value.trim()) body.department = form.department.value.trim();
    if (form.rating) body.rating = Number(form.rating.value);
    const url = apiPath(escalating ? cfg.api.escalate : cfg.api.transition, c.id);
    const photo = form.photo.files[0];
    let options = { json: body };
    if (photo) {
      const data = new FormData();
      Object.keys(body).forEach(function (k) { data.append(k, body[k]); });
      data.append("photo", photo);
      options = { form: data };
    }
    form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
    let changed;
    try {
      changed = await request(url, options);
    } catch (err) {
      refused(c, action, err);
      return;
    }
    status(t("action_done", { action: actionLabel(action), id: c.id }), "ok");
    showCase(changed);
    loadIncidents();
  }

  // A refused action: the reason, and for 409 illegal_transition the actions that are allowed.
  function refused(c, action, err) {
    const body = err.body || {};
    const where = body.where && typeof body.where === "object" ? body.where : null;
    const box = h("div", { class: "error-box", role: "alert" }, [
      h("strong", {}, t("refused", { action: actionLabel(action), status: err.status })),
      body.error ? h("code", {}, body.error) : null,
      h("p", {}, err.message),
      where && where.allowed ? h("p", {}, t("allowed_now", {
        status: statusLabel(where.status || c.status),
        actions: where.allowed.length ? where.allowed.map(actionLabel).join("、") : t("none"),
      })) : null,
    ]);
    renderCase(where && where.allowed
      ? Object.assign({}, c, { status: where.status || c.status, allowed_actions: where.allowed }) : c, box);
  }

  function timeline(entries) {
    if (!entries.length) return h("p", { class: "muted" }, t("no_timeline"));
    return h("ol", { class: "timeline", id: "desk-timeline" }, entries.map(function (e) {
      const data = e.data || {};
      const from = e.from_status;
      const to = e.to_status;
      return h("li", { class: "entry entry-" + e.action }, [
        h("div", { class: "row" }, [
          h("strong", {}, e.action_label || actionLabel(e.action)), " ",
          from && to && from !== to ? h("span", { class: "muted" }, statusLabel(from) + " → " + statusLabel(to)) : null,
        ]),
        h("div", { class: "muted" }, [when(e.at), " · ", e.user || t("system")]),
        e.from_level && e.to_level && e.from_level !== e.to_level
          ? h("div", {}, t("escalation_" + e.from_level) + " → " + t("escalation_" + e.to_level)) : null,
        data.department ? h("div", {}, t("department") + "：" + data.department) : null,
        data.hours ? h("div", {}, t("extended_by", { n: num(data.hours) })) : null,
        data.rating ? h("div", {}, t("rating") + "：" + t("rating_" + data.rating)) : null,
        e.note ? h("div", { class: "note" }, e.note) : null,
        e.photo ? h("a", { href: e.photo, target: "_blank" }, t("photo")) : null,
      ]);
    }));
  }

  // ---- layers by bounding box: grid outlines, buildings, camera sectors, incidents -----------

  // Whether a (multi)polygon covers the point: even-odd over all rings, so holes count.
  function covers(geometry, latlng) {
    const polygons = geometry.type === "Polygon" ? [geometry.coordinates] : geometry.coordinates;
    const rings = polygons.flat().map(function (ring) { return L.GeoJSON.coordsToLatLngs(ring); });
    return kit.ringsContain(rings, latlng);
  }

  function labelGrids(features) {
    gridLabels.clearLayers();
    if (map.getZoom() < 15) return;
    const take = kit.labelRoom();
    features.forEach(function (f) {
      const shape = L.geoJSON(f);
      const b = shape.getBounds();
      const a = map.latLngToContainerPoint(b.getSouthWest());
      const z = map.latLngToContainerPoint(b.getNorthEast());
      const half = f.properties.name.length * 6 + 4;
      if (z.x - a.x < 2 * half) return;
      // Along the top edge, off the middle where the point and the cases usually are; in the
      // middle when the top of an irregular grid is another grid's.
      let pt = L.point((a.x + z.x) / 2, z.y + 12);
      if (!covers(f.geometry, map.containerPointToLatLng(pt))) pt = map.latLngToContainerPoint(b.getCenter());
      const at = map.containerPointToLatLng(pt);
      const box = [pt.x - half, pt.y - 9, pt.x + half, pt.y + 9];
      if (!take(box)) return;
      gridLabels.addLayer(L.tooltip({ permanent: true, direction: "center", interactive: false, className: "grid-label" })
        .setLatLng(at).setContent(h("span", {}, [f.properties.name])));
    });
  }

  const BBOX_LAYERS = {
    grid: {
      url: function () { return withQuery(cfg.api.units, { level: "grid", bbox: kit.viewBbox(map), page_size: 5000 }); },
      draw: function (features) {
        labelGrids(features);
        return L.geoJSON(features, {
          pane: "dk-grid", interactive: false,
          style: { color: "#546e7a", weight: 1.2, fillColor: "#eceff1", fillOpacity: 0.25 },
        });
      },
    },
    buildings: {
      url: function () { return withQuery(cfg.api.buildings, { bbox: kit.viewBbox(map) }); },
      draw: function (features) {
        return L.geoJSON(features, {
          pane: "dk-buildings", interactive: false,
          style: { color: "#8d6e63", weight: 1, fillColor: "#d7ccc8", fillOpacity: 0.6 },
        });
      },
    },
    sectors: {
      url: function () { return withQuery(cfg.api.sectors, { bbox: kit.viewBbox(map) }); },
      draw: function (features) {
        return L.geoJSON(features, {
          pane: "dk-sectors",
          style: function (f) { return f.properties.status === "online" || !f.properties.status ? CAMERA_STYLE.layer : CAMERA_STYLE.off; },
          onEachFeature: function (f, layer) {
            const p = f.properties;
            layer.bindTooltip([p.code, p.name].filter(Boolean).join(" ") + (p.status ? " · " + t("camera_" + p.status) : ""), { sticky: true });
          },
        });
      },
    },
    incidents: {
      url: function () { return withQuery(cfg.api.incidents, incidentQuery()); },
      draw: function (features, truncated) {
        renderIncidentList(features, truncated);
        return L.geoJSON(features, {
          pointToLayer: function (f, latlng) {
            const p = f.properties;
            return L.circleMarker(latlng, Object.assign({ pane: "dk-incidents", radius: 7, weight: 2 }, incidentStyle(p)));
          },
          onEachFeature: function (f, layer) {
            const p = Object.assign({ id: f.id }, f.properties);
            layer.incidentId = p.id;
            layer.bindTooltip(h("span", {}, ["#" + p.id + " " + categoryLabel(p) + " · " + statusLabel(p), p.overdue ? " · " + t("overdue") : ""]));
            layer.on("click", function (e) { L.DomEvent.stopPropagation(e); openCase(p.id); });
          },
        });
      },
    },
  };

  function incidentStyle(p) {
    if (FINISHED.includes(p.status)) return { color: "#616161", fillColor: "#bdbdbd", fillOpacity: 0.8 };
    if (p.overdue) return { color: "#b71c1c", fillColor: "#ef5350", fillOpacity: 0.95 };
    return { color: "#0d47a1", fillColor: "#42a5f5", fillOpacity: 0.95 };
  }

  async function loadLayer(key) {
    const group = groups[key];
    if (!map.hasLayer(group) || map.getZoom() < MIN_ZOOM[key]) {
      group.clearLayers();
      if (key === "grid") gridLabels.clearLayers();
      if (key === "incidents") renderIncidentList(null);
      return;
    }
    let answer;
    try {
      answer = await fetchAll(BBOX_LAYERS[key].url(), key);
    } catch (err) {
      if (err.name !== "AbortError") status(err.message, "error");
      return;
    }
    group.clearLayers();
    group.addLayer(BBOX_LAYERS[key].draw(answer.features, answer.truncated));
    if (key === "incidents" && state.incident) highlightIncident(state.incident.id);
  }

  function loadIncidents() {
    return loadLayer("incidents");
  }

  function reloadLayers() {
    return Promise.all(Object.keys(BBOX_LAYERS).map(loadLayer));
  }

  function highlightIncident(id) {
    groups.incidents.eachLayer(function (geojson) {
      if (!geojson.eachLayer) return;
      geojson.eachLayer(function (marker) {
        const on = marker.incidentId === id;
        marker.setStyle({ weight: on ? 4 : 2, radius: on ? 10 : 7 });
        if (on) marker.bringToFront();
      });
    });
  }

  // ---- the incidents filter and list ---------------------------------------------------------

  function incidentQuery() {
    const f = el.filter;
    const unit = f.querySelector("select[name=unit]").value;
    const [unitLevel, unitId] = unit ? unit.split(":") : [null, null];
    const params = {
      status: f.querySelector("select[name=status]").value,
      category: f.querySelector("select[name=category]").value,
      overdue: f.querySelector("input[name=overdue]").checked ? "true" : null,
      from: f.querySelector("input[name=from]").value,
      to: f.querySelector("input[name=to]").value,
    };
    if (unitLevel) params[unitLevel] = unitId;
    if (f.querySelector("input[name=in_view]").checked) params.bbox = kit.viewBbox(map);
    return params;
  }

  function fillUnitFilter(answer) {
    const select = el.filter.querySelector("select[name=unit]");
    const keep = select.value;
    const options = [h("option", { value: "" }, t("all_units"))];
    ["grid", "node", "segment"].forEach(function (level) {
      const unit = answer.units && answer.units[level];
      if (unit) options.push(h("option", { value: level + ":" + unit.id }, levelLabel(level) + " " + unit.name));
    });
    fill(select, options);
    if (Array.from(select.options).some(function (o) { return o.value === keep; })) select.value = keep;
  }

  function renderIncidentList(features, truncated) {
    if (!features) {
      fill(el.incidentList, h("p", { class: "muted" }, t("zoom_in_for_incidents")));
      return;
    }
    const items = features.map(function (f) { return Object.assign({ id: f.id }, f.properties); });
    fill(el.incidentList, [
      h("p", { class: "muted count" }, t(truncated ? "incidents_truncated" : "incidents_found", { n: items.length })),
      h("ul", { class: "incident-list" }, items.slice(0, INCIDENTS_LISTED).map(function (p) {
        return h("li", { class: p.overdue ? "overdue" : null }, h("button", {
          type: "button", onclick: function () { openCase(p.id); },
        }, [
          h("strong", {}, "#" + p.id), " ", categoryLabel(p), " ", statusBadge(p),
          p.overdue ? [" ", h("span", { class: "badge overdue" }, t("overdue"))] : null,
          h("br"), h("span", { class: "muted" }, when(p.reported_at) + (p.grid_code ? " · " + p.grid_code : "")),
        ].flat()));
      })),
      items.length > INCIDENTS_LISTED ? h("p", { class: "muted" }, t("incidents_listed", { n: INCIDENTS_LISTED })) : null,
    ]);
  }

  function initFilter() {
    el.filter.addEventListener("change", function () { loadIncidents(); });
    el.filter.addEventListener("submit", function (e) { e.preventDefault(); loadIncidents(); });
  }

  // ---- legend, events, start -----------------------------------------------------------------

  kit.afterMove(map, reloadLayers);
  map.on("zoomstart", function () { gridLabels.clearLayers(); });
  kit.onOverlayToggle(map, groups, loadLayer);
  map.on("click", function (e) {
    place({ lon: Number(e.latlng.lng.toFixed(7)), lat: Number(e.latlng.lat.toFixed(7)), crs: "wgs84" });
  });
  map.getContainer().classList.add("desk-crosshair");

  kit.addLegend(map, "desk-legend", "desk-legend");
  initCoords();
  initSearch();
  initOpen();
  initFilter();
  const startIncident = new URL(window.location.href).searchParams.get("incident");
  reloadLayers().then(function () {
    document.body.dataset.dispatchReady = "1";
  });
  if (startIncident && /^\d+$/.test(startIncident)) openCase(Number(startIncident));
})();
