#include "video/video_catalog.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "media/metadata.hpp"
#include "media/sniff.hpp"
#include "util/hash.hpp"
#include "util/text.hpp"

namespace facecat::video {

namespace fs = std::filesystem;
using catalog::Db;

namespace {

struct FileStat {
  int64_t size = 0, mtime_ns = 0, inode = 0, dev = 0;
};

Result<FileStat> stat_file(const std::string& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return make_error(std::string("cannot read: ") + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return make_error("not a regular file");
  FileStat f;
  f.size = st.st_size;
  f.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
  f.inode = static_cast<int64_t>(st.st_ino);
  f.dev = static_cast<int64_t>(st.st_dev);
  return f;
}

}  // namespace

Result<VideoFile> ensure_video_file(Db& db, const std::string& path) {
  auto st = stat_file(path);
  if (!st) return st.error();
  const int64_t now = util::now_unix();
  VideoFile vf;
  bool known = false;
  {
    auto q = db.prepare("SELECT id, size, mtime_ns, inode, ifnull(hash,''), status, error FROM files WHERE path = ?1");
    q.bind_blob(1, path);
    if (q.step()) {
      known = true;
      vf.id = q.i64(0);
      vf.hash = q.text(4);
      vf.error = q.is_null(6) ? "" : q.text(6);
      if (q.text(5) == "present" && q.i64(1) == st->size && q.i64(2) == st->mtime_ns && q.i64(3) == st->inode &&
          !vf.hash.empty())
        return vf;
    }
  }
  // New or changed: the scanner's own steps (hash + head/tail, sniff, header metadata).
  auto dg = util::digest_file(path);
  if (!dg) return make_error("cannot read: " + dg.error().message);
  auto type = media::sniff(dg->head);
  media::MediaInfo info;
  info.type = type;
  std::string error;
  if (type.kind == media::Kind::Other) {
    error = dg->bytes == 0 ? "empty file" : "not an image or video: the content is not any known media format";
  } else {
    info = media::read_media_info(path, type, dg->head, dg->tail, dg->bytes);
    error = info.error;
  }
  const std::string kind = type.kind == media::Kind::Other ? "other" : media::kind_name(type.kind);
  auto bind_common = [&](catalog::Stmt& s) {
    s.bind_blob(1, path);
    s.bind(2, st->size).bind(3, st->mtime_ns).bind(4, st->inode).bind(5, st->dev);
    s.bind(6, dg->hash).bind(7, kind);
    if (type.format.empty()) s.bind(8, nullptr); else s.bind(8, type.format);
    s.bind(9, info.width).bind(10, info.height);
    if (error.empty()) s.bind(11, nullptr); else s.bind(11, error);
    if (info.warning.empty()) s.bind(12, nullptr); else s.bind(12, info.warning);
    s.bind(13, now);
  };
  if (known) {
    auto u = db.prepare("UPDATE files SET path=?1, size=?2, mtime_ns=?3, inode=?4, dev=?5, hash=?6, kind=?7, "
                        "format=?8, width=?9, height=?10, error=?11, warning=?12, status='present', last_seen=?13, "
                        "changed_at=?13 WHERE id=?14");
    bind_common(u);
    u.bind(14, vf.id).run();
  } else {
    auto ins = db.prepare("INSERT INTO files(path, size, mtime_ns, inode, dev, hash, kind, format, width, height, "
                          "error, warning, status, origin, first_seen, last_seen, changed_at) "
                          "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,'present','cli',?13,?13,?13)");
    bind_common(ins);
    ins.run();
    vf.id = db.last_insert_id();
  }
  vf.hash = dg->hash;
  vf.error = error;
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
  {
    // A frame's path may already be known (e.g. the frames folder was scanned): the row becomes the frame's.
    auto up = db.prepare(
        "INSERT INTO files(path, size, mtime_ns, inode, dev, hash, kind, format, width, height, status, origin, "
        "segment_id, first_seen, last_seen, changed_at) VALUES(?1,?2,?3,?4,?5,?6,'image','jpeg',?7,?8,'present',"
        "'scenes',?9,?10,?10,?10) ON CONFLICT(path) DO UPDATE SET size=excluded.size, mtime_ns=excluded.mtime_ns, "
        "inode=excluded.inode, dev=excluded.dev, hash=excluded.hash, kind='image', format='jpeg', "
        "width=excluded.width, height=excluded.height, status='present', error=NULL, warning=NULL, "
        "origin='scenes', segment_id=excluded.segment_id, last_seen=excluded.last_seen, "
        "changed_at=excluded.changed_at RETURNING id");
    for (const auto& f : frames) {
      auto st = stat_file(f.path.string());
      FileStat fs_ = st ? *st : FileStat{f.size, 0, 0, 0};
      up.bind_blob(1, f.path.string());
      up.bind(2, fs_.size).bind(3, fs_.mtime_ns).bind(4, fs_.inode).bind(5, fs_.dev).bind(6, f.hash);
      up.bind(7, f.width).bind(8, f.height);
      up.bind(9, out.segment_ids.at(static_cast<size_t>(f.pick.scene))).bind(10, now);
      int64_t id = up.step() ? up.i64(0) : 0;
      up.reset();
      out.frame_file_ids.push_back(id);
    }
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
