#include "report/report.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fmt/format.h>
#include <tbb/parallel_for.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <optional>
#include <unordered_set>

#include "core/exit_codes.hpp"
#include "core/owned_dir.hpp"
#include "core/signals.hpp"
#include "util/atomic_file.hpp"
#include "util/text.hpp"

namespace facecat::report {

namespace fs = std::filesystem;

std::string escape(std::string_view s) {
  std::string o;
  o.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&#39;"; break;
      default: o += c;
    }
  }
  return o;
}

namespace {

const char* kCss = R"CSS(body{font-family:system-ui,sans-serif;margin:1em 2em;background:#fafafa;color:#222}
nav a{margin-right:1.2em}
.grid{display:flex;flex-wrap:wrap;gap:12px}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px;width:280px}
.card h2{font-size:1em;margin:0 0 6px 0}
.thumbs{display:flex;flex-wrap:wrap;gap:4px}
.thumbs img,.face img{width:64px;height:64px;object-fit:cover;border-radius:4px;background:#eee}
.face{display:inline-block;text-align:center;font-size:.75em;margin:3px;width:120px;vertical-align:top}
.face img{width:112px;height:112px}
.confirmed img{outline:3px solid #2a7}
.pager a,.pager span{margin-right:.6em}
.sheet{display:flex;gap:16px;align-items:flex-start;background:#fff;border:1px solid #ddd;padding:8px;margin:8px 0}
.face.target{width:176px;margin-right:16px}
.target img{width:160px;height:160px;object-fit:cover;outline:3px solid #36c}
.legend{font-size:.85em;color:#555}
.legend span{display:inline-block;width:12px;height:12px;outline:3px solid #2a7;margin:0 6px 0 2px;vertical-align:middle}
.match{color:#2a7;font-weight:bold}
.muted{color:#888}
)CSS";

struct FaceRow {
  int64_t id = 0;
  std::string crop, file;
  int x = 0, y = 0, w = 0, h = 0;
  std::string assignment;
};

// The columns read_face_row() reads, for every query that lists faces.
constexpr const char* kFaceRowCols =
    "SELECT f.id, f.crop_path, (SELECT path FROM files WHERE files.hash = f.file_hash ORDER BY id LIMIT 1), "
    " f.x, f.y, f.w, f.h, coalesce(f.assignment, '') FROM faces f ";

FaceRow read_face_row(catalog::Stmt& s) {
  FaceRow r;
  r.id = s.i64(0);
  if (!s.is_null(1)) r.crop = s.blob(1);
  if (!s.is_null(2)) r.file = s.blob(2);
  r.x = static_cast<int>(s.i64(3));
  r.y = static_cast<int>(s.i64(4));
  r.w = static_cast<int>(s.i64(5));
  r.h = static_cast<int>(s.i64(6));
  r.assignment = s.text(7);
  return r;
}

class Writer {
 public:
  Writer(catalog::Db& db, const Options& o, fs::path tmp, fs::path old) : db_(db), o_(o), tmp_(std::move(tmp)), old_(std::move(old)) {}

  Result<void> page(const std::string& name, const std::string& title, const std::string& body) {
    std::string html = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" +
                       escape(title) + "</title>\n<link rel=\"stylesheet\" href=\"style.css\">\n</head>\n<body>\n" +
                       nav_ + "<h1>" + escape(title) + "</h1>\n" + body + "</body>\n</html>\n";
    ++stats.pages;
    return util::write_file_atomic(tmp_ / name, html);
  }

  // thumbs/<id>.jpg: reused from the previous report, else made from the crop (or from the file and the box).
  std::string thumb(const FaceRow& f) {
    std::string rel = "thumbs/" + std::to_string(f.id) + ".jpg";
    if (!done_.count(f.id)) make_thumbs({f});
    return missing_.count(f.id) ? "" : rel;
  }

  // Makes the thumbnails of these faces that are not made yet, in parallel: decoding, resizing and encoding crops
  // is most of a first report's time (10,000 faces: ~3 ms CPU each).
  void make_thumbs(const std::vector<FaceRow>& faces) {
    std::vector<const FaceRow*> todo;
    for (auto& f : faces)
      if (done_.insert(f.id).second) todo.push_back(&f);
    enum Outcome { kReused, kMade, kMissing };
    std::vector<Outcome> res(todo.size(), kMissing);
    tbb::parallel_for(size_t(0), todo.size(), [&](size_t i) {
      const FaceRow& f = *todo[i];
      std::string rel = "thumbs/" + std::to_string(f.id) + ".jpg";
      std::error_code ec;
      fs::path dst = tmp_ / rel;
      if (!old_.empty() && fs::exists(old_ / rel, ec)) {
        fs::create_hard_link(old_ / rel, dst, ec);
        if (ec) fs::copy_file(old_ / rel, dst, ec);
        if (!ec) {
          res[i] = kReused;
          return;
        }
      }
      cv::Mat img;
      if (!f.crop.empty() && fs::exists(f.crop, ec)) img = cv::imread(f.crop, cv::IMREAD_COLOR);
      if (img.empty() && !f.file.empty() && f.w > 0 && f.h > 0) {
        cv::Mat full = cv::imread(f.file, cv::IMREAD_COLOR);
        if (!full.empty()) img = cut(full, f.x, f.y, f.w, f.h);
      }
      res[i] = !img.empty() && save_thumb(img, dst) ? kMade : kMissing;
    });
    for (size_t i = 0; i < todo.size(); ++i) {
      if (res[i] == kReused) ++stats.thumbs_reused;
      else if (res[i] == kMade) ++stats.thumbs_made;
      else {
        ++stats.thumbs_missing;
        missing_.insert(todo[i]->id);
      }
    }
  }

  static cv::Mat cut(const cv::Mat& full, int x, int y, int w, int h) {
    int m = static_cast<int>(0.3 * std::max(w, h));
    cv::Rect r(x - m, y - m, w + 2 * m, h + 2 * m);
    r &= cv::Rect(0, 0, full.cols, full.rows);
    if (r.width <= 0 || r.height <= 0) return {};
    return full(r).clone();
  }

  bool save_thumb(const cv::Mat& img, const fs::path& dst) {
    cv::Mat t;
    double s = static_cast<double>(o_.thumb_size) / std::max(img.cols, img.rows);
    if (s < 1.0) cv::resize(img, t, cv::Size(), s, s, cv::INTER_AREA);
    else t = img;
    std::vector<uchar> buf;
    if (!cv::imencode(".jpg", t, buf, {cv::IMWRITE_JPEG_QUALITY, 85})) return false;
    return static_cast<bool>(util::write_file_atomic(dst, std::string_view(reinterpret_cast<const char*>(buf.data()), buf.size())));
  }

  std::string img_tag(const std::string& rel, const std::string& alt) {
    if (rel.empty()) return "<span class=\"muted\">(no crop)</span>";
    return "<img loading=\"lazy\" src=\"" + escape(rel) + "\" alt=\"" + escape(alt) + "\">";
  }

  std::vector<FaceRow> faces_of(int64_t pid, int limit, int offset) {
    std::vector<FaceRow> out;
    auto s = db_.prepare(std::string(kFaceRowCols) +
                         "WHERE f.person_id = ? AND coalesce(f.assignment, '') <> 'rejected' AND "
                         "(? = '' OR f.model_id = ?) ORDER BY f.assignment = 'confirmed' DESC, f.id LIMIT ? OFFSET ?");
    s.bind_all(pid, o_.model_id, o_.model_id, static_cast<int64_t>(limit), static_cast<int64_t>(offset));
    while (s.step()) out.push_back(read_face_row(s));
    return out;
  }

  std::optional<FaceRow> face(int64_t id) {
    auto s = db_.prepare(std::string(kFaceRowCols) + "WHERE f.id = ?");
    s.bind(1, id);
    if (!s.step()) return std::nullopt;
    return read_face_row(s);
  }

  static std::string pager(const std::string& stem, int page, int pages) {
    if (pages <= 1) return "";
    std::string h = "<p class=\"pager\">Pages: ";
    for (int i = 1; i <= pages; ++i) {
      if (i == page) h += "<span>" + std::to_string(i) + "</span>";
      else h += "<a href=\"" + page_name(stem, i) + "\">" + std::to_string(i) + "</a>";
    }
    return h + "</p>\n";
  }
  static std::string page_name(const std::string& stem, int page) {
    return page == 1 ? stem + ".html" : stem + "-" + std::to_string(page) + ".html";
  }

  catalog::Db& db_;
  const Options& o_;
  fs::path tmp_, old_;
  std::string nav_;
  std::unordered_set<int64_t> done_, missing_;
  Stats stats;
};

struct PersonRow {
  int64_t id;
  std::optional<std::string> name;
  std::string status;
  int64_t faces;
  std::string clusters;
};

// "folder/photo.jpg": the file's folder says more than its name (img1.jpg is in many folders).
std::string folder_and_file(const std::string& raw) {
  fs::path p(raw);
  std::string folder = p.parent_path().filename().string();
  return util::utf8_lossy(folder.empty() ? p.filename().string() : folder + "/" + p.filename().string());
}

// Faces of nobody (of the report's model): the index counts them and nobody.html lists them.
constexpr const char* kNobodyWhere =
    "WHERE f.label = 'face' AND (f.person_id IS NULL OR f.assignment = 'rejected') AND (? = '' OR f.model_id = ?)";
const std::string kNobodyCount = std::string("SELECT count(*) FROM faces f ") + kNobodyWhere;

const char* kConfirmedLegend =
    "<p class=\"legend\"><span></span>a green outline marks a confirmed face: a person said it is this person "
    "(facecat-people confirm, or named on the review page); faces without it were suggested by facecat-cluster.</p>\n";

std::string person_label(const PersonRow& p) {
  if (p.name) return *p.name;
  return "Unnamed p" + std::to_string(p.id);
}

}  // namespace

Result<Stats> write(catalog::Db& db, const Options& o, const std::vector<MatchEntry>& matches) {
  fs::path out = fs::absolute(o.out).lexically_normal();
  if (out.filename().empty()) out = out.parent_path();
  const std::string shown = util::printable(out.string());
  // The report replaces its whole folder: only a folder that is facecat's report may be replaced (ARCHITECTURE.md,
  // "What facecat deletes").
  if (auto why = protected_folder_reason(out); !why.empty())
    return make_error("--out " + shown + ": " + why + "; a report replaces its whole folder, so name a folder of its own "
                      "(e.g. ~/facecat-report)", exit_code::usage);
  FACECAT_TRY(claim_output_dir(out, OwnedDirKind::Report, "--out"));
  std::error_code ec;
  // A fresh temp folder beside the target (mkdtemp: never one that existed before), marked as facecat's.
  std::string tmpl = (out.parent_path() / ("." + out.filename().string() + ".tmp-XXXXXX")).string();
  if (!::mkdtemp(tmpl.data())) return make_error("cannot create a temp folder beside " + shown + ": " + std::strerror(errno));
  fs::path tmp = tmpl;
  struct Cleanup {
    fs::path p;
    bool armed = true;
    ~Cleanup() {
      if (armed) {
        std::error_code e;
        fs::remove_all(p, e);
      }
    }
  } cleanup{tmp};
  fs::create_directories(tmp / "thumbs", ec);
  if (ec) return make_error("cannot create " + tmp.string() + ": " + ec.message());
  FACECAT_TRY(write_owned_dir_marker(tmp, OwnedDirKind::Report));
  if (!matches.empty()) fs::create_directories(tmp / "match", ec);

  Writer w(db, o, tmp, fs::is_directory(out, ec) ? out : fs::path());
  w.nav_ = "<nav><a href=\"index.html\">People</a><a href=\"clusters.html\">Unassigned clusters</a>" +
           std::string(matches.empty() ? "" : "<a href=\"match.html\">Match sheet</a>") + "</nav>\n";
  FACECAT_TRY(util::write_file_atomic(tmp / "style.css", kCss));

  std::vector<PersonRow> named, suggested;
  {
    auto s = db.prepare(
        "SELECT p.id, p.name, p.status, count(f.id), coalesce(group_concat(DISTINCT f.cluster_id), '') FROM people p "
        "JOIN faces f ON f.person_id = p.id AND coalesce(f.assignment, '') <> 'rejected' "
        " AND (? = '' OR f.model_id = ?) GROUP BY p.id ORDER BY count(f.id) DESC, p.id");
    s.bind_all(o.model_id, o.model_id);
    while (s.step()) {
      PersonRow p{s.i64(0), s.opt_text(1), s.text(2), s.i64(3), s.text(4)};
      (p.name || p.status != "suggested" ? named : suggested).push_back(std::move(p));
    }
  }
  int64_t nobody = 0;
  {
    auto s = db.prepare(kNobodyCount);
    s.bind_all(o.model_id, o.model_id);
    if (s.step()) nobody = s.i64(0);
  }
  w.stats.people = named.size();
  w.stats.clusters = suggested.size();

  // person pages
  auto person_pages = [&](const PersonRow& p) -> Result<void> {
    int pages = static_cast<int>((p.faces + o.faces_per_page - 1) / o.faces_per_page);
    std::string stem = "person-" + std::to_string(p.id);
    for (int pg = 1; pg <= std::max(pages, 1); ++pg) {
      throw_if_interrupted();
      std::string body = "<p>" + std::to_string(p.faces) + " faces · status " + escape(p.status) +
                         (p.clusters.empty() ? "" : " · clusters " + escape(p.clusters)) +
                         " · reference <code>p" + std::to_string(p.id) + "</code></p>\n" + kConfirmedLegend +
                         Writer::pager(stem, pg, pages) +
                         "<div>\n";
      auto faces = w.faces_of(p.id, o.faces_per_page, (pg - 1) * o.faces_per_page);
      w.make_thumbs(faces);
      for (auto& f : faces) {
        auto rel = w.thumb(f);
        ++w.stats.faces;
        body += "<div class=\"face" + std::string(f.assignment == "confirmed" ? " confirmed" : "") + "\">" +
                w.img_tag(rel, "face " + std::to_string(f.id)) + "<br>f" + std::to_string(f.id) + "<br><span class=\"muted\">" +
                escape(folder_and_file(f.file)) + "</span></div>\n";
      }
      body += "</div>\n" + Writer::pager(stem, pg, pages);
      FACECAT_TRY(w.page(Writer::page_name(stem, pg), person_label(p), body));
    }
    return {};
  };
  // index-like listing pages of cards
  auto listing = [&](const std::vector<PersonRow>& rows, const std::string& stem, const std::string& title,
                     const std::string& intro) -> Result<void> {
    int pages = static_cast<int>((rows.size() + o.people_per_page - 1) / o.people_per_page);
    for (int pg = 1; pg <= std::max(pages, 1); ++pg) {
      std::string body = intro + Writer::pager(stem, pg, pages) + "<div class=\"grid\">\n";
      const size_t b = static_cast<size_t>((pg - 1) * o.people_per_page);
      const size_t e = std::min(rows.size(), b + static_cast<size_t>(o.people_per_page));
      std::vector<std::vector<FaceRow>> previews;
      std::vector<FaceRow> all;
      for (size_t i = b; i < e; ++i) {
        previews.push_back(w.faces_of(rows[i].id, o.preview_faces, 0));
        all.insert(all.end(), previews.back().begin(), previews.back().end());
      }
      w.make_thumbs(all);
      for (size_t i = b; i < e; ++i) {
        auto& p = rows[i];
        std::string link = "person-" + std::to_string(p.id) + ".html";
        body += "<div class=\"card\"><h2><a href=\"" + link + "\">" + escape(person_label(p)) + "</a> <span class=\"muted\">" +
                std::to_string(p.faces) + " faces</span></h2><div class=\"thumbs\">";
        for (auto& f : previews[i - b])
          body += "<a href=\"" + link + "\">" + w.img_tag(w.thumb(f), "face " + std::to_string(f.id)) + "</a>";
        body += "</div></div>\n";
      }
      body += "</div>\n" + Writer::pager(stem, pg, pages);
      FACECAT_TRY(w.page(Writer::page_name(stem, pg), title, body));
    }
    return {};
  };
  // Before anything is named, the index shows the clusters to name rather than an empty page.
  const bool none_named = named.empty();
  FACECAT_TRY(listing(none_named ? suggested : named, "index", none_named ? "Clusters to name" : "People",
                      "<p>" + std::to_string(named.size()) + " people, <a href=\"clusters.html\">" +
                          std::to_string(suggested.size()) + " unassigned clusters</a>, <a href=\"nobody.html\">" +
                          std::to_string(nobody) + " faces of nobody</a>.</p>\n" +
                          (none_named ? "<p>Nobody is named yet: these are the groups that facecat-cluster suggests, "
                                        "largest first. Name them on a local page with <code>facecat-review</code>, or "
                                        "with <code>facecat-people name p&lt;id&gt; \"Name\"</code>.</p>\n"
                                      : std::string())));
  // faces of nobody: too few alike to form a cluster, or rejected from their person
  {
    int pages = static_cast<int>((nobody + o.faces_per_page - 1) / o.faces_per_page);
    for (int pg = 1; pg <= std::max(pages, 1); ++pg) {
      throw_if_interrupted();
      std::vector<FaceRow> faces;
      auto s = db.prepare(std::string(kFaceRowCols) + kNobodyWhere + " ORDER BY f.id LIMIT ? OFFSET ?");
      s.bind_all(o.model_id, o.model_id, static_cast<int64_t>(o.faces_per_page),
                 static_cast<int64_t>((pg - 1) * o.faces_per_page));
      while (s.step()) faces.push_back(read_face_row(s));
      w.make_thumbs(faces);
      std::string body = "<p>" + std::to_string(nobody) +
                         " faces belong to nobody: too few faces alike to form a cluster, or rejected from the person "
                         "they were put with. Name one with <code>facecat-people name f&lt;id&gt; \"Name\"</code>.</p>\n" +
                         Writer::pager("nobody", pg, pages) + "<div>\n";
      for (auto& f : faces) {
        body += "<div class=\"face\">" + w.img_tag(w.thumb(f), "face " + std::to_string(f.id)) + "<br>f" +
                std::to_string(f.id) + (f.assignment == "rejected" ? " (rejected)" : "") +
                "<br><span class=\"muted\">" + escape(folder_and_file(f.file)) + "</span></div>\n";
      }
      body += "</div>\n" + Writer::pager("nobody", pg, pages);
      FACECAT_TRY(w.page(Writer::page_name("nobody", pg), "Faces of nobody", body));
    }
  }
  FACECAT_TRY(listing(suggested, "clusters", "Unassigned clusters",
                      "<p>Clusters that nobody has named yet. Name one with <code>facecat-people name c&lt;cluster&gt; "
                      "\"Name\"</code> (each page shows its cluster ids).</p>\n"));
  for (auto& p : named) FACECAT_TRY(person_pages(p));
  for (auto& p : suggested) FACECAT_TRY(person_pages(p));

  // match sheet
  if (!matches.empty()) {
    std::string body;
    std::map<std::string, cv::Mat> images;
    std::map<std::string, int> faces_in;  // facecat-match numbers faces per image from 0
    for (size_t i = 0; i < matches.size(); ++i) {
      auto& m = matches[i];
      std::string rel = "match/target-" + std::to_string(i) + ".jpg";
      auto key = m.target.string();
      if (!images.count(key)) images[key] = cv::imread(key, cv::IMREAD_COLOR);
      cv::Mat cutout;
      if (!images[key].empty()) cutout = Writer::cut(images[key], m.box.left, m.box.top, m.box.width(), m.box.height());
      if (cutout.empty() || !w.save_thumb(cutout, tmp / rel)) rel.clear();
      body += "<div class=\"sheet\"><div class=\"face target\">" + w.img_tag(rel, "target face") + "<br>" +
              escape(util::utf8_lossy(m.target.filename().string())) + "<br>face " + std::to_string(faces_in[key]++) +
              "</div>\n";
      bool any = false;
      for (auto& h : m.result.people) {
        auto f = w.face(h.best_face);
        std::string t = f ? w.thumb(*f) : "";
        std::string label = h.name ? *h.name : "Unnamed p" + std::to_string(h.person);
        body += "<div class=\"face\"><a href=\"person-" + std::to_string(h.person) + ".html\">" + w.img_tag(t, label) +
                "</a><br>" + (h.match ? "<span class=\"match\">" : "<span>") + escape(label) + "</span><br>" +
                fmt::format("distance {:.3f}<br>confidence {:.2f}", h.distance, h.confidence) + "</div>\n";
        any = true;
      }
      for (auto& h : m.result.faces) {
        auto f = w.face(h.face);
        std::string t = f ? w.thumb(*f) : "";
        body += "<div class=\"face\">" + w.img_tag(t, "face") + "<br><span class=\"muted\">nobody's f" +
                std::to_string(h.face) + "</span><br>" + fmt::format("distance {:.3f}", h.distance) + "</div>\n";
        any = true;
      }
      if (!any) body += "<p class=\"muted\">no candidate</p>\n";
      if (m.result.people.empty() || !m.result.people[0].match)
        body += fmt::format("<p class=\"muted\">unknown: nobody within {:.2f}</p>\n", m.tolerance);
      body += "</div>\n";
    }
    FACECAT_TRY(w.page("match.html", "Match sheet", body));
  }

  // Swap the new folder into place with renameat2(RENAME_EXCHANGE), so a reader sees either the old report or the
  // new one; the old one (claimed above: marked as facecat's report) is then in tmp and the Cleanup removes it.
  if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, out.c_str(), RENAME_EXCHANGE) != 0) {
    // A file system without RENAME_EXCHANGE: move the old report aside (a fresh name), then the new one in.
    std::string old_tmpl = (out.parent_path() / ("." + out.filename().string() + ".old-XXXXXX")).string();
    if (!::mkdtemp(old_tmpl.data())) return make_error("cannot replace " + shown + ": " + std::strerror(errno));
    fs::path old = old_tmpl;
    if (::rename(out.c_str(), old.c_str()) != 0) {
      int e = errno;
      fs::remove(old, ec);
      return make_error("cannot replace " + shown + ": " + std::strerror(e));
    }
    fs::rename(tmp, out, ec);
    if (ec) {
      fs::rename(old, out, ec);  // put the old report back
      return make_error("cannot move the report into " + shown + ": " + ec.message());
    }
    cleanup.p = old;
  }
  return w.stats;
}

}  // namespace facecat::report
