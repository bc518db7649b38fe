#include "video/video_catalog.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "scan/register.hpp"
#include "util/hash.hpp"
#include "util/text.hpp"

namespace facecat::video {

namespace fs = std::filesystem;
using catalog::Db;

namespace {

using scan::stat_file;

}  // namespace

Result<VideoFile> ensure_video_file(Db& db, const std::string& path) {
  auto st = stat_file(path);
  if (!st) return st.error();
  VideoFile vf;
  std::string origin = "cli";
  {
    auto q = db.prepare("SELECT id, size, mtime_ns, inode, ifnull(hash,''), status, error, origin FROM files "
                        "WHERE path = ?1");
    q.bind_blob(1, path);
    if (q.step()) {
      vf.id = q.i64(0);
      vf.hash = q.text(4);
      vf.error = q.is_null(6) ? "" : q.text(6);
      origin = q.text(7);  // a scanned video stays a scanned video
      if (q.text(5) == "present" && q.i64(1) == st->size && q.i64(2) == st->mtime_ns && q.i64(3) == st->inode &&
          !vf.hash.empty())
        return vf;
    }
  }
  // New or changed: the one way to register a file (the scanner's hashing, sniffing and metadata).
  scan::Origin o;
  o.origin = origin;
  auto r = scan::register_file(db, path, o, util::now_unix());
  if (!r) return r.error();
  vf.id = r->id;
  vf.hash = r->facts.hash;
  vf.error = r->facts.error;
  vf.registered = true;
  return vf;
}

int64_t create_task(Db& db, int64_t file_id, const std::string& params) {
  auto s = db.prepare("INSERT INTO video_tasks(file_id, params, status, created_at) VALUES(?1, ?2, 'pending', ?3)");
  s.bind_all(file_id, params, util::now_unix()).run();
  return db.last_insert_id();
}

void set_task_running(Db& db, int64_t task_id) {
  auto s = db.prepare("UPDATE video_tasks SET status='running', started_at=?2, error=NULL WHERE id=?1");
  s.bind_all(task_id, util::now_unix()).run();
}

void fail_task(Db& db, int64_t task_id, const std::string& error) {
  auto s = db.prepare("UPDATE video_tasks SET status='failed', error=?2, finished_at=?3 WHERE id=?1");
  s.bind_all(task_id, error, util::now_unix()).run();
}

Finished finish_task(Db& db, int64_t task_id, int64_t file_id, const std::string& params, const Analysis& a,
                     const std::vector<SavedFrame>& frames) {
  Finished out;
  const int64_t now = util::now_unix();
  catalog::Transaction tx(db);
  // Older runs of the same video with the same params are replaced (their failed runs too).
  std::vector<int64_t> old;
  {
    auto q = db.prepare("SELECT id FROM video_tasks WHERE file_id=?1 AND params=?2 AND id<>?3");
    q.bind_all(file_id, params, task_id);
    while (q.step()) old.push_back(q.i64(0));
  }
  std::set<std::string> old_hashes;
  delete_tasks(db, old, out.replaced, old_hashes);
  {
    auto ins = db.prepare("INSERT INTO segments(task_id, scene_index, start_frame, end_frame, start_time, end_time, "
                          "score) VALUES(?1,?2,?3,?4,?5,?6,?7)");
    for (const auto& s : a.scenes) {
      ins.bind(1, task_id).bind(2, s.index).bind(3, s.start_frame).bind(4, s.end_frame);
      ins.bind(5, s.start_time).bind(6, s.end_time);
      if (s.start_frame == 0) ins.bind(7, nullptr); else ins.bind(7, s.score);
      ins.run();
      ins.reset();
      out.segment_ids.push_back(db.last_insert_id());
    }
  }
  // Frames are registered like any other image (a path already known, e.g. from a scan, becomes the frame's).
  for (const auto& f : frames) {
    scan::Origin o;
    o.origin = "scenes";
    o.segment_id = out.segment_ids.at(static_cast<size_t>(f.pick.scene));
    auto r = scan::register_file(db, f.path.string(), o, now);
    if (!r) throw catalog::DbError("cannot register frame " + r.error().message, 0);
    out.frame_file_ids.push_back(r->id);
  }
  delete_orphan_faces(db, old_hashes, out.replaced);
  {
    auto s = db.prepare("UPDATE video_tasks SET status='done', error=NULL, finished_at=?2 WHERE id=?1");
    s.bind_all(task_id, now).run();
  }
  tx.commit();
  return out;
}

}  // namespace facecat::video
