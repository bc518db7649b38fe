#include "scan/scanner.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <cerrno>
#include <cstring>
#include <set>
#include <tbb/global_control.h>
#include <tbb/parallel_pipeline.h>
#include <unordered_map>

#include "core/output.hpp"
#include "core/progress.hpp"
#include "core/signals.hpp"
#include "media/metadata.hpp"
#include "scan/register.hpp"
#include "util/hash.hpp"
#include "util/text.hpp"

namespace facecat::scan {

using json = nlohmann::json;
namespace fs = std::filesystem;

const std::vector<std::string>& default_excludes() {
  static const std::vector<std::string> d = {".git", "@eaDir", ".thumbnails", ".Trash-*", "#recycle"};
  return d;
}

json Counts::to_json() const {
  return {{"seen", seen},         {"new", new_},       {"changed", changed}, {"moved", moved},
          {"missing", missing},   {"error", errors},   {"warning", warnings}, {"unchanged", unchanged},
          {"skipped", skipped},
          {"pruned", pruned},     {"bytes_hashed", bytes_hashed}};
}

namespace {

struct Stat {
  std::string path;  // raw bytes, absolute
  int64_t size = 0, mtime_ns = 0, inode = 0, dev = 0;
};

struct Known {
  int64_t id;
  int64_t size, mtime_ns, inode;
  std::string hash;  // see hash_loaded
  bool present;
  bool seen = false;
  bool hash_loaded = false;
  std::string error;  // the file is unusable: why (reported again on every scan while it stays so)
};

// ---- walking --------------------------------------------------------------------------------------------------
class Walker {
 public:
  Walker(const Options& o, Counts& c, const Emit& emit) : opts_(o), counts_(c), emit_(emit) {
    for (const auto& e : default_excludes()) excludes_.push_back(e);
    for (const auto& e : o.excludes) excludes_.push_back(e);
  }

  void walk_root(const std::string& root, std::vector<Stat>& out) {
    struct stat st {};
    if (::stat(root.c_str(), &st) != 0) {
      report_error(root, std::string("cannot scan: ") + std::strerror(errno));
      return;
    }
    if (S_ISREG(st.st_mode)) {
      out.push_back(make_stat(root, st));
      return;
    }
    if (!S_ISDIR(st.st_mode)) {
      report_error(root, "not a file or folder");
      return;
    }
    visited_.insert({static_cast<int64_t>(st.st_dev), static_cast<int64_t>(st.st_ino)});
    walk_dir(root, out, 0);
  }

 private:
  static Stat make_stat(const std::string& p, const struct stat& st) {
    Stat s;
    s.path = p;
    s.size = st.st_size;
    s.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
    s.inode = static_cast<int64_t>(st.st_ino);
    s.dev = static_cast<int64_t>(st.st_dev);
    return s;
  }

  bool excluded(const std::string& name) const {
    for (const auto& g : excludes_)
      if (util::glob_match(g, name)) return true;
    return false;
  }

  void report_error(const std::string& path, const std::string& reason) {
    ++counts_.errors;
    spdlog::warn("{}: {}", util::printable(path), reason);
    json e = {{"event", "error"}};
    put_path(e, path);
    e["reason"] = reason;
    emit_(e);
  }

  void walk_dir(const std::string& dir, std::vector<Stat>& out, int depth) {
    if (depth > 256) {
      report_error(dir, "folder nesting deeper than 256 levels; not descending");
      return;
    }
    throw_if_interrupted();
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
      report_error(dir, std::string("cannot read folder: ") + std::strerror(errno));
      return;
    }
    DIR* d = ::fdopendir(dfd);
    if (!d) {
      ::close(dfd);
      report_error(dir, std::string("cannot read folder: ") + std::strerror(errno));
      return;
    }
    std::vector<std::string> subdirs;
    std::vector<std::pair<std::string, struct stat>> files;
    while (dirent* ent = ::readdir(d)) {
      std::string name = ent->d_name;
      if (name == "." || name == "..") continue;
      if (excluded(name)) continue;
      // Our own atomic temp files (".name.tmp.XXXX") are never media.
      if (name[0] == '.' && name.find(".tmp.") != std::string::npos) continue;
      struct stat st {};
      if (::fstatat(dfd, ent->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        report_error(dir + "/" + name, std::string("cannot stat: ") + std::strerror(errno));
        continue;
      }
      std::string full = dir == "/" ? "/" + name : dir + "/" + name;
      if (S_ISLNK(st.st_mode)) {
        if (!opts_.follow_symlinks) {
          ++counts_.skipped;
          continue;
        }
        if (::stat(full.c_str(), &st) != 0) {  // dangling link
          ++counts_.skipped;
          continue;
        }
      }
      if (S_ISDIR(st.st_mode)) {
        if (!visited_.insert({static_cast<int64_t>(st.st_dev), static_cast<int64_t>(st.st_ino)}).second) {
          spdlog::debug("{}: already visited (symlink loop or bind mount); skipped", util::printable(full));
          continue;
        }
        subdirs.push_back(full);
      } else if (S_ISREG(st.st_mode)) {
        out.push_back(make_stat(full, st));
      } else {
        ++counts_.skipped;  // fifos, sockets, devices
      }
    }
    ::closedir(d);
    for (const auto& s : subdirs) walk_dir(s, out, depth + 1);
  }

