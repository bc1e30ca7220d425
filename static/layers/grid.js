/* The grid worker's page (/map/grid/, docs/grid_page.md), phone first: the grid, its buildings
   and its households coloured by their five-colour class (overdue ones ringed red), below the
   households most urgent first, and a visit recorded from the list without leaving the page.
   Strings come translated from the page (#grid-i18n); what it shares with the other map pages is
   in gridmap/mapkit.js (GridMapKit). */
(function () {
  "use strict";

  const kit = window.GridMapKit;
  const { h, fill, num, apiPath, withQuery } = kit;
  const { cfg, t, map, groups } = kit.page("grid");

  // The API's details are "中文 / English": the page shows the half of its language.
  function bilingual(text) {
    if (!text) return "";
    const at = String(text).indexOf(" / ");
    if (at < 0) return String(text);
    return kit.chinese ? text.slice(0, at) : text.slice(at + 3);
  }

  const { request } = kit.client({ t: t, csrfToken: cfg.csrfToken, detail: bilingual });

  const STATUS_RANK = Object.fromEntries(cfg.statuses.map(function (s, i) { return [s, i]; }));
  const COLOR_RANK = Object.fromEntries(cfg.colors.map(function (c, i) { return [c[0], i]; }));
  const COLOR_LABEL = Object.fromEntries(cfg.colors);
  // The households at one point (a building's anchor) are fanned out round it on a sunflower
  // spiral, about a dot apart, in a fixed order (unit, floor, id) so that a dot stays where it is
  // when its household's status changes. Dots shrink as the map zooms out, so a building's
  // households (some 40 in the demo) stay about the size of the building.
  const GOLDEN_ANGLE = Math.PI * (3 - Math.sqrt(5));
  function dotSize(zoom) {
    return zoom >= 19 ? 14 : zoom >= 18 ? 12 : zoom >= 17 ? 9 : 7;
  }
  // The spiral's step: its dots are ~1.77 steps apart on average, ~1.8 between the first two.
  function spiralStep(zoom) {
    return dotSize(zoom) * 0.62;
  }
  const CLOSE_ZOOM = 18;
  const SELECTED_Z = 10000;

  const switcher = document.getElementById("gp-switch");
  if (switcher) {
    switcher.elements.grid.addEventListener("change", function () {
      if (switcher.elements.grid.value) switcher.submit();
    });
  }

  const el = {
    status: document.getElementById("gp-status"),
    counts: document.getElementById("gp-counts"),
    filters: document.getElementById("gp-filters"),
    list: document.getElementById("gp-list"),
    refresh: document.getElementById("gp-refresh"),
    dialog: document.getElementById("gp-visit"),
    form: document.getElementById("gp-visit-form"),
    who: document.getElementById("gp-visit-who"),
    photoName: document.getElementById("gp-photo-name"),
    error: document.getElementById("gp-visit-error"),
  };
  const status = kit.statusLine(el.status);

  if (!cfg.grid) {
    // Someone who may see every grid and has not chosen one yet: the switcher is the page.
    document.body.dataset.gridReady = "1";
    return;
  }

  kit.createPanes(map, [["gp-grid", 405], ["gp-buildings", 410]], ["gp-grid"]);
  kit.addLegend(map, "gp-legend", "gp-legend");
  const [west, south, east, north] = cfg.grid.bbox;
  map.fitBounds([[south, west], [north, east]], { maxZoom: CLOSE_ZOOM, animate: false });

  const state = {
    households: [], // the due list's rows, most urgent first
    filter: "all",
    selected: null,
    visiting: null, // the household whose visit form is open
    centres: {},  // building id → L.LatLng: where a household the page has no position for is drawn
    markers: {},  // household id → {marker, spiral: [x, y] in spiral steps from its point, z}
  };

  // ---- the households ------------------------------------------------------------------------

  function byId(id) {
    return state.households.find(function (hh) { return hh.id === id; });
  }

  // The due list's order (docs/visits.md), to put a household back in place after a visit.
  function urgency(a, b) {
    return STATUS_RANK[a.status] - STATUS_RANK[b.status] ||
      (a.next_due < b.next_due ? -1 : a.next_due > b.next_due ? 1 : 0) ||
      COLOR_RANK[a.color] - COLOR_RANK[b.color] || a.id - b.id;
  }

  function position(hh) {
    const p = cfg.positions[hh.id];
    if (p) return L.latLng(p[1], p[0]);
    return state.centres[hh.building.id] || null;
  }

  // "2025-03-10" (or the date of an ISO date-time in Asia/Shanghai) as "3月10日" / "Mar 10".
  function shortDate(iso) {
    const [y, m, d] = iso.slice(0, 10).split("-").map(Number);
    return new Date(y, m - 1, d).toLocaleDateString(kit.lang, { month: "short", day: "numeric" });
  }

  // Building road and number, unit and floor; the room only when the API sent it (personal data).
  function address(hh) {
    const parts = [hh.building.address || hh.building.name, t("unit_no", { n: hh.unit_no }), t("floor", { n: hh.floor })];
    if (hh.room) parts.push(t("room", { room: hh.room }));
    return parts.join(" ");
  }

  function statusText(hh) {
    if (hh.status === "overdue") return t("overdue_days", { n: num(hh.overdue_days) });
    if (hh.status === "due_today") return t("due_today");
    if (hh.status === "due") return t("due_by", { date: shortDate(hh.next_due) });
    return t("fine");
  }

  function chip(hh) {
    return h("span", { class: "chip gp-" + hh.color, title: COLOR_LABEL[hh.color] + " · " + hh.period_label },
      t("color_short_" + hh.color));
  }

  function shown(hh) {
    return state.filter === "all" || hh.status === state.filter;
  }

  // ---- the counts and the list ---------------------------------------------------------------

  function renderCounts() {
    const n = { overdue: 0, due_today: 0, due: 0, fine: 0 };
    state.households.forEach(function (hh) { n[hh.status] += 1; });
    el.counts.querySelector("[data-count=overdue]").textContent = num(n.overdue);
    el.counts.querySelector("[data-count=due_today]").textContent = num(n.due_today);
    el.counts.classList.toggle("has-overdue", n.overdue > 0);
    el.filters.querySelectorAll("button").forEach(function (b) {
      const key = b.dataset.filter;
      b.querySelector(".n").textContent = num(key === "all" ? state.households.length : n[key]);
      b.setAttribute("aria-checked", String(key === state.filter));
    });
  }

  function row(hh) {
    const go = function () { select(hh.id, "list"); };
    return h("li", {
      class: "gp-row status-" + hh.status + (hh.id === state.selected ? " selected" : ""),
      "data-household": hh.id,
      tabindex: "0",
      onclick: go,
      onkeydown: function (e) { if (e.key === "Enter" && e.target === e.currentTarget) go(); },
    }, [
      chip(hh),
      h("div", { class: "gp-what" }, [
        h("div", { class: "gp-addr" }, [
          address(hh),
          hh.head_name ? h("span", { class: "gp-name" }, " · " + hh.head_name) : null,
        ]),
        h("div", { class: "gp-meta" }, [
          h("span", { class: "gp-state" }, statusText(hh)), " · ",
          hh.last_visit ? t("last_visit", { date: shortDate(hh.last_visit) }) : t("never_visited"),
        ]),
      ]),
      hh.head_phone ? h("a", {
        class: "gp-tel", href: "tel:" + hh.head_phone.replace(/[^\d+]/g, ""), title: hh.head_phone,
        "aria-label": hh.head_phone, onclick: function (e) { e.stopPropagation(); },
      }, "☎") : null,
      cfg.canAct ? h("button", {
        type: "button", class: "gp-visit-button",
        onclick: function (e) { e.stopPropagation(); openVisit(hh.id); },
      }, t("visit")) : null,
    ]);
  }

  function renderList() {
    const rows = state.households.filter(shown).map(row);
    fill(el.list, rows.length ? rows : h("li", { class: "gp-empty" }, t("empty_" + state.filter)));
  }

  function rowOf(id) {
    return el.list.querySelector('li[data-household="' + id + '"]');
  }

  // ---- the map -------------------------------------------------------------------------------

  function offsetAt(spiral, zoom) {
    const step = spiralStep(zoom);
    return [spiral[0] * step, spiral[1] * step];
  }

  function markerIcon(hh, offset, size) {
    const classes = ["gp-hh", "gp-" + hh.color];
    if (hh.status === "overdue") classes.push("overdue");
    if (hh.id === state.selected) classes.push("selected");
    return L.divIcon({
      className: "gp-hh-icon",
      html: h("span", { class: classes.join(" "), "data-household": hh.id }),
      iconSize: [size, size],
      iconAnchor: [size / 2 - offset[0], size / 2 - offset[1]],
    });
  }

  function placeOrder(a, b) {
    return a.unit_no - b.unit_no || a.floor - b.floor || a.id - b.id;
  }

  function drawHouseholds() {
    groups.households.clearLayers();
    state.markers = {};
    const zoom = map.getZoom();
    const size = dotSize(zoom);
    const spots = new Map();
    state.households.slice().sort(placeOrder).forEach(function (hh) {
      const at = position(hh);
      if (!at) return;
      const key = at.lat.toFixed(7) + "," + at.lng.toFixed(7);
      if (!spots.has(key)) spots.set(key, { at: at, households: [] });
      spots.get(key).households.push(hh);
    });
    spots.forEach(function (spot) {
      spot.households.forEach(function (hh, i) {
        // Alone at its point a household sits on it; else none does, so none hides another.
        const r = spot.households.length === 1 ? 0 : Math.sqrt(i + 0.5);
        const spiral = [r * Math.cos(i * GOLDEN_ANGLE), r * Math.sin(i * GOLDEN_ANGLE)];
        // The more urgent on top, overdue above all; the chosen one above those (select()).
        const z = (cfg.statuses.length - STATUS_RANK[hh.status]) * 1000;
        const marker = L.marker(spot.at, {
          icon: markerIcon(hh, offsetAt(spiral, zoom), size),
          title: address(hh),
          alt: address(hh),
          zIndexOffset: hh.id === state.selected ? SELECTED_Z : z,
        });
        marker.on("click", function () { select(hh.id, "map"); });
        groups.households.addLayer(marker);
        state.markers[hh.id] = { marker: marker, spiral: spiral, z: z };
      });
    });
  }

  function render() {
    renderCounts();
    renderList();
    drawHouseholds();
  }

  /* A household chosen in the list (the map goes to it) or on the map (the list goes to its row,
     showing every household if the filter hides it); both highlight it. */
  function select(id, from) {
    const hh = byId(id);
    if (!hh) return;
    const previous = state.selected;
    state.selected = id;
    [previous, id].forEach(function (which) {
      const row = which === null ? null : rowOf(which);
      if (row) row.classList.toggle("selected", which === id);
      const m = which === null ? null : state.markers[which];
      if (!m) return;
      m.marker.setZIndexOffset(which === id ? SELECTED_Z : m.z);
      const dot = m.marker.getElement() && m.marker.getElement().querySelector(".gp-hh");
      if (dot) dot.classList.toggle("selected", which === id);
    });
    if (from === "list") {
      const m = state.markers[id];
      if (!m) {
        status(t("no_position"));
        return;
      }
      const zoom = Math.max(map.getZoom(), CLOSE_ZOOM);
      const offset = offsetAt(m.spiral, zoom);
      const at = map.unproject(map.project(m.marker.getLatLng(), zoom).add(offset), zoom);
      map.setView(at, zoom);
    } else {
      if (!shown(hh)) {
        state.filter = "all";
        renderCounts();
        renderList();
      }
      rowOf(id).scrollIntoView({ block: "nearest", behavior: "smooth" });
    }
    document.body.dataset.gridSelected = String(id);
  }

  // ---- loading -------------------------------------------------------------------------------

  function failed(err) {
    if (err.name !== "AbortError") status(err.message, "error");
  }

  async function loadOutline() {
    const feature = await request(apiPath(cfg.api.unit, cfg.grid.id));
    groups.grid.clearLayers();
    groups.grid.addLayer(L.geoJSON(feature, {
      pane: "gp-grid", interactive: false,
      style: { color: "#0b5394", weight: 3, fillColor: "#0b5394", fillOpacity: 0.04 },
    }));
  }

  async function loadBuildings() {
    const answer = await request(withQuery(cfg.api.buildings, { bbox: cfg.grid.bbox.join(",") }));
    groups.buildings.clearLayers();
    const layer = L.geoJSON(answer.features, {
      pane: "gp-buildings", interactive: false,
      style: function (f) {
        const ours = f.properties.grid_code === cfg.grid.code;
        return ours
          ? { color: "#546e7a", weight: 1, fillColor: "#b0bec5", fillOpacity: 0.55 }
          : { color: "#b0bec5", weight: 1, fillColor: "#eceff1", fillOpacity: 0.4, dashArray: "3 3" };
      },
    });
    layer.eachLayer(function (building) {
      state.centres[building.feature.id] = building.getBounds().getCenter();
    });
    groups.buildings.addLayer(layer);
  }

  async function loadHouseholds() {
    const answer = await request(withQuery(cfg.api.due, { grid: cfg.grid.id }));
    state.households = answer.households;
  }

  async function loadWorkload() {
    let answer;
    try {
      answer = await request(withQuery(cfg.api.workload, { grid: cfg.grid.id }));
    } catch (err) {
      return; // the counts of the month are a courtesy; the list does not depend on them
    }
    const month = el.counts.querySelector("[data-count=visits_in_month]");
    month.textContent = num(answer.total.visits_in_month);
    month.parentNode.title = t("month_owed", { n: num(answer.total.visits_owed_per_month) });
  }

  async function load() {
    status("");
    try {
      await Promise.all([loadOutline(), loadBuildings(), loadHouseholds(), loadWorkload()]);
    } catch (err) {
      failed(err);
      fill(el.list, []);
      return;
    }
    render();
    document.body.dataset.gridLoaded = String(Date.now());
  }

  // ---- recording a visit ---------------------------------------------------------------------

  function visitError(text) {
    fill(el.error, text ? [text] : []);
    el.error.hidden = !text;
  }

  function openVisit(id) {
    const hh = byId(id);
    if (!hh || !el.dialog) return;
    state.visiting = id;
    el.form.reset();
    fill(el.photoName, []);
    visitError("");
    fill(el.who, [
      chip(hh), " ", address(hh), hh.head_name ? " · " + hh.head_name : "",
      h("span", { class: "gp-state status-" + hh.status }, statusText(hh)),
    ]);
    el.dialog.showModal();
  }

  async function submitVisit(e) {
    e.preventDefault();
    const id = state.visiting;
    const submit = el.form.querySelector("button[type=submit]");
    const note = el.form.elements.note.value;
    const photo = el.form.elements.photo.files[0];
    let options;
    if (photo) {
      const data = new FormData();
      data.append("note", note);
      data.append("photo", photo);
      options = { form: data };
    } else {
      options = { json: { note: note } };
    }
    submit.disabled = true;
    visitError("");
    status(t("saving"));
    let answer;
    try {
      answer = await request(apiPath(cfg.api.visits, id), options);
    } catch (err) {
      status("");
      visitError(err.message);
      return;
    } finally {
      submit.disabled = false;
    }
    el.dialog.close();
    const index = state.households.findIndex(function (hh) { return hh.id === id; });
    state.households[index] = answer.household;
    state.households.sort(urgency);
    render();
    status(t("visited", { address: address(answer.household) }), "ok");
    await loadWorkload();
    document.body.dataset.gridVisited = String(Date.now());
  }

  if (el.form) {
    el.form.addEventListener("submit", submitVisit);
    el.form.querySelector("button.cancel").addEventListener("click", function () { el.dialog.close(); });
    el.form.elements.photo.addEventListener("change", function () {
      const photo = el.form.elements.photo.files[0];
      fill(el.photoName, photo ? [t("photo_chosen", { name: photo.name })] : []);
    });
  }

  // ---- start ---------------------------------------------------------------------------------

  el.filters.addEventListener("click", function (e) {
    const button = e.target.closest("button[data-filter]");
    if (!button) return;
    state.filter = button.dataset.filter;
    renderCounts();
    renderList();
    el.list.scrollTop = 0;
  });
  el.refresh.addEventListener("click", function () { load(); });
  map.on("zoomend", function () {
    if (state.households.length) drawHouseholds();
  });

  load().then(function () {
    document.body.dataset.gridReady = "1";
  });
})();
