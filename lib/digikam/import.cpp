#include "digikam/import.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <pugixml.hpp>

#include "core/exit_codes.hpp"
#include "core/output.hpp"
#include "core/signals.hpp"
#include "digikam/xmp.hpp"
#include "faces_store/pipeline.hpp"
#include "people/people.hpp"
#include "util/text.hpp"

namespace facecat::digikam {
namespace {

using catalog::Db;
using catalog::DbError;

Error db_error(const std::string& m) { return make_error(m, exit_code::catalog); }

bool has_table(Db& db, const char* name) {
  auto s = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1");
  s.bind(1, name);
  return s.step();
}

const char* kind_name(RegionKind k) {
  switch (k) {
    case RegionKind::Named: return "named";
    case RegionKind::Ignored: return "ignored";
    default: return "unnamed";
  }
}

}  // namespace

std::optional<Rect> parse_db_rect(const std::string& value) {
  pugi::xml_document doc;
  if (!doc.load_buffer(value.data(), value.size())) return std::nullopt;
  auto r = doc.child("rect");
  if (!r) return std::nullopt;
  Rect out;
  int64_t* dst[] = {&out.x, &out.y, &out.w, &out.h};
  const char* names[] = {"x", "y", "width", "height"};
  for (int i = 0; i < 4; ++i) {
    auto a = r.attribute(names[i]);
    if (!a) return std::nullopt;
    auto v = util::parse_int(util::trim(a.value()));
    if (!v) return std::nullopt;
    *dst[i] = *v;
  }
  if (out.w <= 0 || out.h <= 0) return std::nullopt;
  return out;
}

Result<std::vector<ImportImage>> read_digikam_db(const DbOptions& opts) {
  const std::string name = opts.db_path.string();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(opts.db_path, ec))
    return db_error(name + " does not exist or is not a file (digiKam's database is digikam4.db in the folder "
                           "set under Settings → Database)");
  std::vector<std::pair<std::string, std::string>> back;  // digiKam prefix -> catalog prefix
  for (const auto& [a, b] : opts.root_map) back.emplace_back(b, a);
  std::vector<ImportImage> out;
  try {
    Db db = Db::open(name, true, 5000);
    for (const char* t : {"AlbumRoots", "Albums", "Images", "Tags", "TagProperties", "ImageTagProperties", "Settings"})
      if (!has_table(db, t)) return db_error(name + " is not a digiKam database (no table " + t + ")");
    auto roots = album_roots(db, opts);
    std::map<int64_t, std::string> root_path;
    for (const auto& r : roots) root_path[r.id] = r.path;
    auto s = db.prepare(
        "SELECT i.id, a.albumRoot, a.relativePath, i.name, p.property, p.value, t.name, "
        " (SELECT value FROM TagProperties WHERE tagid = t.id AND property = 'person'), "
        " EXISTS (SELECT 1 FROM TagProperties WHERE tagid = t.id AND property = 'unknownPerson'), "
        " EXISTS (SELECT 1 FROM TagProperties WHERE tagid = t.id AND property = 'ignoredPerson'), "
        " EXISTS (SELECT 1 FROM TagProperties WHERE tagid = t.id AND property = 'unconfirmedPerson') "
        "FROM ImageTagProperties p JOIN Images i ON i.id = p.imageid JOIN Albums a ON a.id = i.album "
        "LEFT JOIN Tags t ON t.id = p.tagid "
        "WHERE p.property IN ('tagRegion', 'autodetectedFace', 'autodetectedPerson', 'ignoredFace') "
        "AND i.status IN (1, 2) ORDER BY i.id, p.rowid");
    int64_t last = -1;
    while (s.step()) {
      throw_if_interrupted();
      const int64_t image = s.i64(0);
      auto rect = parse_db_rect(s.text(5));
      if (!rect) {
        spdlog::warn("{}: image {} has a region digiKam wrote as '{}', which is not a rectangle; skipped", name,
                     image, s.text(5));
        continue;
      }
      if (image != last) {
        last = image;
        auto rp = root_path.find(s.i64(1));
        if (rp == root_path.end()) continue;  // a root that is not here (warned about by album_roots)
        std::string rel = s.text(2);
        std::string path = (rp->second == "/" ? std::string() : rp->second) + (rel == "/" ? std::string() : rel) +
                           "/" + s.text(3);
        ImportImage img;
        img.path = map_root(path, back);
        img.ref = name + "#" + std::to_string(image);
        out.push_back(std::move(img));
      } else if (out.empty() || out.back().ref != name + "#" + std::to_string(image)) {
        continue;  // the image's root is not here
      }
      ImportRegion r;
      r.display = *rect;
      const std::string prop = s.text(4);
      const bool unknown_tag = s.i64(8) != 0, ignored_tag = s.i64(9) != 0, unconfirmed_tag = s.i64(10) != 0;
      if (prop == "ignoredFace" || ignored_tag) {
        r.kind = RegionKind::Ignored;
      } else if (prop == "tagRegion" && !s.is_null(6) && !unknown_tag && !unconfirmed_tag) {
        std::string n = util::trim(s.opt_text(7).value_or(""));
        if (n.empty()) n = util::trim(s.text(6));
        std::replace(n.begin(), n.end(), '\\', '/');  // digiKam (and facecat's export) wrote '/' as '\'
        r.kind = n.empty() ? RegionKind::Unnamed : RegionKind::Named;
        r.name = n;
      } else {
        r.kind = RegionKind::Unnamed;  // Unknown, or digiKam's own unconfirmed guess
      }
      out.back().regions.push_back(std::move(r));
    }
  } catch (const DbError& e) {
    return db_error(name + ": " + e.what());
  }
  return out;
}

