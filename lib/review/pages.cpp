#include "review/pages.hpp"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <vector>

#include "report/report.hpp"
#include "util/text.hpp"

namespace facecat::review {

namespace {

using report::escape;

const char* kCss = R"CSS(
body{font-family:system-ui,sans-serif;margin:0;background:#f6f6f6;color:#222}
header{position:sticky;top:0;z-index:2;background:#234;color:#eee;padding:.5em 1.5em;display:flex;gap:1.5em;align-items:baseline;flex-wrap:wrap}
header a{color:#cde}
header h1{font-size:1.1em;margin:0}
#status{color:#fc6;font-weight:bold}
main{padding:0 1.5em 3em}
h2{font-size:1.05em;margin:1.2em 0 .4em}
.help,.muted{color:#777;font-size:.85em}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px 10px;margin:10px 0}
.card:focus-within{border-color:#36c;box-shadow:0 0 0 2px #9bd}
.card.working{opacity:.6}
.card h3{font-size:1em;margin:0 0 6px}
.grid{display:flex;flex-wrap:wrap;gap:6px}
.face{margin:0;width:104px;text-align:center;font-size:.7em;cursor:pointer;user-select:none}
.face img{width:96px;height:96px;object-fit:cover;border-radius:4px;background:#ddd;border:4px solid transparent;display:block;margin:auto}
.face.confirmed img{border-color:#2a7}
.face.selected img{border-color:#d33}
.face figcaption{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.person .face{width:170px}
.person .face img{width:160px;height:160px}
form.namer{display:flex;gap:6px;margin:8px 0 4px;flex-wrap:wrap;align-items:center}
input.name{font-size:1em;padding:3px 6px;width:18em}
.actions{display:flex;gap:6px;flex-wrap:wrap;align-items:center}
.msg{font-size:.9em;min-height:1.2em}
.msg.error{color:#c22}
.msg.busy{color:#b70}
.msg.ask{color:#036}
.pager a,.pager b{margin-right:.5em}
.legend span{display:inline-block;width:12px;height:12px;vertical-align:middle;margin:0 4px 0 10px}
)CSS";

const char* kScript = R"JS(
(function () {
'use strict';
const csrf = document.querySelector('meta[name="csrf"]').content;
const statusEl = document.getElementById('status');
const sleep = ms => new Promise(r => setTimeout(r, ms));
const cards = () => Array.from(document.querySelectorAll('.card'));
function say(card, text, cls) {
  const m = card ? card.querySelector('.msg') : statusEl;
  m.textContent = text;
  m.className = 'msg ' + (cls || '');
}
// Every change is a POST with the CSRF token; 503 {"busy"} means another facecat tool holds the catalog's writer
// lock: say so and try again until it is free.
async function post(path, body, card) {
  for (;;) {
    let r, j = {};
    try {
      r = await fetch(path, {method: 'POST', credentials: 'same-origin',
        headers: {'Content-Type': 'application/json', 'X-Facecat-CSRF': csrf}, body: JSON.stringify(body)});
      j = await r.json().catch(() => ({}));
    } catch (e) {
      say(card, 'facecat-review cannot be reached (' + e.message + '); retrying…', 'busy');
      await sleep(2000);
      continue;
    }
    if (r.status === 503 && j.busy) {
      const what = 'The catalog is busy (' + (j.holder || 'another facecat tool is writing it') + '); retrying…';
      say(card, what, 'busy');
      statusEl.textContent = what;
      document.body.dataset.busy = '1';
      await sleep(1000);
      continue;
    }
    document.body.dataset.busy = '';
    statusEl.textContent = '';
    return {status: r.status, body: j};
  }
}
function done(card, res) {
  if (res.status === 200) {
    // this person's page after it was merged into another: go to the one that stays
    const here = location.pathname.match(/^\/person\/(\d+)$/);
    const r = res.body.result || {};
    if (here && r.merged_person_id === +here[1] && r.person_id) {
      location.href = '/person/' + r.person_id;
      return;
    }
    sessionStorage.setItem('facecat-focus', String(cards().indexOf(card)));
    location.reload();
    return;
  }
  say(card, res.body.error || ('failed: HTTP ' + res.status), 'error');
}
const pid = card => +card.dataset.person;
const selected = card => Array.from(card.querySelectorAll('.face.selected')).map(f => +f.dataset.face);
const shown = card => Array.from(card.querySelectorAll('.face')).map(f => +f.dataset.face);
async function act(card, path, body) {
  card.classList.add('working');
  const res = await post(path, body, card);
  card.classList.remove('working');
  done(card, res);
}
function askMerge(card, name, info) {
  const m = card.querySelector('.msg');
  m.className = 'msg ask';
  m.textContent = '“' + name + '” is already a person with ' + info.faces + ' faces. Merge these faces into it? ';
  const yes = document.createElement('button');
  yes.type = 'button';
  yes.className = 'merge-yes';
  yes.textContent = 'Merge into “' + name + '” (Enter)';
  yes.onclick = () => saveName(card, true);
  const no = document.createElement('button');
  no.type = 'button';
  no.textContent = 'Cancel';
  no.onclick = () => { m.textContent = ''; delete card.dataset.ask; };
  m.append(yes, ' ', no);
  card.dataset.ask = name;
}
async function saveName(card, merge) {
  const name = card.querySelector('input.name').value.trim();
  if (!name) { say(card, 'Type a name first.', 'error'); return; }
  card.classList.add('working');
  const res = await post('/api/name', {person: pid(card), name: name, merge: !!merge, confirm: shown(card)}, card);
  card.classList.remove('working');
  if (res.status === 409 && res.body.exists) { askMerge(card, name, res.body); return; }
  done(card, res);
}
function needSelection(card) {
  const f = selected(card);
  if (!f.length) say(card, 'Click faces to select them first.', 'error');
  return f;
}
document.addEventListener('submit', e => {
  const card = e.target.closest('.card');
  if (!card) return;
  e.preventDefault();
  const name = card.querySelector('input.name').value.trim();
  saveName(card, card.dataset.ask === name);
});
document.addEventListener('click', e => {
  const card = e.target.closest('.card');
  if (!card) return;
  const b = e.target.closest('button[data-act]');
  if (b) {
    const a = b.dataset.act;
    if (a === 'confirm') return act(card, '/api/confirm', {person: pid(card)});
    const f = needSelection(card);
    if (!f.length) return;
    if (a === 'reject') return act(card, '/api/reject', {faces: f});
    if (a === 'split') return act(card, '/api/split', {person: pid(card), faces: f});
    if (a === 'notface') return act(card, '/api/notface', {faces: f});
    return;
  }
  const face = e.target.closest('.face');
  if (face && !e.target.closest('a')) {
    face.classList.toggle('selected');
    const n = selected(card).length;
    say(card, n ? n + ' selected' : '');
  }
});
document.addEventListener('change', e => {
  const s = e.target.closest('select.merge');
  if (!s || !s.value) return;
  const card = s.closest('.card');
  act(card, '/api/merge', {person: pid(card), into: +s.value});
});
// Keyboard: j / k or the arrow keys (outside a text box), PageDown / PageUp anywhere: next / previous card.
function focusCard(c) {
  if (!c) return;
  c.scrollIntoView({block: 'center'});
  const i = c.querySelector('input.name');
  (i || c).focus();
}
document.addEventListener('keydown', e => {
  const typing = e.target.matches && e.target.matches('input, select, textarea');
  let dir = 0;
  if (e.key === 'PageDown' || (!typing && (e.key === 'j' || e.key === 'ArrowDown'))) dir = 1;
  if (e.key === 'PageUp' || (!typing && (e.key === 'k' || e.key === 'ArrowUp'))) dir = -1;
  if (!dir || e.altKey || e.ctrlKey || e.metaKey) return;
  e.preventDefault();
  const cs = cards();
  if (!cs.length) return;
  const cur = e.target.closest ? e.target.closest('.card') : null;
  const i = cur ? cs.indexOf(cur) + dir : (dir > 0 ? 0 : cs.length - 1);
  focusCard(cs[Math.max(0, Math.min(cs.length - 1, i))]);
});
const back = sessionStorage.getItem('facecat-focus');
sessionStorage.removeItem('facecat-focus');
const cs = cards();
if (back !== null && cs.length) focusCard(cs[Math.min(+back, cs.length - 1)]);
else if (document.querySelector('.card.unnamed')) focusCard(document.querySelector('.card.unnamed'));
})();
)JS";

struct FaceView {
  int64_t id = 0;
  std::optional<int64_t> file_id;
  std::string path;  // raw bytes
  std::string assignment;
};

struct PersonView {
  int64_t id = 0;
  std::optional<std::string> name;
  std::string status;
  int64_t faces = 0, confirmed = 0;
};

// The faces of a person that are not rejected: confirmed first, then by id.
std::vector<FaceView> faces_of(catalog::Db& db, int64_t pid, int limit) {
  std::vector<FaceView> out;
  auto s = db.prepare(
      "SELECT f.id, fi.id, fi.path, coalesce(f.assignment, '') FROM faces f "
      "LEFT JOIN files fi ON fi.id = (SELECT id FROM files WHERE files.hash = f.file_hash "
      "  ORDER BY status = 'present' DESC, id LIMIT 1) "
      "WHERE f.person_id = ? AND coalesce(f.assignment, '') <> 'rejected' AND f.label = 'face' "
      "ORDER BY f.assignment = 'confirmed' DESC, f.id LIMIT ?");
  s.bind_all(pid, static_cast<int64_t>(limit));
  while (s.step()) {
    FaceView f;
    f.id = s.i64(0);
    f.file_id = s.opt_i64(1);
    if (!s.is_null(2)) f.path = s.blob(2);
    f.assignment = s.text(3);
    out.push_back(std::move(f));
  }
  return out;
}

std::vector<PersonView> people(catalog::Db& db, std::optional<int64_t> only = std::nullopt) {
  std::vector<PersonView> out;
  auto s = db.prepare(
      "SELECT p.id, p.name, p.status, "
      " (SELECT count(*) FROM faces f WHERE f.person_id = p.id AND coalesce(f.assignment,'') <> 'rejected' "
      "   AND f.label = 'face') AS n, "
      " (SELECT count(*) FROM faces f WHERE f.person_id = p.id AND f.assignment = 'confirmed' AND f.label = 'face') "
      "FROM people p WHERE (?1 IS NULL OR p.id = ?1) ORDER BY n DESC, p.id");
  s.bind(1, only);
  while (s.step()) {
    PersonView p{s.i64(0), s.opt_text(1), s.text(2), s.i64(3), s.i64(4)};
    out.push_back(std::move(p));
  }
  return out;
}

std::string label(const PersonView& p) { return p.name ? *p.name : "Unnamed person p" + std::to_string(p.id); }

// "folder/file.jpg" of a raw path, for a caption.
std::string folder_and_file(const std::string& raw) {
  std::filesystem::path p(raw);
  std::string folder = p.parent_path().filename().string();
  return util::utf8_lossy(folder.empty() ? p.filename().string() : folder + "/" + p.filename().string());
}

std::string face_html(const FaceView& f, bool with_link) {
  std::string id = std::to_string(f.id);
  std::string cap = f.path.empty() ? "(file gone)" : folder_and_file(f.path);
  std::string h = "<figure class=\"face" + std::string(f.assignment == "confirmed" ? " confirmed" : "") +
                  "\" data-face=\"" + id + "\" title=\"f" + id + " · " + escape(util::utf8_lossy(f.path)) +
                  "\"><img loading=\"lazy\" src=\"/crop/" + id + "\" alt=\"face f" + id + "\"><figcaption>" +
                  escape(cap) + "</figcaption>";
  if (with_link && f.file_id)
    h += "<figcaption><a href=\"/original/" + std::to_string(*f.file_id) + "\" target=\"_blank\" rel=\"noopener\">" +
         "open the photo</a></figcaption>";
  return h + "</figure>";
}

std::string card_html(catalog::Db& db, const PersonView& p, const std::vector<PersonView>& all, int limit,
                      bool person_page) {
  const bool unnamed = !p.name;
  std::string id = std::to_string(p.id);
  std::string h = "<section class=\"card" + std::string(unnamed ? " unnamed" : "") +
                  std::string(person_page ? " person" : "") + "\" data-person=\"" + id +
                  "\" data-faces=\"" + std::to_string(p.faces) + "\"><h3>";
  h += person_page ? escape(label(p)) : "<a href=\"/person/" + id + "\">" + escape(label(p)) + "</a>";
  h += " <span class=\"muted\">" + std::to_string(p.faces) + " faces, " + std::to_string(p.confirmed) +
       " confirmed · p" + id + "</span></h3>\n<div class=\"grid\">";
  auto faces = faces_of(db, p.id, limit);
  for (auto& f : faces) h += face_html(f, person_page);
  h += "</div>\n";
  if (static_cast<int64_t>(faces.size()) < p.faces)
    h += "<p class=\"muted\"><a href=\"/person/" + id + "\">all " + std::to_string(p.faces) + " faces →</a></p>\n";
  h += "<form class=\"namer\"><input class=\"name\" name=\"name\" list=\"names\" autocomplete=\"off\" "
       "placeholder=\"Who is this? Enter saves\" value=\"" +
       escape(p.name.value_or("")) + "\"><button type=\"submit\">Save name</button></form>\n";
  h += "<div class=\"actions\"><button type=\"button\" data-act=\"confirm\">Confirm all</button>"
       "<button type=\"button\" data-act=\"reject\">Not this person (selected)</button>"
       "<button type=\"button\" data-act=\"split\">Split selected into a new person</button>"
       "<button type=\"button\" data-act=\"notface\">Not a face (selected)</button>";
  if (person_page) {
    h += "<select class=\"merge\"><option value=\"\">Merge into…</option>";
    for (auto& o : all)
      if (o.id != p.id && o.name && o.faces > 0)
        h += "<option value=\"" + std::to_string(o.id) + "\">" + escape(*o.name) + "</option>";
    h += "</select>";
  }
  h += "</div>\n<div class=\"msg\"></div></section>\n";
  return h;
}

std::string page(const PageContext& ctx, const std::string& title, const std::vector<PersonView>& all,
                 const std::string& body) {
  std::string h = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"csrf\" content=\"" +
                  escape(ctx.csrf) + "\">\n<title>" + escape(title) + " · facecat review</title>\n<style>" + kCss +
                  "</style>\n</head>\n<body data-generation=\"" + std::to_string(ctx.generation) + "\">\n<header><h1>" +
                  "<a href=\"/\">facecat review</a></h1><span>" + escape(ctx.catalog_name) +
                  "</span><span id=\"status\" class=\"msg\" role=\"status\"></span></header>\n<main>\n<datalist id=\"names\">";
  for (auto& p : all)
    if (p.name) h += "<option value=\"" + escape(*p.name) + "\">";
  h += "</datalist>\n" + body + "</main>\n<script>" + kScript + "</script>\n</body>\n</html>\n";
  return h;
}

const char* kHelp =
    "<p class=\"help\">Type a name and press Enter to name a group and confirm the faces shown; an existing name "
    "asks before merging. Click faces to select them, then reject them, split them off or mark them as not a face. "
    "Keys: PageDown / PageUp (or j / k outside a text box) go to the next / previous group."
    "<span class=\"legend\"><span style=\"background:#2a7\"></span>confirmed face "
    "<span style=\"background:#d33\"></span>selected</span></p>\n";

}  // namespace

std::string index_page(catalog::Db& db, const PageContext& ctx) {
  auto all = people(db);
  // the cards in order: people to name, then named people, each largest first; one page of them
  std::vector<const PersonView*> order;
  for (int pass = 0; pass < 2; ++pass)
    for (auto& p : all)
      if (p.faces > 0 && (pass == 0) == !p.name) order.push_back(&p);
  const size_t per = static_cast<size_t>(std::max(1, ctx.cards_per_page));
  const size_t pages = std::max<size_t>(1, (order.size() + per - 1) / per);
  const size_t pg = std::min<size_t>(pages, static_cast<size_t>(std::max(1, ctx.page)));
  std::string to_name, named;
  size_t n_unnamed = 0, n_named = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    const auto& p = *order[i];
    (p.name ? n_named : n_unnamed)++;
    if (i < (pg - 1) * per || i >= pg * per) continue;
    (p.name ? named : to_name) += card_html(db, p, all, ctx.index_faces, false);
  }
  std::string pager;
  if (pages > 1) {
    pager = "<p class=\"pager\">Pages: ";
    for (size_t i = 1; i <= pages; ++i)
      pager += i == pg ? "<b>" + std::to_string(i) + "</b> " : "<a href=\"/?page=" + std::to_string(i) + "\">" + std::to_string(i) + "</a> ";
    pager += "</p>\n";
  }
  int64_t nobody = db.scalar_int("SELECT count(*) FROM faces WHERE label = 'face' AND "
                                 "(person_id IS NULL OR assignment = 'rejected')")
                       .value_or(0);
  std::string body = kHelp + pager;
  if (!to_name.empty() || pg == 1) {
    body += "<h2 id=\"to-name\">To name: " + std::to_string(n_unnamed) + " suggested people, largest first</h2>\n";
    body += to_name.empty() ? "<p class=\"muted\">Nothing left to name. Run facecat-cluster after facecat-detect to "
                              "group new faces.</p>\n"
                            : to_name;
  }
  if (!named.empty() || pg == pages)
    body += "<h2 id=\"people\">People: " + std::to_string(n_named) + "</h2>\n" + named;
  body += pager;
  body += "<p class=\"muted\">" + std::to_string(nobody) +
          " faces belong to nobody (too few alike to group, or rejected).</p>\n";
  return page(ctx, "People", all, body);
}

std::optional<std::string> person_page(catalog::Db& db, int64_t person, const PageContext& ctx) {
  auto one = people(db, person);
  if (one.empty()) return std::nullopt;
  auto all = people(db);
  std::string body = kHelp + card_html(db, one[0], all, 100000, true);
  return page(ctx, label(one[0]), all, body);
}

}  // namespace facecat::review
