#include "video/forget.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "util/text.hpp"

namespace facecat::video {

namespace fs = std::filesystem;
using catalog::Db;

void delete_tasks(Db& db, const std::vector<int64_t>& task_ids, Removed& r, std::set<std::string>& hashes) {
  auto frames = db.prepare(
      "SELECT f.path, f.hash FROM files f JOIN segments s ON f.segment_id = s.id WHERE s.task_id = ?1");
  auto nseg = db.prepare("SELECT count(*) FROM segments WHERE task_id = ?1");
  auto del_frames = db.prepare("DELETE FROM files WHERE segment_id IN (SELECT id FROM segments WHERE task_id = ?1)");
  auto del_segs = db.prepare("DELETE FROM segments WHERE task_id = ?1");
  auto del_task = db.prepare("DELETE FROM video_tasks WHERE id = ?1");
  for (int64_t id : task_ids) {
    frames.bind(1, id);
    while (frames.step()) {
      r.frame_paths.push_back(frames.blob(0));
      if (!frames.is_null(1)) hashes.insert(frames.text(1));
      ++r.frames;
    }
    frames.reset();
    nseg.bind(1, id);
    if (nseg.step()) r.segments += nseg.i64(0);
    nseg.reset();
    del_frames.bind(1, id).run();
    del_frames.reset();
    del_segs.bind(1, id).run();
    del_segs.reset();
    del_task.bind(1, id).run();
    r.tasks += db.changes();
    del_task.reset();
  }
}

void delete_orphan_faces(Db& db, const std::set<std::string>& hashes, Removed& r) {
  auto used = db.prepare("SELECT 1 FROM files WHERE hash = ?1 LIMIT 1");
  auto crops = db.prepare("SELECT crop_path FROM faces WHERE file_hash = ?1 AND crop_path IS NOT NULL");
  auto del_faces = db.prepare("DELETE FROM faces WHERE file_hash = ?1");
  auto del_det = db.prepare("DELETE FROM detections WHERE file_hash = ?1");
  for (const auto& h : hashes) {
    used.bind(1, h);
    bool in_use = used.step();
    used.reset();
    if (in_use) continue;
    crops.bind(1, h);
    while (crops.step()) r.crop_paths.push_back(crops.blob(0));
    crops.reset();
    del_faces.bind(1, h).run();
    r.faces += db.changes();
    del_faces.reset();
    del_det.bind(1, h).run();
    del_det.reset();
  }
}

Result<ForgetResult> forget_video(Db& db, const std::string& path) {
  ForgetResult r;
  int64_t& file_id = r.file_id;
  {
    auto q = db.prepare("SELECT id, kind, origin FROM files WHERE path = ?1");
    q.bind_blob(1, path);
    if (!q.step()) return make_error("not in the catalog");
    file_id = q.i64(0);
    if (q.text(1) != "video") {
      std::string what = q.text(1) == "image" ? "an image" : "not a video file";
      what += ", not a video: facecat-catalog forget removes a video's scenes and frames; nothing was changed";
      return make_error(what);
    }
  }
  {
    catalog::Transaction tx(db);
    std::vector<int64_t> tasks;
    auto q = db.prepare("SELECT id FROM video_tasks WHERE file_id = ?1");
    q.bind(1, file_id);
    while (q.step()) tasks.push_back(q.i64(0));
    std::set<std::string> hashes;
    delete_tasks(db, tasks, r.removed, hashes);
    delete_orphan_faces(db, hashes, r.removed);
    tx.commit();
  }
  // Files go after the commit: a crash in between leaves stray files, never rows pointing at nothing.
  r.files_deleted = remove_from_disk(r.removed.frame_paths, &r.disk_errors, true);
  r.crops_deleted = remove_from_disk(r.removed.crop_paths, &r.disk_errors);
  return r;
}

int64_t remove_from_disk(const std::vector<std::string>& paths, std::vector<std::string>* errors, bool prune_dirs) {
  int64_t n = 0;
  std::set<fs::path> dirs;
  for (const auto& p : paths) {
    if (::unlink(p.c_str()) == 0) {
      ++n;
      dirs.insert(fs::path(p).parent_path());
    } else if (errno != ENOENT && errors) {
      errors->push_back(util::utf8_lossy(p) + ": " + std::strerror(errno));
    }
  }
  // The per-video frame folders that are now empty (rmdir refuses folders with anything left in them).
  if (prune_dirs)
    for (const auto& d : dirs) ::rmdir(d.c_str());
  return n;
}

}  // namespace facecat::video