Result<std::vector<ImportRegion>> regions_from_xmp(std::string_view xml, Size stored, int orientation) {
  auto rs = read_regions(xml);
  if (!rs) return rs.error();
  std::vector<ImportRegion> out;
  std::vector<bool> is_mwg;
  for (const auto& r : *rs) {
    if (r.ours) continue;
    Rect px = r.form == "mwg" ? from_mwg(r.area, stored) : from_mp(r.area, stored);
    px = clamp(px, stored);
    if (px.w <= 0 || px.h <= 0) continue;
    if (px.w == stored.w && px.h == stored.h) continue;  // digiKam skips a region covering the whole image
    ImportRegion ir;
    ir.display = stored_to_display(px, stored, orientation);
    if (r.name) {
      ir.kind = RegionKind::Named;
      ir.name = util::trim(*r.name);
      if (ir.name.empty()) ir.kind = RegionKind::Unnamed;
    }
    bool dup = false;
    if (r.form == "mp")
      for (size_t i = 0; i < out.size(); ++i)
        if (is_mwg[i] && out[i].name == ir.name && iou(out[i].display, ir.display) >= 0.5) dup = true;
    if (dup) continue;
    out.push_back(std::move(ir));
    is_mwg.push_back(r.form == "mwg");
  }
  return out;
}

std::vector<CatalogImage> images_under(Db& db, const std::string& folder) {
  std::string prefix = folder;
  while (prefix.size() > 1 && prefix.back() == '/') prefix.pop_back();
  auto s = db.prepare(
      "SELECT path, width, height, orientation FROM files WHERE kind = 'image' AND status = 'present' "
      "AND error IS NULL AND hash IS NOT NULL AND origin NOT IN ('vk', 'scenes') ORDER BY path");
  std::vector<CatalogImage> out;
  while (s.step()) {
    std::string p = s.blob(0);
    if (prefix != "/" && !(util::starts_with(p, prefix) && p.size() > prefix.size() && p[prefix.size()] == '/'))
      continue;
    auto w = s.opt_i64(1), h = s.opt_i64(2);
    if (!w || !h || *w <= 0 || *h <= 0) continue;
    int o = static_cast<int>(s.opt_i64(3).value_or(1));
    out.push_back({p, Size{*w, *h}, valid_orientation(o) ? o : 1});
  }
  return out;
}

