// Nearest-neighbour search over face descriptors (128 float32, Euclidean distance).
//
// Two indexes behind one interface:
//  - ExactIndex: a brute-force scan over one contiguous row-major float32 block (SIMD kernel, several threads for one
//    query; OpenBLAS sgemm for batches of queries). Always correct; fast enough up to a few million faces.
//  - FaissIndex: FAISS IVF-Flat for large catalogs, persisted beside the catalog and updated incrementally
//    (new faces are added, deleted faces removed; it is retrained only when the catalog has grown a lot).
// Descriptors of different models are never compared: a Matrix carries its model id and every query names one.
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.hpp"

namespace facecat::search {

inline constexpr int kDims = 128;
using Descriptor = std::array<float, kDims>;

struct Neighbor {
  int64_t id = -1;        // the face id (or whatever id the rows were added with)
  float distance = 0.0f;  // Euclidean, not squared
  size_t row = 0;         // the row in the Matrix the index was built from
};

// 128 little-endian float32 <-> Descriptor. A blob of another size is an error naming the size.
Result<Descriptor> decode_descriptor(std::string_view blob);
std::string encode_descriptor(const float* v);

// The descriptors of one model, contiguous (row i at data()+i*kDims), with an id per row.
class Matrix {
 public:
  explicit Matrix(std::string model_id = {}) : model_id_(std::move(model_id)) {}
  void reserve(size_t n) {
    data_.reserve(n * kDims);
    ids_.reserve(n);
  }
  void add(int64_t id, const float* v) {
    data_.insert(data_.end(), v, v + kDims);
    ids_.push_back(id);
  }
  size_t size() const { return ids_.size(); }
  bool empty() const { return ids_.empty(); }
  const float* row(size_t i) const { return data_.data() + i * kDims; }
  const float* data() const { return data_.data(); }
  int64_t id(size_t i) const { return ids_[i]; }
  const std::vector<int64_t>& ids() const { return ids_; }
  const std::string& model_id() const { return model_id_; }

 private:
  std::string model_id_;
  std::vector<float> data_;
  std::vector<int64_t> ids_;
};

inline constexpr float kNoLimit = std::numeric_limits<float>::infinity();

class Index {
 public:
  virtual ~Index() = default;
  // The k nearest rows to q (kDims floats), nearest first, only those with distance <= max_distance.
  virtual std::vector<Neighbor> knn(const float* q, int k, float max_distance = kNoLimit) const = 0;
  // The same for nq queries stored contiguously.
  virtual std::vector<std::vector<Neighbor>> knn_batch(const float* q, size_t nq, int k,
                                                       float max_distance = kNoLimit) const;
  virtual size_t size() const = 0;
  virtual std::string kind() const = 0;
  const std::string& model_id() const { return model_id_; }
  // Checks that a query's model is this index's model; the error says what to do.
  Result<void> check_model(const std::string& query_model) const;

 protected:
  std::string model_id_;
};

// Brute force over a Matrix that must outlive the index.
class ExactIndex : public Index {
 public:
  explicit ExactIndex(const Matrix& m);
  std::vector<Neighbor> knn(const float* q, int k, float max_distance = kNoLimit) const override;
  std::vector<std::vector<Neighbor>> knn_batch(const float* q, size_t nq, int k,
                                               float max_distance = kNoLimit) const override;
  size_t size() const override { return m_.size(); }
  std::string kind() const override { return "exact"; }

  // Which kernel the batch search uses (sgemm is the default; the scan kernel is kept for comparison).
  enum class BatchKernel { Sgemm, Scan };
  void set_batch_kernel(BatchKernel k) { batch_kernel_ = k; }
  void set_threads(int n) { threads_ = n; }  // 0 = TBB's default
  // Single queries against at least this many rows first scan a reduced int8 copy (the rows projected on their
  // kReduced principal axes: 64 bytes a row, an eighth of the float traffic) for lower bounds, then re-rank in
  // float every row those bounds cannot rule out: the result is still exact.
  void set_quantized_min(size_t n) { quantized_min_ = n; }
  static constexpr int kReduced = 64;
  static constexpr int kMinCandidates = 1024;  // rows re-ranked in float after the int8 scan (at least)
  // How many queries needed the second scan (the candidates did not prove the top k); for tests and the bench.
  size_t fallbacks() const { return fallbacks_.load(); }
  // The share of the variance the kReduced axes keep (after the first quantized query).
  float variance_kept() const { return pvar_kept_; }

 private:
  std::vector<Neighbor> knn_float(const float* q, int k, float max_distance) const;
  std::vector<Neighbor> knn_quantized(const float* q, int k, float max_distance) const;
  void build_quantized() const;
  const Matrix& m_;
  size_t quantized_min_ = 50000;
  mutable std::vector<int8_t> q8_;      // n × kReduced: round(P(x − mean) / qscale_)
  mutable std::vector<float> qerr_;     // per row: |P(x − mean) − qscale_·q8| (rounded up)
  mutable std::vector<double> pmean_;   // kDims
  mutable std::vector<float> pbasis_;   // kReduced × kDims, orthonormal rows (principal axes)
  mutable float qscale_ = 0;
  mutable float qerr_max_ = 0;
  mutable float pvar_kept_ = 0;
  mutable std::once_flag q_once_;
  mutable std::atomic<size_t> fallbacks_{0};
  std::vector<float> norms_;  // squared norms, for the sgemm path
  BatchKernel batch_kernel_ = BatchKernel::Sgemm;
  int threads_ = 0;
};

struct FaissOptions {
  std::filesystem::path file;  // where the index is persisted; empty: build in memory only
  int nprobe = 0;              // 0: chosen from nlist (see faiss.cpp)
  int nlist = 0;               // 0: chosen from the size
  size_t train_sample = 0;     // 0: 64 per list
  bool save = true;            // write the file back after an update
};

struct FaissStats {
  bool loaded = false;      // an existing file was used
  bool retrained = false;   // built from scratch
  size_t added = 0, removed = 0;
  int nlist = 0, nprobe = 0;
};

// FAISS IVF-Flat over a Matrix (L2). Keeps a pointer to nothing: the vectors are copied into the index.
class FaissIndex : public Index {
 public:
  // Loads opts.file if it exists and matches the model, brings it in step with m (adds missing ids, removes ids no
  // longer in m), retrains when m has outgrown the lists, and saves it back atomically.
  static Result<std::unique_ptr<FaissIndex>> open(const Matrix& m, const FaissOptions& opts, FaissStats* stats = nullptr);
  ~FaissIndex() override;
  std::vector<Neighbor> knn(const float* q, int k, float max_distance = kNoLimit) const override;
  std::vector<std::vector<Neighbor>> knn_batch(const float* q, size_t nq, int k,
                                               float max_distance = kNoLimit) const override;
  size_t size() const override;
  std::string kind() const override { return "faiss-ivf"; }
  void set_nprobe(int n);
  int nprobe() const;

 private:
  FaissIndex() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct EngineOptions {
  size_t faiss_min = 200000;         // use FAISS from this many descriptors on; 0 = never
  std::filesystem::path index_dir;   // where FAISS indexes are kept (beside the catalog); empty = in memory
  std::string index_stem = "catalog";
  int nprobe = 0;
};

// Picks the index for a matrix: exact below faiss_min, FAISS above. The matrix must outlive the result.
Result<std::unique_ptr<Index>> make_index(const Matrix& m, const EngineOptions& opts);

}  // namespace facecat::search
