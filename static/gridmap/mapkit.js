/* What the map pages' scripts (plan.js, dispatch.js) share, as window.GridMapKit: the page's
   configuration, strings and folium map; elements built without markup; the JSON API with its
   CSRF token; numbers and dates in the page's language; panes, legend and labels on the map;
   vector tile layers. Loaded after folium's Leaflet and before the page script. */
window.GridMapKit = (function () {
  "use strict";

  const LANG = document.documentElement.lang || "zh-hans";
  const CHINESE = LANG.toLowerCase().startsWith("zh");

  function json(id) {
    return JSON.parse(document.getElementById(id).textContent);
  }

  /* The page's configuration (#<name>-config, from the view), `t` for its translated strings
     (#<name>-i18n), its folium map and the map's layer groups by key. */
  function page(name) {
    const cfg = json(name + "-config");
    const groups = {};
    Object.keys(cfg.groups).forEach(function (key) { groups[key] = window[cfg.groups[key]]; });
    return { cfg: cfg, t: translator(json(name + "-i18n")), map: window[cfg.map], groups: groups };
  }

  // t("version", {n: 2}): the string of the key with its {placeholders} filled in.
  function translator(strings) {
    return function t(key, params) {
      let text = strings[key] || key;
      Object.keys(params || {}).forEach(function (name) {
        text = text.split("{" + name + "}").join(String(params[name]));
      });
      return text;
    };
  }

  /* h("tr", {class: "x"}, [h("td", {}, "text")]): elements built without innerHTML, so that
     names and notes from the database can never become markup. */
  function h(tag, attrs, children) {
    const el = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      const value = attrs[name];
      if (value === null || value === undefined || value === false) return;
      if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
      else if (name === "hidden" || name === "disabled" || name === "required") el[name] = Boolean(value);
      else el.setAttribute(name, value === true ? "" : value);
    });
    [].concat(children === undefined ? [] : children).forEach(function (child) {
      if (child === null || child === undefined || child === false) return;
      el.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
    });
    return el;
  }

  function fill(el, children) {
    el.replaceChildren();
    [].concat(children).forEach(function (child) {
      if (child) el.appendChild(child instanceof Node ? child : document.createTextNode(child));
    });
    return el;
  }

  /* status(text, kind): the page's status line shows `text` ("" hides it), styled by `kind`
     ("ok", "error") on top of the element's own class. */
  function statusLine(el) {
    const base = el.className;
    return function status(text, kind) {
      fill(el, text ? [text] : []);
      el.className = base + (kind ? " " + kind : "");
      el.hidden = !text;
    };
  }

  function num(value, digits) {
    if (value === null || value === undefined) return "–";
    return Number(value).toLocaleString(LANG, { maximumFractionDigits: digits || 0 });
  }

  function when(iso) {
    if (!iso) return "–";
    const d = new Date(iso);
    return isNaN(d) ? iso : d.toLocaleString(LANG, { hour12: false });
  }

  // An API path of the page's configuration with its `{id}` filled in.
  function apiPath(path, id) {
    return path.replace("{id}", id);
  }

  // Parameters that are null, undefined or "" are left out.
  function withQuery(url, params) {
    const query = new URLSearchParams();
    Object.keys(params).forEach(function (k) {
      if (params[k] !== null && params[k] !== undefined && params[k] !== "") query.set(k, params[k]);
    });
    const text = query.toString();
    return text ? url + (url.includes("?") ? "&" : "?") + text : url;
  }

  // The items of an API answer: a bare list, or the list under `key` of a page or collection.
  function listOf(body, key) {
    if (Array.isArray(body)) return body;
    if (!body) return [];
    return body[key] || body.results || body.features || [];
  }

  /* The page's API client: {request, fetchAll}. `t` translates its messages ("network_error",
     "request_failed"); `csrfToken` is the view's, for when the cookie is not there; `detail`
     turns an error answer's detail into the error's message (as it comes by default). */
  function client(options) {
    const t = options.t;
    const detail = options.detail || function (text) { return text; };

    class ApiFailure extends Error {
      constructor(status, body) {
        super(detail(body && body.detail) || t("request_failed", { status: status }));
        this.status = status;
        this.body = body || {};
      }
    }

    function csrfToken() {
      const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
      return match ? decodeURIComponent(match[1]) : options.csrfToken;
    }

    /* fetch as JSON; `json` sends a JSON body, `form` a FormData (for a photo). Never from the
       browser's cache: versions guard every edit. */
    async function request(url, opts) {
      opts = Object.assign({ credentials: "same-origin", cache: "no-store", headers: {} }, opts || {});
      opts.headers = Object.assign({ Accept: "application/json" }, opts.headers);
      if (opts.json !== undefined || opts.form !== undefined) {
        opts.method = opts.method || "POST";
        opts.headers["X-CSRFToken"] = csrfToken();
        if (opts.json !== undefined) {
          opts.headers["Content-Type"] = "application/json";
          opts.body = JSON.stringify(opts.json);
        } else {
          opts.body = opts.form;
        }
        delete opts.json;
        delete opts.form;
      }
      let response;
      try {
        response = await fetch(url, opts);
      } catch (err) {
        if (err.name === "AbortError") throw err;
        throw new ApiFailure(0, { error: "network", detail: t("network_error") });
      }
      let body = null;
      try { body = await response.json(); } catch (err) { body = null; }
      if (!response.ok) throw new ApiFailure(response.status, body);
      return body;
    }

    // Pages of a (possibly paginated) GeoJSON list; a newer call for the same key aborts this
    // one. `truncated`: the server left features out (a map layer is capped).
    const running = {};
    async function fetchAll(url, key) {
      if (running[key]) running[key].abort();
      const controller = new AbortController();
      running[key] = controller;
      let features = [];
      let truncated = false;
      let next = url;
      while (next) {
        const body = await request(next, { signal: controller.signal });
        features = features.concat(listOf(body, "features"));
        truncated = truncated || Boolean(body && body.truncated);
        next = body && body.next ? body.next : null;
      }
      return { features: features, truncated: truncated };
    }

    return { request: request, fetchAll: fetchAll };
  }

  // The map's view and a margin around it, as the API's bbox parameter.
  function viewBbox(map) {
    const b = map.getBounds().pad(0.1);
    const clamp = function (v, lo, hi) { return Math.min(hi, Math.max(lo, v)); };
    return [
      clamp(b.getWest(), -180, 180), clamp(b.getSouth(), -90, 90),
      clamp(b.getEast(), -180, 180), clamp(b.getNorth(), -90, 90),
    ].map(function (v) { return v.toFixed(6); }).join(",");
  }

  // [[name, zIndex], …]: the page's panes; clicks go through those named in `clickThrough`.
  function createPanes(map, panes, clickThrough) {
    panes.forEach(function (pane) { map.createPane(pane[0]).style.zIndex = pane[1]; });
    clickThrough.forEach(function (pane) { map.getPane(pane).style.pointerEvents = "none"; });
  }

  // The legend of the page's <template id=…>, bottom left on the map.
  function addLegend(map, templateId, className) {
    const template = document.getElementById(templateId);
    const legend = L.control({ position: "bottomleft" });
    legend.onAdd = function () {
      const div = L.DomUtil.create("div", className + " leaflet-bar");
      div.appendChild(template.content.cloneNode(true));
      L.DomEvent.disableClickPropagation(div);
      return div;
    };
    legend.addTo(map);
  }

  /* A layer of the vector tiles at `url` (/tiles/{layer}/{z}/{x}/{y}.pbf, docs/tiles.md), drawn
     by Leaflet.VectorGrid (needs the page to load it) as SVG in `options.pane`: only the tiles in
     view are fetched, with the session's cookie. `options.style` styles the features of the
     tile's layer `options.name` (options, or a function of a feature's properties); nothing is
     asked for below `options.minZoom`. Its "click" and "mouseover" events carry the feature's
     properties as e.layer.properties. */
  function vectorTiles(url, options) {
    const styles = {};
    styles[options.name] = options.style;
    const layer = L.vectorGrid.protobuf(url, {
      pane: options.pane,
      minZoom: options.minZoom,
      interactive: true,
      rendererFactory: L.svg.tile,
      vectorTileLayerStyles: styles,
      fetchOptions: { credentials: "same-origin" },
    });
    // Leaflet >= 1.8 takes a circle of radius <= 10 px for a marker and places its events at
    // getLatLng(), which VectorGrid's points lack (an error on every hover); without it, an
    // event is placed at the pointer.
    const createLayer = layer._createLayer;
    layer._createLayer = function (feature) {
      const symbol = createLayer.apply(this, arguments);
      if (feature.type === 1) symbol.getLatLng = null;
      return symbol;
    };
    return layer;
  }

  // `reload` once the map has stopped moving: after a pan or zoom, not at every step of one.
  function afterMove(map, reload) {
    let timer = null;
    map.on("moveend", function () {
      clearTimeout(timer);
      timer = setTimeout(reload, 150);
    });
  }

  // `toggled(key)` when the layer control switches one of the page's layer groups on or off.
  function onOverlayToggle(map, groups, toggled) {
    map.on("overlayadd overlayremove", function (e) {
      const key = Object.keys(groups).find(function (k) { return groups[k] === e.layer; });
      if (key) toggled(key);
    });
  }

  /* Room for labels on the screen: take([x0, y0, x1, y1]) is false when the box would cover one
     taken before, else it takes the box. */
  function labelRoom() {
    const taken = [];
    return function take(box) {
      if (taken.some(function (o) { return box[0] < o[2] && o[0] < box[2] && box[1] < o[3] && o[1] < box[3]; })) return false;
      taken.push(box);
      return true;
    };
  }

  // Whether rings of L.LatLng (a polygon's, or all of a multipolygon's) hold the point: even-odd
  // over all rings, so holes count.
  function ringsContain(rings, latlng) {
    let count = 0;
    rings.forEach(function (ring) {
      for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
        const a = ring[i];
        const b = ring[j];
        if ((a.lat > latlng.lat) !== (b.lat > latlng.lat) &&
            latlng.lng < (b.lng - a.lng) * (latlng.lat - a.lat) / (b.lat - a.lat) + a.lng) count++;
      }
    });
    return count % 2 === 1;
  }

  return {
    lang: LANG,
    chinese: CHINESE,
    page: page,
    h: h,
    fill: fill,
    statusLine: statusLine,
    num: num,
    when: when,
    apiPath: apiPath,
    withQuery: withQuery,
    listOf: listOf,
    client: client,
    viewBbox: viewBbox,
    createPanes: createPanes,
    vectorTiles: vectorTiles,
    addLegend: addLegend,
    afterMove: afterMove,
    onOverlayToggle: onOverlayToggle,
    labelRoom: labelRoom,
    ringsContain: ringsContain,
  };
})();
