// The catalog schema, as forward migrations. Never edit a migration that has shipped: add a new one.
// ARCHITECTURE.md describes every table; keep the two in step.
#include "catalog/catalog.hpp"

namespace facecat::catalog {

const std::vector<std::string>& migrations() {
  static const std::vector<std::string> m = {
      // ---- version 1 ------------------------------------------------------------------------------------------
      R"SQL(
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT
);

-- One row per facecat-scan run.
CREATE TABLE scans (
  id          INTEGER PRIMARY KEY,
  started_at  INTEGER NOT NULL,
  finished_at INTEGER,
  roots       TEXT NOT NULL,           -- JSON array of scanned roots
  host        TEXT,
  status      TEXT NOT NULL DEFAULT 'running' CHECK (status IN ('running','done','interrupted','failed')),
  counts      TEXT                     -- JSON: new, changed, moved, missing, error, unchanged, skipped
);

-- People: named, suggested (from clusters) or imported (VK). Sources say where a person came from.
CREATE TABLE people (
  id         INTEGER PRIMARY KEY,
  name       TEXT,
  status     TEXT NOT NULL DEFAULT 'suggested' CHECK (status IN ('suggested','named','confirmed')),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE person_sources (
  person_id    INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
  source       TEXT NOT NULL,          -- 'vk', 'folder', ...
  external_id  TEXT NOT NULL,          -- e.g. the VK user id
  display_name TEXT,
  status       TEXT,                   -- VK: open, closed, deleted, banned
  fetched_at   INTEGER,
  PRIMARY KEY (source, external_id)
);
CREATE INDEX person_sources_person ON person_sources(person_id);
-- Undirected friendship edges between external ids of one source (a < b).
CREATE TABLE friendships (
  source     TEXT NOT NULL,
  a          TEXT NOT NULL,
  b          TEXT NOT NULL,
  fetched_at INTEGER NOT NULL,
  PRIMARY KEY (source, a, b)
);

-- Every image or video facecat knows. path is the raw bytes of the absolute path (file names need not be UTF-8).
CREATE TABLE files (
  id            INTEGER PRIMARY KEY,
  path          BLOB NOT NULL UNIQUE,
  size          INTEGER NOT NULL,
  mtime_ns      INTEGER NOT NULL,
  inode         INTEGER NOT NULL,
  dev           INTEGER,
  hash          TEXT,                  -- XXH3-128, 32 hex digits
  kind          TEXT NOT NULL CHECK (kind IN ('image','video','other')),  -- other: unusable, see error
  format        TEXT,                  -- jpeg png webp tiff bmp heic mp4 mov mkv webm avi
  width         INTEGER,               -- stored (unrotated) pixels
  height        INTEGER,
  orientation   INTEGER,               -- EXIF 1..8
  taken_at      TEXT,                  -- EXIF DateTimeOriginal as YYYY-MM-DDTHH:MM:SS
  taken_offset  TEXT,                  -- EXIF OffsetTimeOriginal, e.g. +03:00
  make          TEXT,
  model         TEXT,
  lens          TEXT,
  gps_lat       REAL,
  gps_lon       REAL,
  gps_alt       REAL,
  exposure_time REAL,                  -- seconds
  f_number      REAL,
  iso           INTEGER,
  focal_length  REAL,                  -- mm
  status        TEXT NOT NULL DEFAULT 'present' CHECK (status IN ('present','missing')),
  error         TEXT,                  -- why the file cannot be used; NULL when usable
  warning       TEXT,                  -- a problem that does not stop its use (e.g. corrupt EXIF)
  duplicate_of  INTEGER REFERENCES files(id) ON DELETE SET NULL,   -- same content as an earlier file
  origin        TEXT NOT NULL DEFAULT 'scan',                     -- scan, vk, scenes, cli
  source_person_id INTEGER REFERENCES people(id) ON DELETE SET NULL, -- e.g. a VK profile photo's owner
  segment_id    INTEGER REFERENCES segments(id) ON DELETE CASCADE,  -- a video frame's scene
  first_seen    INTEGER NOT NULL,
  last_seen     INTEGER NOT NULL,
  changed_at    INTEGER NOT NULL
);
CREATE INDEX files_hash ON files(hash);
CREATE INDEX files_status ON files(status);

-- Named detect pipelines; version is a hash of the canonical params JSON.
CREATE TABLE pipelines (
  name       TEXT PRIMARY KEY,
  params     TEXT NOT NULL,
  version    TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
-- Descriptor models: id is the sha256 of the weights they were loaded from.
CREATE TABLE models (
  id         TEXT PRIMARY KEY,
  name       TEXT NOT NULL,
  source     TEXT,
  dims       INTEGER NOT NULL DEFAULT 128,
  created_at INTEGER NOT NULL
);
-- One row per (content, pipeline version) that was processed, with or without faces.
CREATE TABLE detections (
  file_hash        TEXT NOT NULL,
  pipeline_version TEXT NOT NULL,
  model_id         TEXT NOT NULL,
  n_faces          INTEGER NOT NULL DEFAULT 0,
  width            INTEGER,            -- display frame (orientation applied)
  height           INTEGER,
  error            TEXT,
  processed_at     INTEGER NOT NULL,
  host             TEXT,
  PRIMARY KEY (file_hash, pipeline_version)
);
-- Faces are keyed by content, so moved, renamed and duplicate files share them.
CREATE TABLE faces (
  id               INTEGER PRIMARY KEY,
  file_hash        TEXT NOT NULL,
  pipeline_version TEXT NOT NULL,
  face_index       INTEGER NOT NULL,
  model_id         TEXT NOT NULL,
  x INTEGER NOT NULL, y INTEGER NOT NULL, w INTEGER NOT NULL, h INTEGER NOT NULL,  -- display-frame pixels
  conf             REAL,
  label            TEXT NOT NULL DEFAULT 'face',
  descriptor       BLOB,               -- 128 little-endian float32
  landmarks        BLOB,               -- 68 × (x,y) little-endian float32, display frame
  quality          TEXT,               -- JSON: blur, size, frontal, ...
  crop_path        BLOB,
  person_id        INTEGER REFERENCES people(id) ON DELETE SET NULL,
  assignment       TEXT CHECK (assignment IN ('suggested','confirmed','rejected')),
  cluster_id       INTEGER,
  created_at       INTEGER NOT NULL,
  UNIQUE (file_hash, pipeline_version, face_index),
  FOREIGN KEY (file_hash, pipeline_version) REFERENCES detections(file_hash, pipeline_version) ON DELETE CASCADE
);
CREATE INDEX faces_person ON faces(person_id);
CREATE INDEX faces_cluster ON faces(cluster_id);

-- Videos: one task per video and parameter set, its scenes, and their representative frames (files rows).
CREATE TABLE video_tasks (
  id          INTEGER PRIMARY KEY,
  file_id     INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
  params      TEXT NOT NULL,
  status      TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending','running','done','failed')),
  error       TEXT,
  created_at  INTEGER NOT NULL,
  started_at  INTEGER,
  finished_at INTEGER
);
CREATE TABLE segments (
  id          INTEGER PRIMARY KEY,
  task_id     INTEGER NOT NULL REFERENCES video_tasks(id) ON DELETE CASCADE,
  scene_index INTEGER NOT NULL,
  start_frame INTEGER NOT NULL,
  end_frame   INTEGER NOT NULL,        -- exclusive
  start_time  REAL NOT NULL,           -- seconds
  end_time    REAL NOT NULL,
  score       REAL,
  UNIQUE (task_id, scene_index)
);
)SQL",
      // ---- version 2: facecat-vk's crawl state (resumable crawls, no repeated calls or downloads) ------------------
      R"SQL(
-- One row per VK user facecat-vk has seen: what is known about the page and when its friend list and its
-- profile photos were last fetched (NULL: never). A re-run skips people fetched within --max-age.
CREATE TABLE vk_crawl (
  vk_id          TEXT PRIMARY KEY,     -- person_sources.external_id for source 'vk'
  has_photo      INTEGER,              -- from the last user object; NULL when unknown
  can_access     INTEGER,              -- 1 when the page (friends, photos) is readable with the token used
  friends_at     INTEGER,              -- unix time the friend list was fetched completely
  friends_status TEXT,                 -- ok, private, deleted, error
  friends_count  INTEGER,
  photos_at      INTEGER,              -- unix time the profile photos were listed
  photos_status  TEXT                  -- ok, private, deleted, error
);
-- Every profile photo listed: pending until downloaded; ok rows point at their files row.
CREATE TABLE vk_photos (
  owner_id      TEXT NOT NULL,
  photo_id      TEXT NOT NULL,
  url           TEXT NOT NULL,
  size_type     TEXT,
  width         INTEGER,
  height        INTEGER,
  vk_date       INTEGER,
  status        TEXT NOT NULL CHECK (status IN ('pending','ok','missing','rejected','error')),
  error         TEXT,
  file_id       INTEGER REFERENCES files(id) ON DELETE SET NULL,
  listed_at     INTEGER NOT NULL,
  downloaded_at INTEGER,
  PRIMARY KEY (owner_id, photo_id)
);
CREATE INDEX vk_photos_status ON vk_photos(status);
CREATE INDEX friendships_b ON friendships(source, b);
)SQL",
      // ---- version 3: erased faces that stay erased (facecat-people erase --block) ----------------------------------
      R"SQL(
-- No biometric data: the content hash and the display-frame box of each face a person had erased. detect, ingest
-- and merge drop faces of that content whose box overlaps one of these (IoU >= 0.5) before storing or printing.
CREATE TABLE blocked_faces (
  id         INTEGER PRIMARY KEY,
  file_hash  TEXT NOT NULL,
  x INTEGER NOT NULL, y INTEGER NOT NULL, w INTEGER NOT NULL, h INTEGER NOT NULL,
  erased_at  INTEGER NOT NULL
);
CREATE INDEX blocked_faces_hash ON blocked_faces(file_hash);
)SQL",
      // ---- version 4: where an imported face name came from (facecat-digikam import) --------------------------
      R"SQL(
-- One row per face and source that named it (or marked it unnamed): digiKam's database or an XMP region.
-- A second import of the same region finds its row and changes nothing.
CREATE TABLE face_sources (
  face_id     INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
  source      TEXT NOT NULL,           -- 'digikam-db' or 'xmp'
  ref         TEXT NOT NULL,           -- digikam4.db path and image id, or the sidecar/photo the region is in
  name        TEXT,                    -- the name the source gives; NULL for an unnamed (Unknown) region
  created     INTEGER NOT NULL DEFAULT 0,  -- 1: facecat had no face there; the import added it
  imported_at INTEGER NOT NULL,
  PRIMARY KEY (face_id, source)
);
)SQL",
  };
  return m;
}

}  // namespace facecat::catalog