  const Options& opts_;
  Counts& counts_;
  const Emit& emit_;
  std::vector<std::string> excludes_;
  std::set<std::pair<int64_t, int64_t>> visited_;
};

// ---- per-file work (parallel) ------------------------------------------------------------------------------------
struct Work {
  Stat st;
  Known* known = nullptr;  // the row at the same path, if any
  FileFacts f;                   // filled by probe_file in the parallel stage
};

void process(Work& w, const Options& opts) {
  w.f = probe_file(w.st.path, FileStat{w.st.size, w.st.mtime_ns, w.st.inode, w.st.dev}, opts.max_file_bytes);
}

}  // namespace

// ---- the run ----------------------------------------------------------------------------------------------------
Counts run(catalog::Catalog& cat, const Options& opts, const Emit& emit) {
  Counts counts;
  auto& db = cat.db();
  const int64_t now = util::now_unix();

  // Roots as absolute, normalised byte strings.
  std::vector<std::string> roots;
  json roots_json = json::array();
  for (const auto& r : opts.roots) {
    auto a = fs::absolute(r).lexically_normal().string();
    if (a.size() > 1 && a.back() == '/') a.pop_back();
    roots.push_back(a);
    roots_json.push_back(util::utf8_lossy(a));
  }

  auto phase_start = std::chrono::steady_clock::now();
  auto phase = [&](const char* what) {
    auto t = std::chrono::steady_clock::now();
    spdlog::debug("scan phase: {} took {:.3f} s", what, std::chrono::duration<double>(t - phase_start).count());
    phase_start = t;
  };

  // Mark scans that died (SIGKILL) as interrupted, then register this one.
  db.exec("UPDATE scans SET status='interrupted' WHERE status='running'");
  int64_t scan_id;
  {
    auto s = db.prepare("INSERT INTO scans(started_at, roots, host, status) VALUES(?,?,?, 'running')");
    char host[256] = {0};
    ::gethostname(host, sizeof host - 1);
    s.bind_all(now, roots_json.dump(), std::string(host)).run();
    scan_id = db.last_insert_id();
  }

  Counts walk_counts;
  auto walk_future = std::async(std::launch::async, [&] {
    std::vector<Stat> out;
    Walker w(opts, walk_counts, emit);
    for (const auto& r : roots) w.walk_root(r, out);
    return out;
  });

  // Everything the catalog knows under the roots.
  std::unordered_map<std::string, Known> known;
  known.reserve(static_cast<size_t>(db.scalar_int("SELECT count(*) FROM files").value_or(0)));
  {
    // Hashes are loaded only with --all; otherwise lazily (hash_of) for the few rows that need them: 100k
    // 32-character strings are a measurable part of an unchanged re-scan.
    auto s = db.prepare(opts.emit_unchanged
                            ? "SELECT id, path, size, mtime_ns, inode, ifnull(hash,''), status, ifnull(error,'') FROM files "
                              "WHERE (path >= ?1 AND path < ?2) OR path = ?3"
                            : "SELECT id, path, size, mtime_ns, inode, NULL, status, ifnull(error,'') FROM files "
                              "WHERE (path >= ?1 AND path < ?2) OR path = ?3");
    for (const auto& r : roots) {
      std::string lo = r == "/" ? "/" : r + "/", hi = r == "/" ? "0" : r + "0";  // '0' follows '/'
      s.bind_blob(1, lo).bind_blob(2, hi).bind_blob(3, r);
      while (s.step()) {
        Known k{s.i64(0), s.i64(2), s.i64(3), s.i64(4), s.text(5), s.text(6) == "present", false,
                opts.emit_unchanged, s.text(7)};
        known.emplace(s.blob(1), std::move(k));
      }
      s.reset();
    }
  }

  phase("loading known files");

  auto hash_stmt = db.prepare("SELECT ifnull(hash,'') FROM files WHERE id=?1");
  auto hash_of = [&](Known& k) -> const std::string& {
    if (!k.hash_loaded) {
      hash_stmt.bind(1, k.id);
      if (hash_stmt.step()) k.hash = hash_stmt.text(0);
      hash_stmt.reset();
      k.hash_loaded = true;
    }
    return k.hash;
  };

  // The walk (filesystem) and loading what the catalog knows (SQLite) are independent: overlap them.
  std::vector<Stat> stats = walk_future.get();
  counts.skipped += walk_counts.skipped;
  counts.errors += walk_counts.errors;
  counts.seen = stats.size();
  phase("walking (overlapped with loading)");

  // Unchanged files need no read at all.
  std::vector<Work> todo;
  std::vector<const Stat*> unchanged;
  for (auto& st : stats) {
    auto it = known.find(st.path);
    if (it != known.end()) {
      it->second.seen = true;
      Known& k = it->second;
      if (k.present && k.size == st.size && k.mtime_ns == st.mtime_ns && k.inode == st.inode) {
        unchanged.push_back(&st);
        continue;
      }
      Work w;
      w.st = st;
      w.known = &k;
      todo.push_back(std::move(w));
    } else {
      Work w;
      w.st = st;
      todo.push_back(std::move(w));
    }
  }
  counts.unchanged = unchanged.size();
  phase("classifying");
  // An unusable file stays a failed input on every scan, not only the one that first read it: the same error event
  // and exit code 1 each time, so cron keeps seeing it (it is not read again).
  for (const Stat* st : unchanged) {
    Known& k = known.at(st->path);
    if (k.error.empty()) continue;
    ++counts.errors;
    spdlog::warn("{}: {}", util::printable(st->path), k.error);
    json e = {{"event", "error"}};
    put_path(e, st->path);
    e["reason"] = k.error;
    e["file_id"] = k.id;
    e["hash"] = hash_of(k);
    e["unchanged"] = true;
    emit(e);
  }
  if (opts.emit_unchanged) {
    for (const Stat* st : unchanged) {
      if (!known.at(st->path).error.empty()) continue;
      json e = {{"event", "unchanged"}, {"file_id", known.at(st->path).id}, {"hash", known.at(st->path).hash}};
      put_path(e, st->path);
      emit(e);
    }
  }

  // Rows that may have moved: present rows not seen in this walk, and rows already marked missing. By hash.
  std::unordered_multimap<std::string, int64_t> move_candidates;
  {
    for (auto& [path, k] : known)
      if (k.present && !k.seen && !hash_of(k).empty()) move_candidates.emplace(k.hash, k.id);
    auto s = db.prepare("SELECT hash, id FROM files WHERE status='missing' AND hash IS NOT NULL");
    while (s.step()) move_candidates.emplace(s.text(0), s.i64(1));
  }
  std::set<int64_t> moved_ids;

  auto insert = db.prepare(kInsertFileSql);
  auto update = db.prepare(kUpdateFileSql);
  auto find_dup = db.prepare(kFindDuplicateSql);
  auto path_of = db.prepare("SELECT path FROM files WHERE id=?1");

  auto event_for = [&](const char* ev, const Work& w, int64_t id) {
    json e = {{"event", ev}};
    put_path(e, w.st.path);
    e["file_id"] = id;
    e["hash"] = w.f.hash;
    const auto& i = w.f.info;
    e["kind"] = w.f.kind();
    if (!i.type.format.empty()) e["format"] = i.type.format;
    e["size"] = w.st.size;
    e["width"] = i.width ? json(*i.width) : json(nullptr);
    e["height"] = i.height ? json(*i.height) : json(nullptr);
    const auto& x = i.exif;
    e["taken_at"] = x.taken_at ? json(*x.taken_at + (x.taken_offset ? *x.taken_offset : "")) : json(nullptr);
    if (x.make || x.model || x.lens) {
      json c = json::object();
      if (x.make) c["make"] = *x.make;
      if (x.model) c["model"] = *x.model;
      if (x.lens) c["lens"] = *x.lens;
      e["camera"] = c;
    } else {
      e["camera"] = nullptr;
    }
    if (x.gps_lat && x.gps_lon) {
      e["gps"] = {{"lat", *x.gps_lat}, {"lon", *x.gps_lon}};
      if (x.gps_alt) e["gps"]["alt"] = *x.gps_alt;
    } else {
      e["gps"] = nullptr;
    }
    e["orientation"] = x.orientation ? json(*x.orientation) : json(nullptr);
    if (x.exposure_time) e["exposure_time"] = *x.exposure_time;
    if (x.f_number) e["f_number"] = *x.f_number;
    if (x.iso) e["iso"] = *x.iso;
    if (x.focal_length) e["focal_length"] = *x.focal_length;
    return e;
  };

  // Single writer: the last pipeline stage, in input order, in batches of short transactions.
  std::unique_ptr<catalog::Transaction> tx;
  size_t in_tx = 0;
  auto flush_tx = [&] {
    if (tx) {
      tx->commit();
      tx.reset();
      in_tx = 0;
    }
  };

  auto write = [&](Work& w) {
    if (w.f.read_failed) {
      ++counts.errors;
      spdlog::warn("{}: {}", util::printable(w.st.path), w.f.error);
      json e = {{"event", "error"}};
      put_path(e, w.st.path);
      e["reason"] = w.f.error;
      emit(e);
      return;
    }
    counts.bytes_hashed += w.f.bytes;
    if (!w.f.media && w.f.error.empty()) {
      // Not media: registered as 'other' so that re-scans need not read it again; no event.
      ++counts.skipped;
    }
    if (!tx) tx = std::make_unique<catalog::Transaction>(db);
    ++in_tx;
    const char* ev = nullptr;
    int64_t id = 0;
    std::string moved_from;
    if (w.known) {
      // Same path, different size/mtime/inode (or a row that was missing and is back).
      id = w.known->id;
      bool content_changed = hash_of(*w.known) != w.f.hash;
      auto dup = find_duplicate(find_dup, w.f.hash, id);
      bind_file_columns(update, w.f, dup);
      update.bind(27, now).bind(28, id);
      update.run();
      update.reset();
      ev = w.known->present ? (content_changed ? "changed" : nullptr) : (content_changed ? "changed" : "new");
      if (!w.known->present && !content_changed) ev = "new";  // a file that was missing is back where it was
      if (w.known->present && !content_changed) {
        // Only stat fields changed (touch, copy-back): nothing to tell downstream.
        ev = nullptr;
        ++counts.unchanged;
      }
    } else {
      // A new path: a moved file (same content as a vanished row), a duplicate, or really new.
      int64_t from = 0;
      if (!w.f.hash.empty() && w.f.media) {
        auto range = move_candidates.equal_range(w.f.hash);
        for (auto it = range.first; it != range.second; ++it) {
          if (!moved_ids.count(it->second)) {
            from = it->second;
            moved_ids.insert(from);
            move_candidates.erase(it);
            break;
          }
        }
      }
      if (from) {
        path_of.bind(1, from);
        if (path_of.step()) moved_from = path_of.blob(0);
        path_of.reset();
        bind_file_columns(update, w.f, std::nullopt);
        update.bind(27, now).bind(28, from);
        update.run();
        update.reset();
        id = from;
        ev = "moved";
      } else {
        std::optional<int64_t> dup;
        if (!w.f.hash.empty() && w.f.bytes > 0) dup = find_duplicate(find_dup, w.f.hash);
        bind_file_columns(insert, w.f, dup);
        insert.bind(27, now);
        insert.run();
        insert.reset();
        id = db.last_insert_id();
        ev = w.f.media || !w.f.error.empty() ? "new" : nullptr;
        if (dup && ev && w.f.info.warning.empty()) {
          json e = event_for(ev, w, id);
          e["duplicate_of"] = *dup;
          ++counts.new_;
          emit(e);
          ev = nullptr;
        }
      }
    }
    if (!w.f.error.empty()) {
      ++counts.errors;
      spdlog::warn("{}: {}", util::printable(w.st.path), w.f.error);
      json e = {{"event", "error"}};
      put_path(e, w.st.path);
      e["reason"] = w.f.error;
      e["file_id"] = id;
      e["hash"] = w.f.hash;
      emit(e);
      return;
    }
    if (ev) {
      if (std::strcmp(ev, "new") == 0) ++counts.new_;
      else if (std::strcmp(ev, "changed") == 0) ++counts.changed;
      else if (std::strcmp(ev, "moved") == 0) ++counts.moved;
    }
    if (!w.f.info.warning.empty()) {
      // A usable file with a problem (e.g. garbage EXIF offsets): registered, and reported as a warning event that
      // carries every field of the file's event plus what happened to it ("change"), so that it flows on to
      // facecat-detect. Not a failed input: the exit code stays 0.
      ++counts.warnings;
      spdlog::warn("{}: {}", util::printable(w.st.path), w.f.info.warning);
      json e = event_for("warning", w, id);
      e["reason"] = w.f.info.warning;
      e["change"] = ev ? ev : "touched";
      if (!moved_from.empty()) put_path(e, moved_from, "from");
      if (!w.known && moved_from.empty()) {
        if (auto dup = find_duplicate(find_dup, w.f.hash, id)) e["duplicate_of"] = *dup;
      }
      emit(e);
      return;
    }
    if (!ev) return;
    json e = event_for(ev, w, id);
    if (!moved_from.empty()) put_path(e, moved_from, "from");
    emit(e);
  };

  // Parallel hashing and metadata; bounded in flight; one writer.
  int threads = opts.threads > 0 ? opts.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  tbb::global_control gc(tbb::global_control::max_allowed_parallelism, static_cast<size_t>(threads));
  Progress progress("scan", todo.size(), opts.progress);
  size_t next = 0;
  bool stopped = false;
  auto last_commit = std::chrono::steady_clock::now();
  try {
    tbb::parallel_pipeline(
        static_cast<size_t>(threads) * 4,
        tbb::make_filter<void, Work*>(tbb::filter_mode::serial_in_order,
                                      [&](tbb::flow_control& fc) -> Work* {
                                        if (next >= todo.size() || interrupted()) {
                                          fc.stop();
                                          return nullptr;
                                        }
                                        return &todo[next++];
                                      }) &
            tbb::make_filter<Work*, Work*>(tbb::filter_mode::parallel,
                                           [&](Work* w) {
                                             process(*w, opts);
                                             return w;
                                           }) &
            tbb::make_filter<Work*, void>(tbb::filter_mode::serial_in_order, [&](Work* w) {
              write(*w);
              w->f = FileFacts{};  // free memory early
              progress.tick(1, w->st.path);
              auto t = std::chrono::steady_clock::now();
              if (in_tx >= 500 || t - last_commit > std::chrono::seconds(1)) {
                flush_tx();
                last_commit = t;
              }
            }));
  } catch (...) {
    // Interrupted (also from a blocked write to stdout), BrokenPipe or a real error: what was written is
    // consistent, keep it, and record that this scan did not finish.
    flush_tx();
    try {
      auto s = db.prepare("UPDATE scans SET finished_at=?1, status='interrupted', counts=?2 WHERE id=?3");
      s.bind_all(util::now_unix(), counts.to_json().dump(), scan_id).run();
    } catch (const std::exception& e) {
      spdlog::debug("cannot record the scan as interrupted: {}", e.what());
    }
    throw;
  }
  flush_tx();
  progress.finish();
  if (interrupted()) stopped = true;
  phase("reading and writing changed files");

  if (!stopped) {
    catalog::Transaction t(db);
    // Vanished files: marked missing (or deleted with --prune).
    auto mark = db.prepare("UPDATE files SET status='missing', changed_at=?2 WHERE id=?1");
    auto del = db.prepare("DELETE FROM files WHERE id=?1");
    for (auto& [path, k] : known) {
      if (k.seen || moved_ids.count(k.id)) continue;
      if (!k.present) {
        if (opts.prune) {
          del.bind(1, k.id).run();
          del.reset();
          ++counts.pruned;
        }
        continue;
      }
      json e = {{"event", "missing"}};
      put_path(e, path);
      e["file_id"] = k.id;
      e["hash"] = hash_of(k);
      if (opts.prune) {
        del.bind(1, k.id).run();
        del.reset();
        e["pruned"] = true;
        ++counts.pruned;
      } else {
        mark.bind(1, k.id).bind(2, now).run();
        mark.reset();
      }
      ++counts.missing;
      emit(e);
    }
    // Everything seen and unchanged: one set-based update per root instead of one per file. last_seen of an
    // unchanged file is refreshed at most hourly, so a cron scan every few minutes does not rewrite the whole
    // table each time (changed, new and moved files always get the exact time).
    auto seen = db.prepare("UPDATE files SET last_seen=?1 WHERE status='present' AND last_seen<?1-3600 AND "
                           "((path >= ?2 AND path < ?3) OR path = ?4)");
    for (const auto& r : roots) {
      std::string lo = r == "/" ? "/" : r + "/", hi = r == "/" ? "0" : r + "0";
      seen.bind(1, now).bind_blob(2, lo).bind_blob(3, hi).bind_blob(4, r).run();
      seen.reset();
    }
    t.commit();
    phase("marking missing and last_seen");
  }
  {
    auto s = db.prepare("UPDATE scans SET finished_at=?1, status=?2, counts=?3 WHERE id=?4");
    s.bind_all(util::now_unix(), std::string(stopped ? "interrupted" : "done"), counts.to_json().dump(), scan_id).run();
  }
  if (stopped) throw Interrupted();
  return counts;
}

}  // namespace facecat::scan
