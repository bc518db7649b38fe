// Videos in the catalog: the video's files row, its tasks (one per parameter set; pending → running →
// done | failed), the scenes as segments rows, and the representative frames as files rows (kind 'image',
// origin 'scenes', segment_id set) that facecat-detect picks up like any other image.
// forget_video() (video/forget.hpp) undoes all of it, including the faces found on the frames and their crops.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "catalog/db.hpp"
#include "util/result.hpp"
#include "video/forget.hpp"
#include "video/scenes.hpp"

namespace facecat::video {

struct VideoFile {
  int64_t id = 0;
  std::string hash;
  bool registered = false;  // added or updated by this call
  std::string error;        // the catalog knows the file as unusable (e.g. no video stream)
};

// The video's files row by its absolute path; registered (origin 'cli') or refreshed when it is new or its
// size/mtime/inode changed, with the scanner's code (util::digest_file, media::sniff, media::read_media_info).
Result<VideoFile> ensure_video_file(catalog::Db& db, const std::string& abs_path);

// A new task in state 'pending'; set_task_running/fail_task move it on.
int64_t create_task(catalog::Db& db, int64_t file_id, const std::string& params);
void set_task_running(catalog::Db& db, int64_t task_id);
void fail_task(catalog::Db& db, int64_t task_id, const std::string& error);

struct Finished {
  std::vector<int64_t> segment_ids;      // per scene
  std::vector<int64_t> frame_file_ids;   // per saved frame
  Removed replaced;                      // the older task(s) with the same video and params
};

// One transaction: drops older tasks of this video with the same params (their segments, frame rows and the
// faces of frames no other file shares), writes the segments and the frame rows, and marks the task done.
// The caller then deletes replaced.frame_paths that are not among the new frames, and replaced.crop_paths.
Finished finish_task(catalog::Db& db, int64_t task_id, int64_t file_id, const std::string& params,
                     const Analysis& a, const std::vector<SavedFrame>& frames);

}  // namespace facecat::video
