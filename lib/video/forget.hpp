// Removing a video's scene results from the catalog and the disk: its tasks, segments and frame rows, the faces and
// detections of those frames (when no other file has the same content), the frame files and the face crops.
// Catalog-only code (no OpenCV, no FFmpeg): it is part of facecat_base, so facecat-catalog can offer `forget`.
#pragma once
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "catalog/db.hpp"
#include "util/result.hpp"

namespace facecat::video {

struct Removed {
  int64_t tasks = 0, segments = 0, frames = 0, faces = 0;
  std::vector<std::string> frame_paths;  // raw bytes; to delete from disk after the commit
  std::vector<std::string> crop_paths;
};

// Deletes the tasks with their segments and frame rows (inside the caller's transaction); adds the frames'
// paths to r and their content hashes to `hashes`.
void delete_tasks(catalog::Db& db, const std::vector<int64_t>& task_ids, Removed& r, std::set<std::string>& hashes);
// Faces and detections are keyed by content: those of the given hashes go when no files row has that content
// any more (inside the caller's transaction). Their crop paths are added to r.
void delete_orphan_faces(catalog::Db& db, const std::set<std::string>& hashes, Removed& r);

struct ForgetResult {
  int64_t file_id = 0;
  Removed removed;
  int64_t files_deleted = 0, crops_deleted = 0;
  std::vector<std::string> disk_errors;  // "<path>: <why>"
};
// Removes every task of the video at `path` (absolute, raw bytes) and all that came from it, then the frame files
// (and their folders left empty) and the crops on disk. The video's own files row stays. Error when the catalog
// does not know the path.
Result<ForgetResult> forget_video(catalog::Db& db, const std::string& path);

// Deletes files from disk (missing ones are fine); with prune_dirs, their folders left empty go too. Returns the
// count and one "<path>: <why>" per failure.
int64_t remove_from_disk(const std::vector<std::string>& paths, std::vector<std::string>* errors,
                         bool prune_dirs = false);

}  // namespace facecat::video
