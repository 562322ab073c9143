// Xueliang Gateway operator UI: area tree (region → village), camera list
// and camera page, on the HTTP API of docs/api.md. Plain ES2020, no
// dependencies; every piece of data is put in the page as text, never as HTML.
'use strict';

(() => {
  const API = 'api/v1'; // relative: works behind a reverse proxy path too
  const PAGE = 100;
  const TREE_MS = 5000;
  const LIST_MS = 5000;
  const CAMERA_MS = 2000;
  const REQUEST_TIMEOUT_MS = 10000;
  const STALE_MS = 15000;
  const MAX_REFRESHED_NODES = 40;

  const STATUSES = ['online', 'offline', 'connecting', 'idle'];
  const STATUS_ZH = { online: '在线', offline: '离线', connecting: '连接中', idle: '空闲' };
  const STATUS_EN = { online: 'Online', offline: 'Offline', connecting: 'Connecting', idle: 'Idle' };
  const LEVELS = ['region', 'city', 'county', 'township', 'village'];
  const LEVEL_ZH = { region: '省级', city: '市级', county: '县级', township: '乡镇', village: '村级' };

  const $ = (id) => document.getElementById(id);

  // ---------------------------------------------------------------- DOM helper
  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v == null || v === false) continue;
        if (k === 'class') el.className = v;
        else if (k === 'testid') el.dataset.testid = v;
        else if (k === 'dataset') Object.assign(el.dataset, v);
        else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
        else el.setAttribute(k, v === true ? '' : String(v));
      }
    }
    for (const kid of kids.flat()) {
      if (kid == null || kid === false) continue;
      el.append(kid instanceof Node ? kid : String(kid));
    }
    return el;
  }

  function setText(el, text) {
    const t = text == null ? '' : String(text);
    if (el.textContent !== t) el.textContent = t;
  }

  // ---------------------------------------------------------------- formatting
  const pad2 = (n) => String(n).padStart(2, '0');

  function clock(d) {
    return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
  }

  function dateTime(d) {
    const now = new Date();
    const sameDay = d.getFullYear() === now.getFullYear() && d.getMonth() === now.getMonth()
      && d.getDate() === now.getDate();
    const day = `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}`;
    return sameDay ? clock(d) : `${day} ${clock(d)}`;
  }

  function duration(ms) {
    let s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return `${s}s`;
    let m = Math.floor(s / 60);
    s %= 60;
    if (m < 60) return `${m}m ${s}s`;
    let hr = Math.floor(m / 60);
    m %= 60;
    if (hr < 48) return `${hr}h ${m}m`;
    const d = Math.floor(hr / 24);
    hr %= 24;
    return `${d}d ${hr}h`;
  }

  function bitrate(bps) {
    if (typeof bps !== 'number' || !isFinite(bps)) return '—';
    if (bps >= 1e6) return `${(bps / 1e6).toFixed(2)} Mbit/s`;
    if (bps >= 1e3) return `${(bps / 1e3).toFixed(0)} kbit/s`;
    return `${bps} bit/s`;
  }

  const dash = (v) => (v == null || v === '' ? '—' : String(v));
  const levelLabel = (l) => (l ? `${l} · ${LEVEL_ZH[l] || ''}` : '—');

  // ---------------------------------------------------------------- API
  class ApiError extends Error {
    constructor(message, code, status) {
      super(message);
      this.code = code;
      this.status = status;
    }
  }

  async function api(path) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), REQUEST_TIMEOUT_MS);
    let res;
    let text;
    try {
      res = await fetch(API + path, {
        headers: { Accept: 'application/json' },
        cache: 'no-store',
        signal: ctl.signal,
      });
      text = await res.text();
    } catch (e) {
      const why = e && e.name === 'AbortError'
        ? `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`
        : `cannot reach the gateway (${e && e.message ? e.message : e})`;
      throw new ApiError(why, 'network', 0);
    } finally {
      clearTimeout(timer);
    }
    let body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch (_) {
      body = null;
    }
    if (!res.ok) {
      const err = body && body.error;
      if (err && err.message) throw new ApiError(err.message, err.code || 'error', res.status);
      const snippet = text ? `: ${text.slice(0, 200)}` : '';
      throw new ApiError(`HTTP ${res.status} ${res.statusText || ''}`.trim() + snippet, 'http', res.status);
    }
    if (body === null) throw new ApiError(`GET ${API + path}: the answer is not JSON`, 'bad_answer', res.status);
    return body;
  }

  // ---------------------------------------------------------------- errors
  const errors = new Map(); // key -> message

  function fail(key, what, err) {
    const code = err && err.code && !['network', 'http', 'bad_answer'].includes(err.code) ? ` [${err.code}]` : '';
    const status = err && err.status ? ` (HTTP ${err.status})` : '';
    errors.set(key, `${what}: ${err && err.message ? err.message : err}${code}${status}`);
    renderBanner();
  }

  function ok(key) {
    lastOk = Date.now();
    if (errors.delete(key)) renderBanner();
    renderUpdated();
  }

  function renderBanner() {
    const banner = $('banner');
    if (errors.size === 0) {
      banner.hidden = true;
      return;
    }
    setText($('banner-text'), [...errors.values()].join('\n'));
    banner.hidden = false;
  }

  // ---------------------------------------------------------------- state
  let lastOk = 0;
  let route = { view: 'area', code: null, status: '', q: '', level: '' };
  let lastListHash = '#/';

  /** code -> {code, name, level, cameras, children: null|[code], path: null|[{code,name,level}], expanded} */
  const nodes = new Map();
  let tops = null; // [code] of the top nodes, null until loaded
  let selected = null; // selected area code, null = all areas

  const list = {
    key: null, items: [], next: null, total: null, counts: {}, gen: 0, busy: false, loaded: false,
  };
  const cam = { id: null, data: null, gen: 0, busy: false, error: null, at: 0 };

  function nodeOf(code) {
    let n = nodes.get(code);
    if (!n) {
      n = { code, name: code, level: null, cameras: null, children: null, path: null, expanded: false };
      nodes.set(code, n);
    }
    return n;
  }

  function merge(obj) {
    if (!obj || obj.code == null) return null;
    const n = nodeOf(String(obj.code));
    if (obj.name != null) n.name = obj.name;
    if (obj.level != null) n.level = obj.level;
    if (obj.cameras) n.cameras = obj.cameras;
    if (Array.isArray(obj.children)) n.children = obj.children.map((c) => merge(c)).filter(Boolean).map((c) => c.code);
    if (Array.isArray(obj.path)) {
      n.path = obj.path.filter((p) => p && String(p.code) !== n.code).map((p) => {
        const a = nodeOf(String(p.code));
        if (p.name != null) a.name = p.name;
        if (p.level != null) a.level = p.level;
        return { code: a.code, name: a.name, level: a.level };
      });
    }
    return n;
  }

  async function loadTops() {
    const r = await api('/areas');
    const arr = Array.isArray(r) ? r : (r.items || r.areas || r.children || []);
    const first = tops === null;
    tops = arr.map((n) => merge(n)).filter(Boolean).map((n) => n.code);
    // A gateway of one region (the usual case) opens it straight away.
    if (first && tops.length === 1) {
      const n = nodeOf(tops[0]);
      if (!Array.isArray(n.children)) await loadArea(n.code);
      n.expanded = true;
    }
  }

  async function loadArea(code) {
    return merge(await api(`/areas/${encodeURIComponent(code)}`));
  }

  function isLeaf(n) {
    return n.level === 'village' || (Array.isArray(n.children) && n.children.length === 0);
  }

  // ---------------------------------------------------------------- routing
  function parseHash() {
    const raw = location.hash.replace(/^#\/?/, '');
    const qi = raw.indexOf('?');
    const path = qi >= 0 ? raw.slice(0, qi) : raw;
    const params = new URLSearchParams(qi >= 0 ? raw.slice(qi + 1) : '');
    let parts;
    try {
      parts = path.split('/').filter(Boolean).map(decodeURIComponent);
    } catch (_) {
      parts = [];
    }
    if (parts[0] === 'camera' && parts[1]) return { view: 'camera', id: parts[1] };
    const status = params.get('status') || '';
    const level = params.get('level') || '';
    return {
      view: 'area',
      code: parts[0] === 'area' && parts[1] ? parts[1] : null,
      status: STATUSES.includes(status) ? status : '',
      level: LEVELS.includes(level) ? level : '',
      q: (params.get('q') || '').slice(0, 200),
    };
  }

  function areaHash(code, o) {
    const p = new URLSearchParams();
    if (o && o.status) p.set('status', o.status);
    if (o && o.level) p.set('level', o.level);
    if (o && o.q) p.set('q', o.q);
    const qs = p.toString();
    return (code ? `#/area/${encodeURIComponent(code)}` : '#/') + (qs ? `?${qs}` : '');
  }

  const cameraHash = (id) => `#/camera/${encodeURIComponent(id)}`;

  function go(hash, replace) {
    if (location.hash === hash) return;
    if (replace) {
      history.replaceState(null, '', hash);
      onRoute();
    } else {
      location.hash = hash;
    }
  }

  function onRoute() {
    const prev = route;
    route = parseHash();
    if (route.view === 'area') {
      lastListHash = areaHash(route.code, route);
      $('list-view').hidden = false;
      $('camera-view').hidden = true;
      if (cam.id !== null) {
        cam.id = null;
        cam.gen += 1; // drop answers still on their way
      }
      document.title = 'Xueliang Gateway 雪亮网关';
      if (prev.view !== 'area' || prev.code !== route.code || selected !== route.code) {
        select(route.code, true);
      }
      syncToolbar();
      loadList(false);
    } else {
      $('list-view').hidden = true;
      $('camera-view').hidden = false;
      if (cam.id !== route.id) {
        cam.id = route.id;
        cam.data = null;
        cam.error = null;
        cam.gen += 1;
        setText($('copy-status'), '');
      }
      renderCamera();
      loadCamera();
    }
    renderCrumbs();
  }

  // ---------------------------------------------------------------- tree
  /** Selects an area: opens the tree down to it and expands it. */
  async function select(code, scroll) {
    selected = code;
    renderTree();
    renderAreaHead();
    if (!code) return;
    try {
      const n = await loadArea(code);
      const anc = (n.path || []).map((p) => p.code);
      const missing = anc.filter((c) => !Array.isArray(nodeOf(c).children));
      await Promise.all(missing.map((c) => loadArea(c)));
      for (const c of anc) nodeOf(c).expanded = true;
      if (!isLeaf(n)) n.expanded = true;
      ok('area');
    } catch (e) {
      fail('area', `Area ${code}`, e);
    }
    if (selected !== code) return;
    renderTree();
    renderAreaHead();
    renderCrumbs();
    if (scroll) {
      const el = treeEls.get(code);
      if (el) el.a.scrollIntoView({ block: 'nearest' });
    }
  }

  async function toggle(code) {
    const n = nodeOf(code);
    if (n.expanded) {
      n.expanded = false;
      renderTree();
      return;
    }
    n.expanded = true;
    renderTree();
    if (!Array.isArray(n.children)) {
      try {
        await loadArea(code);
        ok('area');
      } catch (e) {
        fail('area', `Area ${code}`, e);
      }
      renderTree();
    }
  }

  const treeEls = new Map(); // code -> elements of its tree item

  function treeItem(n) {
    let e = treeEls.get(n.code);
    if (!e) {
      const code = n.code;
      const caret = h('button', {
        type: 'button', class: 'caret', tabindex: '-1', testid: `tree-toggle-${code}`,
        onclick: (ev) => { ev.preventDefault(); toggle(code); },
      });
      const name = h('span', { class: 'name' });
      const lvl = h('span', { class: 'lvl' });
      const online = h('span', { class: 'online' });
      const total = h('span', { class: 'total' });
      const count = h('span', { class: 'count', testid: `tree-count-${code}` }, online, '/', total);
      const fill = h('i');
      const bar = h('span', { class: 'bar', 'aria-hidden': 'true' }, fill);
      const a = h('a', {
        class: 'node', href: `#/area/${encodeURIComponent(code)}`, testid: `tree-node-${code}`,
        dataset: { code },
        onclick: (ev) => {
          if (ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
          ev.preventDefault();
          // A click on the area already shown opens or closes it; moving to
          // another area keeps the status, level and name filters.
          if (route.view === 'area' && route.code === code) toggle(code);
          else go(areaHash(code, route.view === 'area' ? route : null));
        },
      }, name, lvl, count, bar);
      const row = h('div', { class: 'row' }, caret, a);
      const ul = h('ul', { role: 'group' });
      const li = h('li', { role: 'treeitem' }, row, ul);
      e = { li, row, caret, a, name, lvl, count, online, total, fill, bar, ul };
      treeEls.set(code, e);
    }
    return e;
  }

  function fillCount(countEl, onlineEl, totalEl, fill, bar, cameras) {
    const total = cameras && typeof cameras.total === 'number' ? cameras.total : null;
    const online = cameras && typeof cameras.online === 'number' ? cameras.online : null;
    setText(onlineEl, online == null ? '…' : online);
    setText(totalEl, total == null ? '…' : total);
    countEl.classList.toggle('none', !total);
    countEl.title = total == null ? '' : `${online} online 在线 of ${total} cameras 摄像机`;
    const pct = total ? Math.round((100 * online) / total) : 0;
    fill.style.width = `${pct}%`;
    bar.classList.toggle('none', !total);
  }

  function renderItem(code, depth, into) {
    const n = nodeOf(code);
    const e = treeItem(n);
    e.row.style.setProperty('--depth', depth);
    setText(e.name, n.name);
    e.name.title = `${n.name} (${n.code})`;
    setText(e.lvl, LEVEL_ZH[n.level] || '');
    fillCount(e.count, e.online, e.total, e.fill, e.bar, n.cameras);
    const isSel = selected === code;
    e.a.classList.toggle('selected', isSel);
    if (isSel) e.a.setAttribute('aria-current', 'page'); else e.a.removeAttribute('aria-current');
    const leaf = isLeaf(n);
    e.caret.classList.toggle('leaf', leaf);
    setText(e.caret, n.expanded ? '▾' : '▸');
    e.caret.setAttribute('aria-label', n.expanded ? `Collapse ${n.name}` : `Expand ${n.name}`);
    if (leaf) e.li.removeAttribute('aria-expanded'); else e.li.setAttribute('aria-expanded', String(!!n.expanded));
    const open = n.expanded && Array.isArray(n.children) && n.children.length > 0;
    e.ul.hidden = !open;
    if (open) {
      const kids = [];
      for (const c of n.children) kids.push(renderItem(c, depth + 1, null));
      syncChildren(e.ul, kids);
    }
    if (into) into.push(e.li);
    return e.li;
  }

  function syncChildren(parent, els) {
    els.forEach((el, i) => {
      if (parent.children[i] !== el) parent.insertBefore(el, parent.children[i] || null);
    });
    while (parent.children.length > els.length) parent.lastElementChild.remove();
  }

  function renderTree() {
    const tree = $('tree');
    if (tops) {
      const items = [];
      for (const c of tops) renderItem(c, 0, items);
      syncChildren(tree, items);
      $('tree-note').hidden = tops.length > 0;
      setText($('tree-note'), tops.length ? '' : 'No areas in the directory 目录中没有区域');
    }
    const all = $('tree-all');
    all.classList.toggle('selected', selected == null && route.view === 'area');
    const sum = sumTops();
    setText($('tree-all-count'), sum ? `${sum.online}/${sum.total}` : '');
    renderSummary();
  }

  function sumTops() {
    if (!tops) return null;
    let total = 0;
    let online = 0;
    for (const c of tops) {
      const k = nodeOf(c).cameras;
      if (k) {
        total += k.total || 0;
        online += k.online || 0;
      }
    }
    return { total, online };
  }

  function renderSummary() {
    const s = sumTops();
    const el = $('summary');
    if (!s) return;
    el.replaceChildren(
      h('span', { class: 'on', testid: 'summary-online' }, 'Online 在线 ', h('b', null, s.online)),
      h('span', { class: 'tot', testid: 'summary-total' }, 'Cameras 摄像机 ', h('b', null, s.total)),
    );
  }

  async function refreshTree() {
    const codes = new Set();
    if (selected) {
      codes.add(selected);
      for (const p of nodeOf(selected).path || []) codes.add(p.code);
    }
    for (const n of nodes.values()) {
      if (codes.size >= MAX_REFRESHED_NODES) break;
      if (n.expanded) codes.add(n.code);
    }
    const jobs = [loadTops(), ...[...codes].map((c) => loadArea(c))];
    const res = await Promise.allSettled(jobs);
    const bad = res.find((r) => r.status === 'rejected');
    if (bad) fail('tree', 'Area counts', bad.reason); else ok('tree');
    renderTree();
    renderAreaHead();
  }

  // ---------------------------------------------------------------- breadcrumb
  function renderCrumbs() {
    const parts = [h('a', { href: '#/', testid: 'crumb-all' }, 'All areas 全部区域')];
    const add = (el) => parts.push(h('span', { class: 'sep', 'aria-hidden': 'true' }, '›'), el);
    let code = null;
    if (route.view === 'area') code = route.code;
    else if (cam.data) code = String(cam.data.area);
    if (code) {
      const n = nodeOf(code);
      for (const p of n.path || []) {
        add(h('a', { href: `#/area/${encodeURIComponent(p.code)}`, testid: `crumb-${p.code}` }, p.name));
      }
      if (route.view === 'area') add(h('span', { class: 'here', testid: `crumb-${code}` }, n.name));
      else add(h('a', { href: `#/area/${encodeURIComponent(code)}`, testid: `crumb-${code}` }, n.name));
    }
    if (route.view === 'camera') {
      add(h('span', { class: 'here', testid: 'crumb-camera' }, cam.data ? cam.data.name : route.id));
    }
    $('crumbs').replaceChildren(...parts);
  }

  // ---------------------------------------------------------------- area header
  function renderAreaHead() {
    if (route.view !== 'area') return;
    let name;
    let sub;
    let cams;
    if (!route.code) {
      name = 'All areas 全部区域';
      sub = 'Every camera in the directory 目录中的全部摄像机';
      cams = sumTops();
    } else {
      const n = nodeOf(route.code);
      name = n.name;
      const bits = [];
      if (n.level) bits.push(levelLabel(n.level));
      bits.push(n.code);
      if (n.cameras && typeof n.cameras.here === 'number') bits.push(`${n.cameras.here} here 本级`);
      sub = bits.join('  ·  ');
      cams = n.cameras;
    }
    setText($('area-title'), name);
    setText($('area-sub'), sub);
    const box = $('area-counts');
    if (!cams || typeof cams.total !== 'number') {
      box.replaceChildren();
      return;
    }
    const pct = cams.total ? Math.round((100 * cams.online) / cams.total) : 0;
    box.replaceChildren(
      h('div', null,
        h('span', { class: 'big', testid: 'area-online' }, cams.online),
        h('span', { class: 'of' }, ' / ', h('span', { testid: 'area-total' }, cams.total)),
        h('span', { class: 'sub' }, '  online 在线')),
      h('div', { class: `bar${cams.total ? '' : ' none'}`, 'aria-hidden': 'true' }, h('i', { style: `width:${pct}%` })),
    );
  }

  // ---------------------------------------------------------------- camera list
  function listQuery(r, extra) {
    const p = new URLSearchParams();
    if (r.code) p.set('area', r.code);
    if (r.status) p.set('status', r.status);
    if (r.level) p.set('level', r.level);
    if (r.q) p.set('q', r.q);
    for (const [k, v] of Object.entries(extra || {})) p.set(k, String(v));
    return `/cameras?${p}`;
  }

  const listKey = (r) => JSON.stringify([r.code, r.status, r.level, r.q]);

  async function loadCounts(r) {
    const res = await Promise.allSettled(
      STATUSES.map((s) => api(listQuery({ ...r, status: s }, { limit: 1 }))),
    );
    const counts = {};
    STATUSES.forEach((s, i) => {
      if (res[i].status === 'fulfilled' && typeof res[i].value.total === 'number') counts[s] = res[i].value.total;
    });
    if (STATUSES.every((s) => typeof counts[s] === 'number')) {
      counts[''] = STATUSES.reduce((a, s) => a + counts[s], 0);
    }
    return counts;
  }

  /** Loads (or refreshes) the list for the current route. */
  async function loadList(tick) {
    if (route.view !== 'area') return;
    const r = route;
    const key = listKey(r);
    if (list.key !== key) {
      list.key = key;
      list.items = [];
      list.next = null;
      list.total = null;
      list.counts = {};
      list.loaded = false;
      list.busy = false;
      list.gen += 1;
      renderList();
    } else if (tick && list.busy) {
      return;
    }
    const gen = list.gen;
    list.busy = true;
    const limit = Math.min(1000, Math.max(PAGE, list.items.length));
    try {
      const [page, counts] = await Promise.all([api(listQuery(r, { limit })), loadCounts(r)]);
      if (gen !== list.gen) return;
      list.items = Array.isArray(page.items) ? page.items : [];
      list.next = page.next_cursor || null;
      list.total = typeof page.total === 'number' ? page.total : null;
      list.counts = counts;
      if (!r.status && list.total != null) list.counts[''] = list.total;
      list.loaded = true;
      ok('list');
    } catch (e) {
      if (gen !== list.gen) return;
      fail('list', 'Camera list', e);
    } finally {
      if (gen === list.gen) list.busy = false;
    }
    renderList();
  }

  async function loadMore() {
    if (!list.next || list.busy) return;
    const gen = list.gen;
    list.busy = true;
    renderList();
    try {
      const page = await api(listQuery(route, { limit: PAGE, cursor: list.next }));
      if (gen !== list.gen) return;
      const seen = new Set(list.items.map((c) => c.id));
      list.items = list.items.concat((page.items || []).filter((c) => !seen.has(c.id)));
      list.next = page.next_cursor || null;
      if (typeof page.total === 'number') list.total = page.total;
      ok('list');
    } catch (e) {
      if (gen === list.gen) fail('list', 'More cameras', e);
    } finally {
      if (gen === list.gen) list.busy = false;
    }
    renderList();
  }

  function setBadge(el, status) {
    const s = STATUSES.includes(status) ? status : 'unknown';
    if (el.dataset.status === s) return;
    el.dataset.status = s;
    el.className = `badge s-${s}${el.classList.contains('big') ? ' big' : ''}`;
    el.replaceChildren(
      h('span', { class: 'en' }, status || 'unknown'),
      ' ',
      h('span', { class: 'zh', lang: 'zh' }, STATUS_ZH[s] || ''),
    );
    el.title = `${STATUS_EN[s] || 'Unknown'} ${STATUS_ZH[s] || ''}`;
  }

  const rowEls = new Map(); // id -> row elements

  function cameraRow(c) {
    const id = String(c.id);
    let e = rowEls.get(id);
    if (!e) {
      const badge = h('span', { class: 'badge', testid: 'row-status' });
      const link = h('a', { href: cameraHash(id), testid: `camera-link-${id}` });
      const idEl = h('div', { class: 'sub mono' }, id);
      const areaName = h('span', { testid: 'row-area' });
      const areaCode = h('div', { class: 'sub mono' });
      const level = h('td', { class: 'c-level', testid: 'row-level' });
      const readers = h('td', { class: 'num', testid: 'row-readers' });
      const tr = h('tr', {
        testid: `camera-row-${id}`, dataset: { id },
        onclick: (ev) => {
          if (ev.target.closest('a')) return;
          go(cameraHash(id));
        },
      },
      h('td', null, badge),
      h('td', { class: 'name' }, link, idEl),
      h('td', { class: 'area' }, areaName, areaCode),
      level,
      readers);
      e = { tr, badge, link, areaName, areaCode, level, readers };
      rowEls.set(id, e);
    }
    const st = c.state || {};
    setBadge(e.badge, st.status);
    setText(e.link, c.name || id);
    setText(e.areaName, c.area_name || c.area || '');
    setText(e.areaCode, c.area || '');
    setText(e.level, levelLabel(c.level));
    setText(e.readers, st.readers == null ? '—' : st.readers);
    return e.tr;
  }

  function syncToolbar() {
    const box = $('filters');
    if (!box.firstChild) {
      const opts = [['', 'All', '全部'], ...STATUSES.map((s) => [s, STATUS_EN[s], STATUS_ZH[s]])];
      for (const [s, en, zh] of opts) {
        box.append(h('button', {
          type: 'button', class: `f-${s || 'all'}`, testid: `filter-${s || 'all'}`, dataset: { status: s },
          'aria-pressed': 'false',
          onclick: () => go(areaHash(route.code, { ...route, status: s })),
        }, `${en} `, h('span', { lang: 'zh' }, zh), h('span', { class: 'n' }, '')));
      }
    }
    for (const b of box.children) b.setAttribute('aria-pressed', String(b.dataset.status === route.status));
    const search = $('search');
    if (document.activeElement !== search && search.value !== route.q) search.value = route.q;
    $('level').value = route.level;
  }

  function renderList() {
    if (route.view !== 'area') return;
    renderAreaHead();
    for (const b of $('filters').children) {
      const n = list.counts[b.dataset.status];
      setText(b.querySelector('.n'), typeof n === 'number' ? n : '');
    }
    const rows = list.items.map(cameraRow);
    syncChildren($('rows'), rows);
    // Forget rows no longer shown so the map stays bounded.
    if (rowEls.size > rows.length + 200) {
      const keep = new Set(list.items.map((c) => String(c.id)));
      for (const id of rowEls.keys()) if (!keep.has(id)) rowEls.delete(id);
    }
    const empty = $('empty');
    if (!list.loaded) {
      empty.hidden = list.items.length > 0;
      setText(empty, list.busy ? 'Loading cameras… 加载中' : 'Camera list not loaded 列表未加载');
    } else if (list.items.length === 0) {
      empty.hidden = false;
      setText(empty, route.q || route.status || route.level
        ? 'No camera matches these filters 没有符合条件的摄像机'
        : 'No cameras in this area 此区域没有摄像机');
    } else {
      empty.hidden = true;
    }
    const shown = list.loaded
      ? `Showing ${list.items.length} of ${list.total == null ? '?' : list.total} 显示 ${list.items.length} / ${list.total == null ? '?' : list.total}`
      : '';
    setText($('shown'), shown);
    const more = $('more');
    more.hidden = !list.next;
    more.disabled = list.busy;
  }

  // ---------------------------------------------------------------- camera page
  async function loadCamera(tick) {
    if (route.view !== 'camera' || !cam.id) return;
    if (tick && cam.busy) return;
    const id = cam.id;
    const gen = cam.gen;
    cam.busy = true;
    try {
      const c = await api(`/cameras/${encodeURIComponent(id)}`);
      if (gen !== cam.gen || route.view !== 'camera') return;
      cam.data = c;
      cam.error = null;
      cam.at = Date.now();
      ok('camera');
      const area = c.area != null ? String(c.area) : null;
      if (area && selected !== area) {
        await select(area, true);
      } else if (area && !nodeOf(area).path) {
        await select(area, false);
      }
    } catch (e) {
      if (gen !== cam.gen) return;
      cam.error = e;
      fail('camera', `Camera ${id}`, e);
    } finally {
      if (gen === cam.gen) cam.busy = false;
    }
    if (gen !== cam.gen || route.view !== 'camera') return;
    renderCamera();
    renderCrumbs();
  }

  /** The RTSP URL to give the operator: a loopback or wildcard host is of no
   *  use on another machine, so it becomes the host this page was opened with. */
  function playableUrl(u) {
    if (!u) return '';
    const m = /^(rtsps?:\/\/)(\[[^\]]*\]|[^/:]*)(.*)$/i.exec(u);
    if (!m) return u;
    const host = m[2].toLowerCase();
    const local = ['127.0.0.1', 'localhost', '0.0.0.0', '[::]', '[::1]', ''].includes(host);
    const pageHost = location.hostname;
    if (!local || !pageHost || ['127.0.0.1', 'localhost', '[::1]', '::1'].includes(pageHost)) return u;
    const hostPart = pageHost.includes(':') ? `[${pageHost}]` : pageHost;
    return m[1] + hostPart + m[3];
  }

  function fact(dl, label, testid, value, cls) {
    dl.append(h('dt', null, label), h('dd', { testid, class: cls }, value));
  }

  function renderCamera() {
    if (route.view !== 'camera') return;
    const c = cam.data;
    const back = $('back');
    back.href = c && lastListHash === '#/' ? `#/area/${encodeURIComponent(c.area)}` : lastListHash;
    if (!c) {
      setText($('cam-name'), cam.error ? 'Camera not available 摄像机不可用' : 'Loading… 加载中');
      setText($('cam-id'), cam.id || '');
      setBadge($('cam-status'), null);
      setText($('cam-since'), '');
      $('cam-error').hidden = true;
      setText($('rtsp-url'), '');
      setText($('play-cmd'), '');
      $('live').replaceChildren();
      $('conf').replaceChildren();
      setText($('cam-updated'), '');
      return;
    }
    document.title = `${c.name} · Xueliang Gateway`;
    const st = c.state || {};
    setText($('cam-name'), c.name);
    setText($('cam-id'), c.id);
    setBadge($('cam-status'), st.status);
    const since = st.since ? new Date(st.since) : null;
    setText($('cam-since'), since && !isNaN(since)
      ? `since ${dateTime(since)} · for ${duration(Date.now() - since.getTime())}`
      : '');
    const errEl = $('cam-error');
    if (st.last_error) {
      errEl.hidden = false;
      setText(errEl, `Last error 最近错误: ${st.last_error}`);
    } else {
      errEl.hidden = true;
    }
    const url = playableUrl(c.rtsp_url);
    const urlEl = $('rtsp-url');
    setText(urlEl, url);
    urlEl.title = url !== c.rtsp_url ? `The gateway reports ${c.rtsp_url}; shown with this page's host` : '';
    setText($('play-cmd'), url ? `ffplay -rtsp_transport tcp ${url}` : '');

    const live = h('dl');
    const res = st.width && st.height ? `${st.width} × ${st.height}` : '—';
    fact(live, 'Status 状态', 'cam-status-text', `${dash(st.status)} ${STATUS_ZH[st.status] || ''}`.trim());
    fact(live, 'Since 起始', 'cam-since-time', since && !isNaN(since) ? dateTime(since) : '—');
    fact(live, 'Last error 最近错误', 'cam-last-error', dash(st.last_error), st.last_error ? 'bad' : null);
    fact(live, 'Codec 编码', 'cam-codec', dash(st.codec));
    fact(live, 'Resolution 分辨率', 'cam-resolution', res);
    // Rates of a camera not streaming are zeros, not measurements.
    const streaming = st.status === 'online';
    const rate = (v) => typeof v === 'number' && (streaming || v > 0);
    fact(live, 'Frame rate 帧率', 'cam-fps', rate(st.fps) ? `${st.fps.toFixed(1)} fps` : '—');
    fact(live, 'Bitrate 码率', 'cam-bitrate', rate(st.bitrate_bps) ? bitrate(st.bitrate_bps) : '—');
    fact(live, 'Readers 观看', 'cam-readers', dash(st.readers));
    fact(live, 'Reconnects 重连', 'cam-reconnects', dash(st.reconnects), st.reconnects > 0 ? 'bad' : null);
    $('live').replaceChildren(...live.childNodes);

    const conf = h('dl');
    const areaCode = c.area != null ? String(c.area) : '';
    fact(conf, 'Area 区域', 'cam-area', h('a', { href: `#/area/${encodeURIComponent(areaCode)}` }, c.area_name || areaCode),
      null);
    conf.lastChild.append(h('span', { class: 'sub mono' }, areaCode));
    fact(conf, 'Level 级别', 'cam-level', levelLabel(c.level));
    fact(conf, 'Mode 模式', 'cam-mode', c.mode === 'on-demand' ? 'on-demand 按需' : c.mode === 'always' ? 'always 常连' : dash(c.mode));
    fact(conf, 'Transport 传输', 'cam-transport', dash(c.transport));
    fact(conf, 'Source 来源', 'cam-source', c.source === 'config' ? 'config file 配置文件' : c.source === 'api' ? 'API' : dash(c.source));
    fact(conf, 'Camera URL 源地址', 'cam-url', dash(c.url));
    fact(conf, 'Credentials 凭据', 'cam-credentials', c.has_credentials ? 'set, not shown 已设置（不显示）' : 'none 无');
    fact(conf, 'Tags 标签', 'cam-tags', Array.isArray(c.tags) && c.tags.length ? c.tags.join(', ') : '—');
    if (typeof c.latitude === 'number' && typeof c.longitude === 'number') {
      fact(conf, 'Location 位置', 'cam-location', `${c.latitude.toFixed(5)}, ${c.longitude.toFixed(5)}`);
    }
    $('conf').replaceChildren(...conf.childNodes);
    renderCameraUpdated();
  }

  function renderCameraUpdated() {
    if (route.view !== 'camera' || !cam.at) return;
    setText($('cam-updated'), `Refreshed every ${CAMERA_MS / 1000} s · last at ${clock(new Date(cam.at))} 每${CAMERA_MS / 1000}秒刷新`);
  }

  async function copyUrl() {
    const el = $('rtsp-url');
    const text = el.textContent;
    const status = $('copy-status');
    if (!text) return;
    status.classList.remove('warn');
    try {
      if (!navigator.clipboard || !window.isSecureContext) throw new Error('no clipboard');
      await navigator.clipboard.writeText(text);
      setText(status, 'Copied 已复制');
      return;
    } catch (_) {
      // Fall back to selecting the text (and the legacy copy command).
    }
    const range = document.createRange();
    range.selectNodeContents(el);
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    let copied = false;
    try {
      copied = document.execCommand('copy');
    } catch (_) {
      copied = false;
    }
    if (copied) {
      setText(status, 'Copied 已复制');
    } else {
      status.classList.add('warn');
      setText(status, 'Selected: press Ctrl+C to copy 已选中，按 Ctrl+C 复制');
    }
  }

  // ---------------------------------------------------------------- header clock
  function renderUpdated() {
    const el = $('updated');
    if (!lastOk) {
      setText(el, 'Connecting… 连接中');
      el.classList.add('stale');
      return;
    }
    const age = Date.now() - lastOk;
    const stale = age > STALE_MS;
    el.classList.toggle('stale', stale);
    setText(el, stale
      ? `No fresh data for ${duration(age)} 数据未更新`
      : `Live · updated ${clock(new Date(lastOk))} 已更新`);
  }

  // ---------------------------------------------------------------- wiring
  function every(ms, f) {
    setInterval(() => {
      if (!document.hidden) f();
    }, ms);
  }

  function init() {
    $('tree-all').addEventListener('click', (ev) => {
      if (ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
      ev.preventDefault();
      go(areaHash(null, route.view === 'area' ? route : null));
    });
    $('banner-close').addEventListener('click', () => {
      errors.clear();
      renderBanner();
    });
    $('copy').addEventListener('click', copyUrl);
    $('more').addEventListener('click', loadMore);
    let searchTimer = 0;
    $('search').addEventListener('input', (ev) => {
      clearTimeout(searchTimer);
      const q = ev.target.value.trim();
      searchTimer = setTimeout(() => go(areaHash(route.code, { ...route, q }), true), 300);
    });
    $('search').addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter') {
        clearTimeout(searchTimer);
        go(areaHash(route.code, { ...route, q: ev.target.value.trim() }), true);
      }
    });
    $('level').addEventListener('change', (ev) => go(areaHash(route.code, { ...route, level: ev.target.value })));
    document.addEventListener('keydown', (ev) => {
      const typing = /^(INPUT|SELECT|TEXTAREA)$/.test(document.activeElement && document.activeElement.tagName);
      if (ev.key === '/' && !typing && route.view === 'area') {
        ev.preventDefault();
        $('search').focus();
      } else if (ev.key === 'Escape' && route.view === 'camera' && !typing) {
        go($('back').getAttribute('href'));
      }
    });
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden) {
        refreshTree();
        if (route.view === 'area') loadList(true); else loadCamera(true);
      }
    });
    window.addEventListener('hashchange', onRoute);

    renderUpdated();
    loadTops()
      .then(() => ok('tree'))
      .catch((e) => {
        fail('tree', 'Areas', e);
        setText($('tree-note'), 'Areas not loaded 区域未加载');
      })
      .then(renderTree);
    onRoute();

    every(TREE_MS, refreshTree);
    every(LIST_MS, () => { if (route.view === 'area') loadList(true); });
    every(CAMERA_MS, () => { if (route.view === 'camera') loadCamera(true); });
    setInterval(() => {
      renderUpdated();
      if (route.view === 'camera' && cam.data) {
        const st = cam.data.state || {};
        const since = st.since ? new Date(st.since) : null;
        if (since && !isNaN(since)) {
          setText($('cam-since'), `since ${dateTime(since)} · for ${duration(Date.now() - since.getTime())}`);
        }
      }
    }, 1000);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