Result<ImportSummary> apply_import(Db& db, const std::vector<ImportImage>& images, const ImportOptions& opts,
                                   const Describe& describe, const std::function<void(const json&)>& on_event) {
  ImportSummary sum;
  const std::string configured = faces_store::pipeline_version(db, opts.pipeline);
  auto file_q = db.prepare(
      "SELECT hash FROM files WHERE path = ?1 AND kind = 'image' AND status = 'present' AND error IS NULL "
      "AND hash IS NOT NULL");
  auto pick = db.prepare(
      "SELECT pipeline_version, model_id FROM detections WHERE file_hash = ?1 AND error IS NULL "
      "ORDER BY (pipeline_version = ?2) DESC, processed_at DESC, pipeline_version DESC LIMIT 1");
  auto faces_q = db.prepare(
      "SELECT fa.id, fa.x, fa.y, fa.w, fa.h, fa.assignment, p.id, p.name FROM faces fa "
      "LEFT JOIN people p ON p.id = fa.person_id WHERE fa.file_hash = ?1 AND fa.pipeline_version = ?2 "
      "AND fa.label = 'face' ORDER BY fa.face_index");

  auto skipped = [&](const ImportImage& img, const std::string& why) {
    ++sum.images_skipped;
    json e = {{"event", "skipped"}, {"source", opts.source}, {"reason", why}};
    put_path(e, img.path);
    spdlog::warn("{}: {}", util::printable(img.path), why);
    on_event(e);
  };

  for (const auto& img : images) {
    throw_if_interrupted();
    if (img.regions.empty()) continue;
    file_q.reset();
    file_q.bind_blob(1, img.path);
    if (!file_q.step()) {
      skipped(img, "not in the catalog (run facecat-scan on its folder first)");
      continue;
    }
    const std::string hash = file_q.text(0);
    pick.reset();
    pick.bind(1, hash).bind(2, configured);
    if (!pick.step()) {
      skipped(img, "no faces detected in it yet (run facecat-detect first)");
      continue;
    }
    const std::string version = pick.text(0), det_model = pick.text(1);
    ++sum.images;

    struct CatFace {
      int64_t id;
      Rect box;
      std::string assignment;
      std::optional<int64_t> person;
      std::string person_name;
      bool taken = false;
    };
    std::vector<CatFace> faces;
    faces_q.reset();
    faces_q.bind(1, hash).bind(2, version);
    while (faces_q.step())
      faces.push_back({faces_q.i64(0), Rect{faces_q.i64(1), faces_q.i64(2), faces_q.i64(3), faces_q.i64(4)},
                       faces_q.opt_text(5).value_or(""), faces_q.opt_i64(6),
                       util::trim(faces_q.opt_text(7).value_or(""))});

    // Pair regions and faces: highest IoU first, each at most once.
    const size_t nr = img.regions.size();
    std::vector<int> face_of(nr, -1);
    {
      struct Pair {
        double iou;
        size_t r, f;
      };
      std::vector<Pair> pairs;
      for (size_t r = 0; r < nr; ++r)
        for (size_t f = 0; f < faces.size(); ++f)
          if (double v = iou(img.regions[r].display, faces[f].box); v >= 0.5) pairs.push_back({v, r, f});
      std::stable_sort(pairs.begin(), pairs.end(), [](const Pair& a, const Pair& b) { return a.iou > b.iou; });
      for (const auto& p : pairs) {
        if (face_of[p.r] >= 0 || faces[p.f].taken) continue;
        face_of[p.r] = int(p.f);
        faces[p.f].taken = true;
      }
    }
    // Regions without a face (not ignored, not a second region on a face already paired) get one.
    std::vector<size_t> to_create;
    std::vector<bool> duplicate(nr, false);
    for (size_t r = 0; r < nr; ++r) {
      if (face_of[r] >= 0 || img.regions[r].kind == RegionKind::Ignored) continue;
      for (const auto& f : faces)
        if (iou(img.regions[r].display, f.box) >= 0.5) duplicate[r] = true;
      if (!duplicate[r]) to_create.push_back(r);
    }
    faces.reserve(faces.size() + to_create.size());  // pointers into it stay valid while faces are added
    std::vector<NewFace> described;
    std::string describe_error;
    if (!to_create.empty() && !opts.dry_run) {
      std::vector<Rect> boxes;
      for (size_t r : to_create) boxes.push_back(img.regions[r].display);
      auto d = describe(img.path, boxes);
      if (!d) describe_error = d.error().message;
      else described = std::move(*d);
      if (describe_error.empty() && described.size() != boxes.size()) describe_error = "describe gave no face";
    }

    std::optional<catalog::Transaction> tx;
    if (!opts.dry_run) tx.emplace(db);
    const int64_t now = util::now_unix();
    for (size_t r = 0; r < nr; ++r) {
      const auto& reg = img.regions[r];
      ++sum.regions;
      json e = {{"event", "import"}, {"source", opts.source}, {"kind", kind_name(reg.kind)}};
      put_path(e, img.path);
      e["ref"] = util::utf8_lossy(img.ref);
      e["name"] = reg.kind == RegionKind::Named ? json(reg.name) : json(nullptr);
      e["box"] = {reg.display.x, reg.display.y, reg.display.w, reg.display.h};
      bool created = false;
      int64_t face_id = -1;
      CatFace* cf = face_of[r] >= 0 ? &faces[size_t(face_of[r])] : nullptr;
      if (reg.kind == RegionKind::Ignored) {
        ++sum.ignored;
        e["status"] = "ignored";
        if (cf) e["face_id"] = cf->id;
        on_event(e);
        continue;
      }
      if (duplicate[r]) {
        ++sum.errors;
        e["status"] = "error";
        e["reason"] = "another region of this image already lies on the same face";
        on_event(e);
        continue;
      }
      if (!cf) {
        if (opts.dry_run) {
          created = true;
        } else {
          auto it = std::find(to_create.begin(), to_create.end(), r);
          if (!describe_error.empty()) {
            ++sum.errors;
            e["status"] = "error";
            e["reason"] = "facecat has no face here and could not describe the region: " + describe_error;
            spdlog::error("{}: region {},{} {}x{}: {}", util::printable(img.path), reg.display.x, reg.display.y,
                          reg.display.w, reg.display.h, e["reason"].get<std::string>());
            on_event(e);
            continue;
          }
          const NewFace& nf = described[size_t(it - to_create.begin())];
          auto mi = db.prepare("SELECT coalesce(max(face_index), -1) + 1 FROM faces WHERE file_hash = ?1 AND "
                               "pipeline_version = ?2");
          mi.bind(1, hash).bind(2, version);
          const int64_t index = mi.step() ? mi.i64(0) : 0;
          json quality = nf.quality;
          quality["source"] = opts.source;
          auto ins = db.prepare(
              "INSERT INTO faces (file_hash, pipeline_version, face_index, model_id, x, y, w, h, conf, label, "
              "descriptor, landmarks, quality, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL, 'face', "
              "?9, ?10, ?11, ?12)");
          ins.bind(1, hash).bind(2, version).bind(3, index)
              .bind(4, nf.model_id.empty() ? det_model : nf.model_id)
              .bind(5, reg.display.x).bind(6, reg.display.y).bind(7, reg.display.w).bind(8, reg.display.h);
          if (nf.descriptor.empty()) ins.bind(9, nullptr); else ins.bind_blob(9, nf.descriptor);
          if (nf.landmarks.empty()) ins.bind(10, nullptr); else ins.bind_blob(10, nf.landmarks);
          ins.bind(11, quality.dump()).bind(12, now).run();
          face_id = db.last_insert_id();
          db.prepare("UPDATE detections SET n_faces = n_faces + 1 WHERE file_hash = ?1 AND pipeline_version = ?2")
              .bind_all(hash, version)
              .run();
          faces.push_back({face_id, reg.display, "", std::nullopt, "", true});
          cf = &faces.back();
          created = true;
        }
        ++sum.created;
      }
      if (cf) face_id = cf->id;
      e["created"] = created;
      if (face_id >= 0) e["face_id"] = face_id;

      std::string status;
      if (reg.kind == RegionKind::Unnamed) {
        ++sum.unnamed;
        status = "unnamed";
      } else {
        const bool has_name = cf && cf->person && !cf->person_name.empty();
        const bool confirmed_same = has_name && cf->assignment == "confirmed" && cf->person_name == reg.name;
        const bool confirmed_other = has_name && cf->assignment == "confirmed" && cf->person_name != reg.name;
        const bool rejected_same = has_name && cf->assignment == "rejected" && cf->person_name == reg.name;
        if (confirmed_same) {
          ++sum.present;
          status = "present";
        } else if (confirmed_other || rejected_same) {
          e["facecat"] = {{"person_id", *cf->person},
                          {"name", cf->person_name},
                          {"assignment", cf->assignment}};
          if (opts.prefer == Prefer::Facecat) {
            ++sum.kept;
            status = "kept";
          } else if (opts.prefer == Prefer::Digikam) {
            ++sum.overridden;
            status = "overridden";
          } else {
            ++sum.conflicts;
            status = "conflict";
          }
          spdlog::warn("{}: face {} at {},{} {}x{}: {} says '{}', facecat has it {} as '{}'{}", util::printable(img.path),
                       cf->id, reg.display.x, reg.display.y, reg.display.w, reg.display.h, opts.source, reg.name,
                       cf->assignment == "rejected" ? "rejected" : "confirmed", cf->person_name,
                       status == "conflict" ? " (left as it is; --prefer digikam or facecat decides)"
                       : status == "kept"   ? " (kept: --prefer facecat)"
                                            : " (renamed: --prefer digikam)");
        } else {
          ++sum.confirmed;
          status = "confirmed";
          if (cf && cf->person && !cf->person_name.empty()) e["was"] = cf->person_name;
        }
        if ((status == "confirmed" || status == "overridden") && !opts.dry_run) {
          auto done = people::name(db, people::Ref{people::Ref::Kind::Face, face_id}, reg.name);
          if (!done) return done.error();
          cf->assignment = "confirmed";
          cf->person = (*done)["person_id"].get<int64_t>();
          cf->person_name = reg.name;
        }
      }
      e["status"] = status;
      if (opts.dry_run) e["dry_run"] = true;
      if (!opts.dry_run && face_id >= 0) {
        auto up = db.prepare(
            "INSERT INTO face_sources (face_id, source, ref, name, created, imported_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
            "ON CONFLICT (face_id, source) DO UPDATE SET ref = excluded.ref, name = excluded.name, "
            "imported_at = excluded.imported_at "
            "WHERE face_sources.ref IS NOT excluded.ref OR face_sources.name IS NOT excluded.name");
        up.bind(1, face_id).bind(2, opts.source).bind(3, img.ref);
        if (reg.kind == RegionKind::Named) up.bind(4, reg.name); else up.bind(4, nullptr);
        up.bind(5, int64_t(created ? 1 : 0)).bind(6, now).run();
      }
      on_event(e);
    }
    if (tx) tx->commit();
  }
  return sum;
}

}  // namespace facecat::digikam
