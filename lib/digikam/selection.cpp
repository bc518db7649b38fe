#include "digikam/selection.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

#include "core/signals.hpp"
#include "faces_store/pipeline.hpp"
#include "util/text.hpp"

namespace facecat::digikam {

const char* category_name(Category c) {
  switch (c) {
    case Category::Confirmed: return "confirmed";
    case Category::Suggested: return "suggested";
    default: return "unknown";
  }
}

std::vector<ExportImage> select_faces(catalog::Db& db, const SelectOptions& opts,
                                      const std::function<void(const std::string&, const std::string&)>& problem,
                                      SkippedSuggested* skipped) {
  std::map<int64_t, SkippedSuggested::Person> skipped_by_person;
  const std::string configured = faces_store::pipeline_version(db, opts.pipeline);
  auto files = db.prepare(
      "SELECT f.path, f.width, f.height, f.orientation, f.hash FROM files f "
      "WHERE f.kind = 'image' AND f.status = 'present' AND f.error IS NULL AND f.hash IS NOT NULL "
      "AND f.origin NOT IN ('vk', 'scenes') "
      "AND EXISTS (SELECT 1 FROM detections d WHERE d.file_hash = f.hash AND d.error IS NULL) "
      "ORDER BY f.path");
  auto pick = db.prepare(
      "SELECT pipeline_version, width, height FROM detections WHERE file_hash = ?1 AND error IS NULL "
      "ORDER BY (pipeline_version = ?2) DESC, processed_at DESC, pipeline_version DESC LIMIT 1");
  auto faces = db.prepare(
      "SELECT fa.id, fa.x, fa.y, fa.w, fa.h, fa.assignment, p.id, p.name, p.status "
      "FROM faces fa LEFT JOIN people p ON p.id = fa.person_id "
      "WHERE fa.file_hash = ?1 AND fa.pipeline_version = ?2 AND fa.label = 'face' ORDER BY fa.face_index");

  std::vector<ExportImage> out;
  while (files.step()) {
    throw_if_interrupted();
    ExportImage img;
    img.path = files.blob(0);
    img.hash = files.text(4);
    auto w = files.opt_i64(1), h = files.opt_i64(2);
    if (!w || !h || *w <= 0 || *h <= 0) {
      problem(img.path, "the catalog has no image size for this file (run facecat-scan on it again)");
      continue;
    }
    img.stored = {*w, *h};
    int o = static_cast<int>(files.opt_i64(3).value_or(1));
    if (!valid_orientation(o)) {
      spdlog::warn("{}: EXIF orientation {} is not 1..8; treating it as 1 like digiKam does",
                   util::printable(img.path), o);
      o = 1;
    }
    img.orientation = o;
    const Size disp = display_size(img.stored, o);

    pick.reset();
    pick.bind(1, img.hash).bind(2, configured);
    if (!pick.step()) continue;
    img.pipeline_version = pick.text(0);
    auto dw = pick.opt_i64(1), dh = pick.opt_i64(2);
    if (dw && dh && (*dw != disp.w || *dh != disp.h)) {
      problem(img.path, "faces were found on a " + std::to_string(*dw) + "x" + std::to_string(*dh) +
                            " frame but the displayed image is " + std::to_string(disp.w) + "x" +
                            std::to_string(disp.h) + " (orientation " + std::to_string(o) +
                            "); run facecat-detect on it again");
      continue;
    }

    faces.reset();
    faces.bind(1, img.hash).bind(2, img.pipeline_version);
    while (faces.step()) {
      ExportFace f;
      f.face_id = faces.i64(0);
      Rect raw{faces.i64(1), faces.i64(2), faces.i64(3), faces.i64(4)};
      std::string assignment = faces.opt_text(5).value_or("");
      bool has_person = !faces.is_null(6);
      std::string name = has_person ? util::trim(faces.opt_text(7).value_or("")) : std::string();
      std::string pstatus = faces.opt_text(8).value_or("");
      bool named = has_person && !name.empty() && assignment != "rejected";
      if (!named)
        f.category = Category::Unknown;
      else if (assignment == "confirmed" || (faces.is_null(5) && pstatus == "confirmed"))
        f.category = Category::Confirmed;
      else
        f.category = Category::Suggested;
      if (f.category == Category::Suggested && !opts.include_suggested) {
        auto& sp = skipped_by_person[faces.i64(6)];
        sp.person_id = faces.i64(6);
        sp.name = name;
        ++sp.faces;
        continue;
      }
      if (f.category == Category::Unknown && !opts.include_unknown) continue;
      if (named) f.name = name;
      f.display = clamp(raw, disp);
      if (f.display.w <= 0 || f.display.h <= 0) {
        spdlog::warn("{}: face {} ({},{} {}x{}) lies outside the {}x{} image; skipped", util::printable(img.path),
                     f.face_id, raw.x, raw.y, raw.w, raw.h, disp.w, disp.h);
        continue;
      }
      if (f.display.w == disp.w && f.display.h == disp.h) {
        // digiKam skips a region that covers the whole image.
        spdlog::warn("{}: face {} covers the whole image; digiKam would ignore it, skipped",
                     util::printable(img.path), f.face_id);
        continue;
      }
      img.faces.push_back(std::move(f));
    }
    out.push_back(std::move(img));
  }
  if (skipped) {
    *skipped = {};
    for (auto& [id, p] : skipped_by_person) {
      skipped->faces += p.faces;
      skipped->people.push_back(std::move(p));
    }
    std::stable_sort(skipped->people.begin(), skipped->people.end(),
                     [](const auto& a, const auto& b) { return a.faces > b.faces; });
  }
  return out;
}

std::vector<std::string> names_of(const ExportImage& img) {
  std::vector<std::string> names;
  for (const auto& f : img.faces)
    if (!f.name.empty()) names.push_back(f.name);
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

}  // namespace facecat::digikam
